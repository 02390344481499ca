"""The worker's registrations run for real: the hold-expiry housekeeping workflow."""

from datetime import timedelta

from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import HoldStatus, SlotHold
from core.scheduling import HoldRequest, SlotQuery, find_slots, hold_slot
from core.settings import Settings
from tests.conftest import DEMO_NOW
from tests.support.workers import running_worker
from worker import build_workers, ensure_schedules
from workflows import queues
from workflows.housekeeping import EXPIRE_HOLDS_SCHEDULE_ID, ExpireHoldsWorkflow


async def test_expire_holds_workflow_releases_lapsed_hold(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with db.read() as session:
        slot = (await find_slots(session, demo.clinic_id, SlotQuery("cleaning"), now=DEMO_NOW))[0]
    lapsed = await hold_slot(
        db, HoldRequest(demo.clinic_id, slot.provider_id, "cleaning", slot.starts_at, "CA1"),
        now=DEMO_NOW - timedelta(hours=1),
    )  # fmt: skip
    async with running_worker(temporal_client, db) as prefix:
        released = await temporal_client.execute_workflow(
            ExpireHoldsWorkflow.run,
            id=f"expire-{prefix}",
            task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
        )
    assert released >= 1
    async with db.read() as session:
        assert (await session.get(SlotHold, lapsed.id)).status == HoldStatus.RELEASED


async def test_worker_covers_every_task_queue_it_declares_and_schedules_once(
    sqlite_url: str, temporal_client: Client
) -> None:
    db = Database(sqlite_url)
    try:
        workers = build_workers(temporal_client, db, Settings())
        assert {w.task_queue for w in workers} <= set(queues.ALL)
        await ensure_schedules(temporal_client, Settings())
        await ensure_schedules(temporal_client, Settings())  # idempotent
        description = await temporal_client.get_schedule_handle(EXPIRE_HOLDS_SCHEDULE_ID).describe()
        assert description.schedule.spec.intervals[0].every == timedelta(minutes=5)
    finally:
        await db.dispose()
