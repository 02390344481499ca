"""The Temporal worker: every workflow and activity, on their task queues.

Activities are classes whose dependencies (database, adapters) are injected here, so tests can
run the same classes against their own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import Worker

from activities.adapters import ClinicAdapters
from activities.booking import BookingActivities
from activities.campaigns import CampaignActivities
from activities.ehr_sync import EhrSyncActivities, clinics_to_sync
from activities.eligibility import EligibilityActivities
from activities.housekeeping import HousekeepingActivities
from activities.messaging import MessagingActivities
from activities.outreach import OutreachActivities
from activities.reminders import ReminderActivities
from activities.retention import RetentionActivities
from activities.staff import StaffActivities
from activities.wrapup import WrapUpActivities
from core.db import Database
from core.settings import Settings
from core.temporal import connect
from integrations.registry import AdapterRegistry
from integrations.summaries.choice import CallSummaries
from workflows import queues
from workflows.booking import BookingWorkflow
from workflows.campaigns import CampaignRunWorkflow
from workflows.cancel import CancelWorkflow
from workflows.ehr_sync import EhrSyncWorkflow, sync_schedule, sync_schedule_id
from workflows.eligibility import EligibilityWorkflow
from workflows.housekeeping import EXPIRE_HOLDS_SCHEDULE_ID, ExpireHoldsWorkflow
from workflows.outreach import PatientOutreachWorkflow
from workflows.reminders import AppointmentReminderWorkflow
from workflows.retention import RETENTION_SCHEDULE_ID, RetentionPurgeWorkflow
from workflows.wrapup import CallWrapUpWorkflow

log = logging.getLogger("worker")


@dataclass(frozen=True)
class Registration:
    task_queue: str
    workflows: Sequence[type]
    activities: Sequence[Callable[..., Any]]


def registrations(
    db: Database, settings: Settings, registry: AdapterRegistry | None = None
) -> list[Registration]:
    """What runs on which task queue: the whole durable surface in one place."""
    adapters = ClinicAdapters(db, settings, registry)
    booking = BookingActivities(adapters)
    messaging = MessagingActivities(adapters)
    staff = StaffActivities(db)
    eligibility = EligibilityActivities(adapters)
    wrapup = WrapUpActivities(adapters, CallSummaries(settings))
    housekeeping = HousekeepingActivities(db)
    ehr_sync = EhrSyncActivities(adapters)
    retention = RetentionActivities(db, settings.data_dir)
    prefix = settings.task_queue_prefix
    outreach = OutreachActivities(adapters, messaging, settings)
    campaigns = CampaignActivities(db)
    reminders = ReminderActivities(db, prefix)
    return [
        Registration(
            queues.named(prefix, queues.INTERACTIVE),
            workflows=[BookingWorkflow, CancelWorkflow],
            # Local activities run in the workflow's own worker.
            activities=[booking.accept_booking, booking.accept_cancellation],
        ),
        Registration(
            queues.named(prefix, queues.SIDE_EFFECTS),
            workflows=[
                EligibilityWorkflow,
                CallWrapUpWorkflow,
                ExpireHoldsWorkflow,
                RetentionPurgeWorkflow,
                EhrSyncWorkflow,
            ],
            activities=[
                booking.commit_to_ehr,
                booking.fail_booking,
                booking.find_alternatives,
                booking.commit_cancellation,
                messaging.notify_patient,
                staff.open_staff_task,
                eligibility.check_eligibility,
                eligibility.record_eligibility,
                wrapup.persist_call,
                wrapup.summarize_call,
                wrapup.write_crm_note,
                housekeeping.expire_holds,
                ehr_sync.sync_ehr_schedule,
                retention.purge_expired,
                reminders.update_reminders,
            ],
        ),
        Registration(
            queues.named(prefix, queues.CAMPAIGNS),
            workflows=[AppointmentReminderWorkflow, CampaignRunWorkflow, PatientOutreachWorkflow],
            activities=[
                outreach.outreach_verdict,
                outreach.send_outreach_sms,
                outreach.handle_outreach_reply,
                outreach.update_outreach_target,
                outreach.place_outreach_call,
                outreach.leave_voicemail,
                outreach.finish_outreach_call,
                campaigns.prepare_campaign_run,
                campaigns.load_run_targets,
                campaigns.finish_campaign_run,
            ],
        ),
    ]


def build_workers(
    client: Client,
    db: Database,
    settings: Settings,
    registry: AdapterRegistry | None = None,
    **worker_options: Any,
) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=reg.task_queue,
            workflows=list(reg.workflows),
            activities=list(reg.activities),
            graceful_shutdown_timeout=timedelta(seconds=10),
            **worker_options,
        )
        for reg in registrations(db, settings, registry)
    ]


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the housekeeping schedules once; an existing schedule is left as operators set it."""
    housekeeping: list[tuple[str, Any, timedelta]] = [
        (EXPIRE_HOLDS_SCHEDULE_ID, ExpireHoldsWorkflow.run, timedelta(minutes=5)),
        (RETENTION_SCHEDULE_ID, RetentionPurgeWorkflow.run, timedelta(days=1)),
    ]
    for schedule_id, run, every in housekeeping:
        with contextlib.suppress(ScheduleAlreadyRunningError):
            await client.create_schedule(
                schedule_id,
                Schedule(
                    action=ScheduleActionStartWorkflow(
                        run,
                        id=schedule_id + "-run",
                        task_queue=queues.named(settings.task_queue_prefix, queues.SIDE_EFFECTS),
                    ),
                    spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                ),
            )


async def ensure_ehr_sync_schedules(client: Client, db: Database, settings: Settings) -> None:
    """A sync Schedule per clinic whose EHR can be pulled (workflows/ehr_sync.py); existing
    ones are left as operators set them."""
    task_queue = queues.named(settings.task_queue_prefix, queues.SIDE_EFFECTS)
    for clinic_id, ehr in await clinics_to_sync(ClinicAdapters(db, settings)):
        with contextlib.suppress(ScheduleAlreadyRunningError):
            await client.create_schedule(
                sync_schedule_id(clinic_id), sync_schedule(clinic_id, ehr.sync_interval, task_queue)
            )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    db = Database(settings.resolved_database_url)
    await db.ping()
    client = await connect(settings)
    await ensure_schedules(client, settings)
    await ensure_ehr_sync_schedules(client, db, settings)
    workers = build_workers(client, db, settings)
    log.info("worker started", extra={"task_queues": [w.task_queue for w in workers]})
    try:
        async with asyncio.TaskGroup() as group:
            for w in workers:
                group.create_task(w.run())
            await (stop or asyncio.Event()).wait()
            for w in workers:
                group.create_task(w.shutdown())
    finally:
        await db.dispose()
        log.info("worker stopped")
