"""Keeping the local schedule in step with a clinic's EHR, every few minutes and on demand.

A Temporal Schedule per clinic whose EHR adapter is a ``ScheduleSource`` starts
``EhrSyncWorkflow`` every ``sync_interval`` (overlaps skipped: a slow EHR never piles up runs);
``receptionist ehr-sync <clinic>`` runs one now. In-call availability then stays a local,
sub-second read; a conflict that slips between two syncs is caught by the booking saga.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.ehr_sync import EhrSyncActivities, SyncInput, SyncResult


def sync_schedule_id(clinic_id: str) -> str:
    return f"ehr-sync-{clinic_id}"


def sync_now_id(clinic_id: str) -> str:
    """The workflow id of an on-demand run (one at a time per clinic)."""
    return f"ehr-sync-{clinic_id}-now"


def sync_schedule(clinic_id: str, every: timedelta, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            EhrSyncWorkflow.run,
            SyncInput(clinic_id),
            id=f"{sync_schedule_id(clinic_id)}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


@workflow.defn
class EhrSyncWorkflow:
    """One pull of the clinic's EHR schedule into the local store."""

    @workflow.run
    async def run(self, request: SyncInput) -> SyncResult:
        # A few quick retries only: the next scheduled run is minutes away anyway.
        return await workflow.execute_activity_method(
            EhrSyncActivities.sync_ehr_schedule,
            request,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=2),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=4,
            ),
        )
