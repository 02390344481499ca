"""The booking saga on the real Temporal dev server, booking into an HL7 peer process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus, Clinic, StaffTask
from core.scheduling import SlotQuery, find_slots
from durable.booking import BookingRequest, Bookings
from tests.integrations.hl7_support import Hl7Peer, running_peer
from tests.support.booking import free_slots, seeded_patient
from tests.support.workers import running_worker
from workflows.contracts import BookingOutcome

WAIT = timedelta(seconds=10)


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Hl7Peer]:
    with running_peer(tmp_path) as peer:
        yield peer


async def use_hl7(db: Database, clinic_id: str, peer: Hl7Peer) -> None:
    async with db.write() as session:
        clinic = await session.get(Clinic, clinic_id)
        assert clinic is not None
        clinic.adapters = {**clinic.adapters, "ehr": {"name": "hl7", "settings": peer.settings()}}
        session.add(clinic)


async def book(
    client: Client, db: Database, demo: SeedReport, prefix: str
) -> tuple[str, BookingOutcome]:
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    bookings = Bookings(client, db, task_queue_prefix=prefix)
    decision = await bookings.book(
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
    assert decision.status == "accepted" and decision.accepted is not None
    result = await client.get_workflow_handle(
        decision.workflow_id, result_type=BookingOutcome
    ).result()
    return decision.accepted.appointment_id, result


async def test_saga_books_into_the_hl7_peer(
    db: Database, demo: SeedReport, temporal_client: Client, peer: Hl7Peer
) -> None:
    await use_hl7(db, demo.clinic_id, peer)
    async with running_worker(temporal_client, db) as prefix:
        appointment_id, result = await book(temporal_client, db, demo, prefix)
    assert result.status == "booked" and result.external_id == appointment_id
    [message] = peer.received()
    assert (message["event"], message["placer"], message["answer"]) == ("S12", appointment_id, "AA")
    assert peer.appointments()[appointment_id]["status"] == "booked"
    async with db.read() as session:
        stored = await session.get(Appointment, appointment_id)
    assert stored is not None and stored.status == AppointmentStatus.BOOKED
    assert stored.external_ehr_id == appointment_id


async def test_application_error_compensates_with_a_staff_task_and_no_resend(
    db: Database, demo: SeedReport, temporal_client: Client, peer: Hl7Peer
) -> None:
    await use_hl7(db, demo.clinic_id, peer)
    peer.script({"answer": "AE", "times": 10, "error": "PATIENT_BLOCKED"})
    async with running_worker(temporal_client, db) as prefix:
        appointment_id, result = await book(temporal_client, db, demo, prefix)
    assert result.status == "failed" and result.reason == "hl7_PATIENT_BLOCKED"
    assert len(peer.received()) == 1  # refused once, never re-sent
    async with db.read() as session:
        failed = await session.get(Appointment, appointment_id)
        tasks = (await session.exec(select(StaffTask))).all()
        available = await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=200))
    assert failed is not None and failed.status == AppointmentStatus.FAILED
    assert [t.appointment_id for t in tasks if t.kind == "booking_failed"] == [appointment_id]
    assert any(s.starts_at == failed.starts_at for s in available)  # the time went back


async def test_rejects_are_retried_until_accepted(
    db: Database, demo: SeedReport, temporal_client: Client, peer: Hl7Peer
) -> None:
    await use_hl7(db, demo.clinic_id, peer)
    peer.script({"answer": "AR", "times": 2})
    async with running_worker(temporal_client, db) as prefix:
        _, result = await book(temporal_client, db, demo, prefix)
    assert result.status == "booked"
    received = peer.received()
    assert [e["answer"] for e in received] == ["AR", "AR", "AA"]
    assert len({e["control_id"] for e in received}) == 1
