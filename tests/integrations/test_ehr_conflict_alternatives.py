"""A time the EHR gave away becomes other times to offer; a booking the saga gave up on never
comes back as booked. Real Temporal, both databases, the real FHIR server and HL7 peer."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from activities.ehr_sync import SyncInput, SyncResult
from core.db import Database
from core.demo.seed import SeedReport
from core.messages import spoken_time
from core.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Clinic,
    OutboxMessage,
    Provider,
    StaffTask,
)
from core.scheduling import Slot, SlotQuery, find_slots
from core.scheduling.external import ORPHAN_TASK_KIND
from core.settings import Settings
from durable.booking import BookingRequest, Bookings
from integrations.ehr.fhir.adapter import FhirEhr
from integrations.registry import AdapterContext, AdapterRegistry
from tests.conftest import unavailable
from tests.integrations.hl7_support import Hl7Peer, running_peer
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import FhirCalendar, connect_clinic
from tests.support.booking import free_slots, seeded_patient
from tests.support.workers import running_worker
from workflows import queues
from workflows.contracts import BookingOutcome
from workflows.ehr_sync import EhrSyncWorkflow

WAIT = timedelta(seconds=10)
# "[provider <id>, <ISO start>]": what the staff task gives staff to rebook in one step.
OFFERED = re.compile(r"\[provider (\S+), (\S+)\]")


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


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Hl7Peer]:
    with running_peer(tmp_path) as peer:
        yield peer


def minutes(slot: Slot) -> int:
    return int((slot.ends_at - slot.starts_at).total_seconds() // 60)


async def run_booking(
    client: Client, db: Database, prefix: str, clinic_id: str, slot: Slot
) -> tuple[str, BookingOutcome]:
    """Book ``slot`` through the in-call entry point; returns (workflow id, outcome)."""
    patient = await seeded_patient(db)
    decision = await Bookings(client, db, task_queue_prefix=prefix).book(
        BookingRequest(
            clinic_id=clinic_id,
            request_id=uuid.uuid4().hex[:12],
            provider_id=slot.provider_id,
            appointment_type="cleaning",
            starts_at=slot.starts_at,
            patient_id=patient.id,
        ),
        answer_within=WAIT,
    )
    assert decision.status == "accepted" and decision.accepted is not None
    outcome = await client.get_workflow_handle(
        decision.workflow_id, result_type=BookingOutcome
    ).result()
    return decision.workflow_id, outcome


async def sync(client: Client, prefix: str, clinic_id: str) -> SyncResult:
    return await client.execute_workflow(
        EhrSyncWorkflow.run,
        SyncInput(clinic_id),
        id=f"ehr-sync-test-{uuid.uuid4().hex[:8]}",
        task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
    )


def overlaps(slot: Slot, provider_id: str, start: datetime, end: datetime) -> bool:
    return slot.provider_id == provider_id and slot.starts_at < end and slot.ends_at > start


async def told_and_tasked(
    db: Database, appointment_id: str
) -> tuple[OutboxMessage, StaffTask, list[tuple[str, datetime]]]:
    """The patient's SMS, the staff task and the (provider, start) pairs the task offers."""
    async with db.read() as session:
        [sms] = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.purpose == "booking_failed")
            )
        ).all()
        [task] = (
            await session.exec(
                select(StaffTask).where(
                    StaffTask.kind == "booking_failed", StaffTask.appointment_id == appointment_id
                )
            )
        ).all()
    offered = [(p, datetime.fromisoformat(at)) for p, at in OFFERED.findall(task.detail)]
    return sms, task, offered


async def assert_offered_truthfully(
    db: Database,
    clinic_id: str,
    sms: OutboxMessage,
    task: StaffTask,
    offered: list[tuple[str, datetime]],
) -> list[Slot]:
    """Every offered time is one ``find_slots`` returns now, and both texts name it the same way
    (spoken time and provider; never the visit type)."""
    async with db.read() as session:
        free = await find_slots(session, clinic_id, SlotQuery("cleaning", limit=2000))
        clinic = await session.get(Clinic, clinic_id)
        kind = (
            await session.exec(
                select(AppointmentType).where(
                    AppointmentType.clinic_id == clinic_id, AppointmentType.code == "cleaning"
                )
            )
        ).one()
        names = {
            p.id: p.name
            for p in (await session.exec(select(Provider).where(Provider.clinic_id == clinic_id)))
        }
    assert clinic is not None
    assert 1 <= len(offered) <= 3
    by_key = {(s.provider_id, s.starts_at): s for s in free}
    slots = [by_key[key] for key in offered]  # KeyError: offered a time that is not free
    for provider_id, starts_at in offered:
        phrase = f"{spoken_time(starts_at, clinic.time_zone)} with {names[provider_id]}"
        assert phrase in sms.body
        assert phrase in task.detail
    assert "Open times" in sms.body and "staff will call" in sms.body
    assert kind.name.lower() not in sms.body.lower()
    return slots


