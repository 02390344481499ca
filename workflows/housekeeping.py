"""Periodic upkeep of the local schedule, started by a Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.housekeeping import HousekeepingActivities

EXPIRE_HOLDS_SCHEDULE_ID = "housekeeping-expire-holds"


@workflow.defn
class ExpireHoldsWorkflow:
    """Releases slot holds whose callers never confirmed."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity_method(
            HousekeepingActivities.expire_holds,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
