"""The booking saga with the FHIR adapter: real Temporal, both databases, the real FHIR server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import Client

from activities.ehr_sync import SyncInput
from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus, OutboxMessage, StaffTask
from core.scheduling import Slot, SlotQuery, find_slots
from durable import ids
from durable.booking import BookingRequest, Bookings
from tests.conftest import unavailable
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import connect_clinic
from tests.support.booking import free_slots, seeded_patient
from tests.support.workers import running_worker
from workflows import queues
from workflows.contracts import BookingOutcome, CancelInput, CancelOutcome
from workflows.ehr_sync import EhrSyncWorkflow

WAIT = timedelta(seconds=10)


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


def minutes(slot: Slot) -> int:
    return int((slot.ends_at - slot.starts_at).total_seconds() // 60)


async def book(client: Client, db: Database, prefix: str, demo: SeedReport, slot: Slot) -> str:
    patient = await seeded_patient(db)
    decision = await Bookings(client, db, task_queue_prefix=prefix).book(
        BookingRequest(
            clinic_id=demo.clinic_id,
            request_id=uuid.uuid4().hex[:12],
            provider_id=slot.provider_id,
            appointment_type="cleaning",
            starts_at=slot.starts_at,
            patient_id=patient.id,
        ),
        answer_within=WAIT,
    )
    assert decision.status == "accepted"  # the caller heard "booked" before the EHR answered
    assert decision.accepted is not None
    return decision.workflow_id


async def test_booking_is_written_to_the_ehr_and_read_back(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    fhir_slot = calendars[slot.provider_id].slot(slot.starts_at, minutes=minutes(slot))
    async with running_worker(temporal_client, db) as prefix:
        workflow_id = await book(temporal_client, db, prefix, demo, slot)
        result = await temporal_client.get_workflow_handle(
            workflow_id, result_type=BookingOutcome
        ).result()
    assert result.status == "booked"
    assert result.accepted is not None and result.external_id
    stored = server.read(f"Appointment/{result.external_id}")
    assert stored["status"] == "booked"
    assert server.read(f"Slot/{fhir_slot['id']}")["status"] == "busy"
    async with db.read() as session:
        local = await session.get(Appointment, result.accepted.appointment_id)
    assert local is not None
    assert (local.status, local.external_ehr_id) == (AppointmentStatus.BOOKED, stored["id"])


async def test_slot_taken_in_the_ehr_meanwhile_compensates_and_the_sync_hides_it(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    """The front desk books the time in the EHR after our last sync: the saga gets a
    non-retryable slot conflict, pulls the schedule from the EHR (so the time leaves what callers
    are offered at once), gives the time back, tells the patient with the open times nearby and
    opens a staff task; a later sync finds nothing new."""
    calendars = await connect_clinic(db, demo.clinic_id, server)
    taken, alternative = await free_slots(db, demo.clinic_id, count=2)
    calendar = calendars[taken.provider_id]
    calendar.slot(taken.starts_at, minutes=minutes(taken))
    calendar.book_elsewhere(taken.starts_at, minutes=minutes(taken))
    async with running_worker(temporal_client, db) as prefix:
        workflow_id = await book(temporal_client, db, prefix, demo, taken)
        result = await temporal_client.get_workflow_handle(
            workflow_id, result_type=BookingOutcome
        ).result()
        assert result.status == "failed" and result.reason == "slot_taken"
        assert len(server.search("Appointment")) == 1  # only the front desk's

        synced = await temporal_client.execute_workflow(
            EhrSyncWorkflow.run,
            SyncInput(demo.clinic_id),
            id=f"ehr-sync-test-{uuid.uuid4().hex[:8]}",
            task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
        )
    assert synced.actions == {"unchanged": 1}  # the saga's own refresh brought it in
    assert result.accepted is not None
    async with db.read() as session:
        failed = await session.get(Appointment, result.accepted.appointment_id)
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == "booking_failed"))
        ).all()
        told = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.purpose == "booking_failed")
            )
        ).all()
        offered = await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=200))
    assert failed is not None and failed.status == AppointmentStatus.FAILED
    assert len(tasks) == 1 and "slot_taken" in tasks[0].title
    assert len(told) == 1
    assert "Open times offered" in (tasks[0].detail or "")
    assert taken not in offered
    assert alternative in offered


async def test_reschedule_then_cancel_reach_the_ehr(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    calendars = await connect_clinic(db, demo.clinic_id, server)
    first, second = await free_slots(db, demo.clinic_id, count=2)
    old_slot = calendars[first.provider_id].slot(first.starts_at, minutes=minutes(first))
    new_slot = calendars[second.provider_id].slot(second.starts_at, minutes=minutes(second))
    patient = await seeded_patient(db)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        booked = await temporal_client.get_workflow_handle(
            await book(temporal_client, db, prefix, demo, first), result_type=BookingOutcome
        ).result()
        assert booked.accepted is not None
        moved_decision = await bookings.book(
            BookingRequest(
                clinic_id=demo.clinic_id,
                request_id=uuid.uuid4().hex[:12],
                provider_id=second.provider_id,
                appointment_type="cleaning",
                starts_at=second.starts_at,
                patient_id=patient.id,
                reschedule_of=booked.accepted.appointment_id,
            ),
            answer_within=WAIT,
        )
        moved = await temporal_client.get_workflow_handle(
            moved_decision.workflow_id, result_type=BookingOutcome
        ).result()
        assert moved.status == "booked" and moved.accepted is not None and moved.external_id
        assert server.read(f"Appointment/{booked.external_id}")["status"] == "cancelled"
        assert server.read(f"Slot/{old_slot['id']}")["status"] == "free"
        assert server.read(f"Slot/{new_slot['id']}")["status"] == "busy"

        request = CancelInput(demo.clinic_id, moved.accepted.appointment_id, "patient request")
        status, _, _ = await bookings.cancel(request, answer_within=WAIT)
        assert status == "accepted"
        cancelled = await temporal_client.get_workflow_handle(
            ids.cancellation(demo.clinic_id, moved.accepted.appointment_id),
            result_type=CancelOutcome,
        ).result()
    assert cancelled.status == "cancelled"
    stored = server.read(f"Appointment/{moved.external_id}")
    assert stored["status"] == "cancelled"
    assert stored["cancelationReason"] == {"text": "patient request"}
    assert server.read(f"Slot/{new_slot['id']}")["status"] == "free"


async def test_an_ehr_refusal_becomes_a_staff_task(
    db: Database, demo: SeedReport, server: FhirServer, temporal_client: Client
) -> None:
    """Two charts in the EHR match the caller and the phone cannot tell them apart: the adapter
    refuses to guess, the saga compensates and staff get a task naming the reason."""
    calendars = await connect_clinic(db, demo.clinic_id, server)
    [slot] = await free_slots(db, demo.clinic_id)
    calendars[slot.provider_id].slot(slot.starts_at, minutes=minutes(slot))
    patient = await seeded_patient(db)
    for phone in ("+15550000001", "+15550000002"):
        server.create(
            {
                "resourceType": "Patient",
                "name": [{"family": patient.last_name, "given": [patient.first_name]}],
                "birthDate": patient.date_of_birth,
                "telecom": [{"system": "phone", "value": phone}],
            }
        )
    async with running_worker(temporal_client, db) as prefix:
        workflow_id = await book(temporal_client, db, prefix, demo, slot)
        result = await temporal_client.get_workflow_handle(
            workflow_id, result_type=BookingOutcome
        ).result()
    assert result.status == "failed" and result.reason == "patient_ambiguous"
    assert server.search("Appointment") == []
    async with db.read() as session:
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == "booking_failed"))
        ).all()
    assert len(tasks) == 1 and "patient_ambiguous" in tasks[0].title