async def test_a_slot_taken_in_the_fhir_ehr_becomes_fresh_alternatives(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    """The front desk took the chosen time and the next one after it, both after our last sync.
    The saga gets "slot taken", pulls the EHR schedule again and offers the nearest times that
    are really free: not the chosen one, and not the one the front desk also took."""
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [taken] = await free_slots(db, demo.clinic_id)
    async with db.read() as session:
        same_provider = await find_slots(
            session,
            demo.clinic_id,
            SlotQuery("cleaning", provider_id=taken.provider_id, limit=200),
        )
    also_taken = next(s for s in same_provider if s.starts_at >= taken.ends_at)
    calendar = calendars[taken.provider_id]
    for slot in (taken, also_taken):
        calendar.slot(slot.starts_at, minutes=minutes(slot))
        calendar.book_elsewhere(slot.starts_at, minutes=minutes(slot))

    async with running_worker(temporal_client, db) as prefix:
        _, result = await run_booking(temporal_client, db, prefix, demo.clinic_id, taken)
    assert result.status == "failed" and result.reason == "slot_taken"
    assert result.accepted is not None

    sms, task, offered = await told_and_tasked(db, result.accepted.appointment_id)
    assert "slot_taken" in task.title
    print("SMS:", sms.body, "\nTASK:", task.title, "\n", task.detail, "\nTAKEN", taken, also_taken)
    slots = await assert_offered_truthfully(db, demo.clinic_id, sms, task, offered)
    assert slots[0].provider_id == taken.provider_id  # their provider first
    for slot in slots:
        for gone in (taken, also_taken):
            assert not overlaps(slot, gone.provider_id, gone.starts_at, gone.ends_at)
    async with db.read() as session:
        failed = await session.get(Appointment, result.accepted.appointment_id)
    assert failed is not None and failed.status == AppointmentStatus.FAILED
    assert spoken_time(taken.starts_at, taken.time_zone) in sms.body  # which time was taken


async def test_a_slot_taken_answer_from_the_hl7_peer_offers_other_times(
    db: Database, demo: SeedReport, temporal_client: Client, peer: Hl7Peer
) -> None:
    """HL7 cannot be pulled, so the local view is used; the refused time stays out of the offer
    even though, locally, it is free again after the compensation."""
    async with db.write() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.adapters = {**clinic.adapters, "ehr": {"name": "hl7", "settings": peer.settings()}}
        session.add(clinic)
    peer.script({"answer": "AE", "times": 10, "error": "SLOT_TAKEN"})
    [taken] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        _, result = await run_booking(temporal_client, db, prefix, demo.clinic_id, taken)
    assert result.status == "failed" and result.reason == "slot_taken"
    assert result.accepted is not None
    assert len(peer.received()) == 1  # refused once, never re-sent

    sms, task, offered = await told_and_tasked(db, result.accepted.appointment_id)
    slots = await assert_offered_truthfully(db, demo.clinic_id, sms, task, offered)
    assert len(slots) == 3 and slots[0].provider_id == taken.provider_id
    assert all(not overlaps(s, taken.provider_id, taken.starts_at, taken.ends_at) for s in slots)
    async with db.read() as session:
        free = await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=200))
    assert taken in free  # locally free again: left out only because the EHR refused it


async def test_a_booking_compensated_here_but_kept_by_the_ehr_is_not_revived(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    """The saga gave up (the EHR refused) and told the patient; then the write of an attempt
    whose answer was lost turns up in the EHR after all, carrying our appointment id. The sync
    must leave our appointment failed and hand the stray booking to staff, once."""
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    calendar: FhirCalendar = calendars[slot.provider_id]
    calendar.slot(slot.starts_at, minutes=minutes(slot))
    patient = await seeded_patient(db)
    twins = [
        server.create(
            {
                "resourceType": "Patient",
                "name": [{"family": patient.last_name, "given": [patient.first_name]}],
                "birthDate": patient.date_of_birth,
                "telecom": [{"system": "phone", "value": phone}],
            }
        )
        for phone in ("+15550000001", "+15550000002")
    ]
    async with running_worker(temporal_client, db) as prefix:
        workflow_id, result = await run_booking(temporal_client, db, prefix, demo.clinic_id, slot)
        assert result.status == "failed" and result.reason == "patient_ambiguous"
        assert result.accepted is not None
        appointment_id = result.accepted.appointment_id

        # The lost write lands: the chart is no longer ambiguous and the adapter books with the
        # saga's own booking key and our appointment id.
        server.update({**twins[1], "birthDate": "1901-01-01"})
        ehr = AdapterRegistry().create(
            "ehr",
            {"name": "fhir", "settings": {"base_url": server.base_url}},
            AdapterContext(db=db, settings=Settings()),
        )
        assert isinstance(ehr, FhirEhr)
        try:
            kept = await ehr.book(
                calendar.booking(
                    slot.starts_at,
                    minutes(slot),
                    key=f"{workflow_id}/ehr",
                    appointment_id=appointment_id,
                )
            )
        finally:
            await ehr.aclose()
        assert kept.status == "booked"

        first = await sync(temporal_client, prefix, demo.clinic_id)
        second = await sync(temporal_client, prefix, demo.clinic_id)
    assert first.actions.get("orphaned") == 1 and second.actions.get("orphaned") == 1
    assert "created" not in first.actions  # no second local appointment for the same booking
    async with db.read() as session:
        ours = await session.get(Appointment, appointment_id)
        booked_there = (
            await session.exec(
                select(Appointment).where(
                    Appointment.provider_id == slot.provider_id,
                    Appointment.starts_at == slot.starts_at,
                    col(Appointment.status).in_([AppointmentStatus.BOOKED]),
                )
            )
        ).all()
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == ORPHAN_TASK_KIND))
        ).all()
    assert ours is not None and ours.status == AppointmentStatus.FAILED
    assert booked_there == []
    assert [t.appointment_id for t in tasks] == [appointment_id]
    assert kept.external_id in tasks[0].detail
    assert server.read(f"Appointment/{kept.external_id}")["status"] == "booked"  # staff decide
