"""The EHR schedule sync (workflows/ehr_sync.py) against the real FHIR server, real Temporal and
both databases: time given away in the EHR disappears from ``find_slots``."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import Client, ScheduleIntervalSpec

from activities.ehr_sync import SyncInput, SyncResult
from cli import cmd_ehr_sync
from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentSource, AppointmentStatus, Clinic, StaffTask
from core.scheduling import Slot, SlotQuery, find_slots
from core.settings import Settings
from stack.devserver import DevServer
from tests.conftest import unavailable
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import FhirCalendar, connect_clinic
from tests.support.booking import free_slots
from tests.support.workers import running_worker
from worker import ensure_ehr_sync_schedules
from workflows import queues
from workflows.ehr_sync import EhrSyncWorkflow, sync_schedule_id


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[FhirServer]:
    problem = node_ready()
    if problem:
        unavailable(problem)
    with running() as server:
        yield server


@pytest.fixture
def server(fhir_server: FhirServer) -> FhirServer:
    fhir_server.reset()
    return fhir_server


async def offered(db: Database, clinic_id: str) -> list[Slot]:
    async with db.read() as session:
        return await find_slots(session, clinic_id, SlotQuery("cleaning", limit=200))


async def sync(client: Client, prefix: str, clinic_id: str) -> SyncResult:
    return await client.execute_workflow(
        EhrSyncWorkflow.run,
        SyncInput(clinic_id),
        id=f"ehr-sync-test-{uuid.uuid4().hex[:8]}",
        task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
    )


def calendar_of(calendars: dict[str, FhirCalendar], slot: Slot) -> FhirCalendar:
    return calendars[slot.provider_id]


async def test_time_booked_in_the_ehr_disappears_and_comes_back_when_cancelled(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    minutes = int((slot.ends_at - slot.starts_at).total_seconds() // 60)
    calendar = calendar_of(calendars, slot)
    calendar.slot(slot.starts_at, minutes=minutes)
    desk = calendar.book_elsewhere(slot.starts_at, minutes=minutes)
    assert slot in await offered(db, demo.clinic_id)  # not synced yet

    async with running_worker(temporal_client, db) as prefix:
        first = await sync(temporal_client, prefix, demo.clinic_id)
        assert first.actions.get("created") == 1 and first.conflicts == 0
        assert slot not in await offered(db, demo.clinic_id)
        async with db.read() as session:
            mirrored = (
                await session.exec(
                    select(Appointment).where(Appointment.external_ehr_id == desk["id"])
                )
            ).one()
        assert mirrored.source == AppointmentSource.EHR_SYNC
        assert mirrored.external_system == "fhir"

        again = await sync(temporal_client, prefix, demo.clinic_id)
        assert again.actions == {"unchanged": 1}

        server.update({**server.read(f"Appointment/{desk['id']}"), "status": "cancelled"})
        after_cancel = await sync(temporal_client, prefix, demo.clinic_id)
        assert after_cancel.actions == {"cancelled": 1}
    assert slot in await offered(db, demo.clinic_id)


async def test_blocked_time_without_an_appointment_is_mirrored_and_released(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    calendar = calendar_of(calendars, slot)
    blocked = calendar.slot(slot.starts_at, minutes=60, status="busy-unavailable")
    async with running_worker(temporal_client, db) as prefix:
        await sync(temporal_client, prefix, demo.clinic_id)
        assert slot not in await offered(db, demo.clinic_id)
        server.update({**blocked, "status": "free"})
        released = await sync(temporal_client, prefix, demo.clinic_id)
    assert released.actions == {"removed": 1}
    assert slot in await offered(db, demo.clinic_id)


async def test_our_own_booking_pulled_back_is_not_a_double_booking(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    from durable.booking import BookingRequest, Bookings
    from tests.support.booking import seeded_patient

    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    minutes = int((slot.ends_at - slot.starts_at).total_seconds() // 60)
    calendar_of(calendars, slot).slot(slot.starts_at, minutes=minutes)
    patient = await seeded_patient(db)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            BookingRequest(
                clinic_id=demo.clinic_id,
                request_id=uuid.uuid4().hex[:12],
                provider_id=slot.provider_id,
                appointment_type="cleaning",
                starts_at=slot.starts_at,
                patient_id=patient.id,
            ),
            answer_within=timedelta(seconds=10),
        )
        await temporal_client.get_workflow_handle(decision.workflow_id).result()
        result = await sync(temporal_client, prefix, demo.clinic_id)
    assert result.actions == {"unchanged": 1} and result.conflicts == 0
    async with db.read() as session:
        appointments = (
            await session.exec(select(Appointment).where(Appointment.clinic_id == demo.clinic_id))
        ).all()
        tasks = (await session.exec(select(StaffTask))).all()
    assert [a.status for a in appointments if a.starts_at == slot.starts_at] == [
        AppointmentStatus.BOOKED
    ]
    assert tasks == []


async def test_a_failing_ehr_fails_the_sync_visibly_with_one_staff_task(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    await connect_clinic(db, demo.clinic_id, server)
    async with db.write() as session:  # the EHR moved and nobody told us: every search 404s
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.adapters = {**clinic.adapters, "ehr": {"name": "fhir", "settings": {
            "base_url": server.root_url + "/moved"}}}  # fmt: skip
        session.add(clinic)
    async with running_worker(temporal_client, db) as prefix:
        for _ in range(2):
            with pytest.raises(Exception, match="failed"):
                await sync(temporal_client, prefix, demo.clinic_id)
    async with db.read() as session:
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == "ehr_sync_failed"))
        ).all()
    assert len(tasks) == 1
    assert "not_found" in tasks[0].title


async def test_a_schedule_per_clinic_with_a_pullable_ehr(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    settings = Settings(task_queue_prefix=f"t{uuid.uuid4().hex[:8]}-")
    await ensure_ehr_sync_schedules(temporal_client, db, settings)
    schedule = temporal_client.get_schedule_handle(sync_schedule_id(demo.clinic_id))
    with pytest.raises(Exception, match="not found"):
        await schedule.describe()  # the demo clinic's EHR is the local schedule

    await connect_clinic(db, demo.clinic_id, server, base_url="ftp://misconfigured")
    await ensure_ehr_sync_schedules(temporal_client, db, settings)  # logged, not raised
    with pytest.raises(Exception, match="not found"):
        await schedule.describe()

    await connect_clinic(db, demo.clinic_id, server, sync_every_minutes=3)
    await ensure_ehr_sync_schedules(temporal_client, db, settings)
    await ensure_ehr_sync_schedules(temporal_client, db, settings)  # idempotent
    described = await schedule.describe()
    try:
        [interval] = described.schedule.spec.intervals
        assert interval == ScheduleIntervalSpec(every=timedelta(minutes=3))
        action = described.schedule.action
        assert getattr(action, "task_queue", None) == queues.named(
            settings.task_queue_prefix, queues.SIDE_EFFECTS
        )
    finally:
        await schedule.delete()


async def test_sync_on_demand_from_the_command_line(
    db: Database,
    database_url: str,
    demo: SeedReport,
    server: FhirServer,
    temporal_client: Client,
    temporal_server: DevServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    calendar = calendar_of(calendars, slot)
    calendar.slot(slot.starts_at, minutes=60, status="busy-unavailable")
    async with db.read() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
    assert clinic is not None
    async with running_worker(temporal_client, db) as prefix:
        settings = Settings(
            database_url=database_url,
            temporal_address=temporal_server.address,
            task_queue_prefix=prefix,
        )
        await asyncio.to_thread(cmd_ehr_sync, settings, argparse.Namespace(clinic=clinic.slug))
    printed = json.loads(capsys.readouterr().out)
    assert printed["pulled"] == 1 and printed["created"] == 1
    assert slot not in await offered(db, demo.clinic_id)
