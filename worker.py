"""The Temporal worker: every workflow and activity, on their task queues.

Activities are classes whose dependencies (database, adapters) are injected here, so tests can
run the same classes against their own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

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

from activities.housekeeping import HousekeepingActivities
from core.db import Database
from core.settings import Settings
from core.temporal import connect
from workflows import queues
from workflows.housekeeping import EXPIRE_HOLDS_SCHEDULE_ID, ExpireHoldsWorkflow

log = logging.getLogger("worker")


@dataclass(frozen=True)
class Registration:
    task_queue: str
    workflows: Sequence[type]
    activities: Sequence[object]


def registrations(db: Database) -> list[Registration]:
    """What runs on which task queue. One place to read the whole durable surface."""
    housekeeping = HousekeepingActivities(db)
    return [
        Registration(
            queues.SIDE_EFFECTS,
            workflows=[ExpireHoldsWorkflow],
            activities=[housekeeping.expire_holds],
        ),
    ]


def build_workers(client: Client, db: Database, **worker_options: object) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=reg.task_queue,
            workflows=list(reg.workflows),
            activities=list(reg.activities),  # type: ignore[arg-type]
            graceful_shutdown_timeout=timedelta(seconds=10),
            **worker_options,  # type: ignore[arg-type]
        )
        for reg in registrations(db)
    ]


async def ensure_schedules(client: Client) -> None:
    """Create the housekeeping schedules once; an existing schedule is left as operators set it."""
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(
            EXPIRE_HOLDS_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ExpireHoldsWorkflow.run,
                    id=EXPIRE_HOLDS_SCHEDULE_ID + "-run",
                    task_queue=queues.SIDE_EFFECTS,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=5))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    db = Database(settings.resolved_database_url)
    await db.ping()
    client = await connect(settings)
    await ensure_schedules(client)
    workers = build_workers(client, db)
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
