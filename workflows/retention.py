"""The daily retention purge, started by a Temporal Schedule (see ``worker.ensure_schedules``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import PurgeInput, PurgeReport, RetentionActivities

RETENTION_SCHEDULE_ID = "housekeeping-retention-purge"


@workflow.defn
class RetentionPurgeWorkflow:
    """Deletes recordings and transcripts past each clinic's retention periods."""

    @workflow.run
    async def run(self) -> PurgeReport:
        return await workflow.execute_activity_method(
            RetentionActivities.purge_expired,
            PurgeInput(now=workflow.now()),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=5)
            ),
        )
