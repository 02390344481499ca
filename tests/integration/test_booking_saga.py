"""The booking, rescheduling and cancellation sagas on the real dev server and both databases."""

import asyncio
import uuid
from datetime import timedelta

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentStatus,
    OutboxMessage,
    OutboxStatus,
    Patient,
    StaffTask,
)
from core.scheduling import SlotQuery, find_slots
from core.security.crypto import blind_index
from durable import ids
from durable.booking import BookingRequest, Bookings
from integrations.registry import AdapterRegistry
from tests.fakes.adapters import FlakyEhr, FlakySms, RefusingEhr
from tests.support.booking import free_slots, seeded_patient, use_adapter
from tests.support.workers import running_worker
from workflows.contracts import BookingOutcome, CancelInput, CancelOutcome, PatientDetails

WAIT = timedelta(seconds=10)


def request_for(demo: SeedReport, slot, code: str = "cleaning", **kwargs) -> BookingRequest:
    return BookingRequest(
        clinic_id=demo.clinic_id,
        request_id=kwargs.pop("request_id", uuid.uuid4().hex[:12]),
        provider_id=slot.provider_id,
        appointment_type=code,
        starts_at=slot.starts_at,
        **kwargs,
    )


async def outcome(client: Client, workflow_id: str) -> BookingOutcome:
    return await client.get_workflow_handle(workflow_id, result_type=BookingOutcome).result()


async def outbox(db: Database, **where) -> list[OutboxMessage]:
    async with db.read() as session:
        query = select(OutboxMessage)
        for field, value in where.items():
            query = query.where(getattr(OutboxMessage, field) == value)
        return list((await session.exec(query)).all())


async def appointment(db: Database, appointment_id: str) -> Appointment:
    async with db.read() as session:
        found = await session.get(Appointment, appointment_id)
    assert found is not None
    return found


async def test_booking_is_accepted_then_written_and_confirmed(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        assert decision.status == "accepted"
        assert decision.accepted is not None
        assert decision.accepted.provider_name == "Jenna Lee"
        assert decision.accepted.starts_at == slot.starts_at
        result = await outcome(temporal_client, decision.workflow_id)
    assert result.status == "booked"
    booked = await appointment(db, decision.accepted.appointment_id)
    assert booked.status == AppointmentStatus.BOOKED
    assert booked.external_ehr_id == f"local-{booked.id}" == result.external_id
    assert booked.idempotency_key == decision.workflow_id
    [sms] = await outbox(db, purpose="confirmation")
    assert (
        sms.channel == "sms" and sms.recipient == patient.phone and sms.status == OutboxStatus.SENT
    )
    assert "Jenna Lee" in sms.body and "Bright Smile Dental" in sms.body
    assert sms.idempotency_key == f"{decision.workflow_id}/confirmation"
    async with db.read() as session:
        again = await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=20))
    assert slot not in again


async def test_new_patient_is_created_once(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    slots = await free_slots(db, demo.clinic_id, "new-patient-exam", count=2)
    details = PatientDetails("Dana", "Whitfield", "1990-04-12", phone="+12075550190")
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        first = await bookings.book(
            request_for(demo, slots[0], "new-patient-exam", new_patient=details), answer_within=WAIT
        )
        second = await bookings.book(
            request_for(
                demo,
                slots[1],
                "new-patient-exam",
                new_patient=PatientDetails("dana", "WHITFIELD", "1990-04-12"),
            ),
            answer_within=WAIT,
        )
        await outcome(temporal_client, first.workflow_id)
        await outcome(temporal_client, second.workflow_id)
    assert first.accepted and second.accepted
    assert first.accepted.patient_id == second.accepted.patient_id
    async with db.read() as session:
        dana = (
            await session.exec(
                select(Patient).where(Patient.last_name_index == blind_index("name", "Whitfield"))
            )
        ).all()
    assert len(dana) == 1 and dana[0].phone == "+12075550190"


async def test_same_request_twice_is_one_workflow_and_one_appointment(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    request = request_for(demo, slot, patient_id=patient.id, request_id="CA123-tool-1")
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        concurrent = await asyncio.gather(
            *(bookings.book(request, answer_within=WAIT) for _ in range(3))
        )
        await outcome(temporal_client, concurrent[0].workflow_id)
        after_completion = await bookings.book(request, answer_within=WAIT)
    decisions = [*concurrent, after_completion]
    assert {d.status for d in decisions} == {"accepted"}
    assert {d.workflow_id for d in decisions} == {ids.booking(demo.clinic_id, "CA123-tool-1")}
    assert len({d.accepted.appointment_id for d in decisions if d.accepted}) == 1
    async with db.read() as session:
        mine = (
            await session.exec(select(Appointment).where(Appointment.patient_id == patient.id))
        ).all()
    assert len([a for a in mine if a.starts_at == slot.starts_at]) == 1
    assert len(await outbox(db, purpose="confirmation")) == 1


async def test_taken_slot_is_rejected_without_a_workflow(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    other = await seeded_patient(db, "Kim")
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        first = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        second = await bookings.book(
            request_for(demo, slot, patient_id=other.id), answer_within=WAIT
        )
    assert first.status == "accepted"
    assert second.status == "rejected" and second.reason == "slot_taken"


async def test_permanent_ehr_failure_is_compensated(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    registry = AdapterRegistry()
    registry.register("ehr", "refusing", RefusingEhr)
    await use_adapter(db, demo.clinic_id, "ehr", "refusing")
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db, registry) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        assert decision.status == "accepted"  # the caller heard "booked" before the EHR refused
        result = await outcome(temporal_client, decision.workflow_id)
    assert result.status == "failed" and result.reason == "http_422"
    failed = await appointment(db, decision.accepted.appointment_id)
    assert failed.status == AppointmentStatus.FAILED
    async with db.read() as session:
        assert slot in await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=20))
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == "booking_failed"))
        ).all()
    assert len(tasks) == 1 and tasks[0].appointment_id == failed.id
    [sms] = await outbox(db, purpose="booking_failed")
    assert "staff will call" in sms.body
    assert await outbox(db, purpose="confirmation") == []


async def test_transient_ehr_errors_are_retried(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    flaky: list[FlakyEhr] = []

    def make(settings, context):
        flaky.append(FlakyEhr(settings, context))
        return flaky[-1]

    registry = AdapterRegistry()
    registry.register("ehr", "flaky", make)
    await use_adapter(db, demo.clinic_id, "ehr", "flaky")
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db, registry) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        result = await outcome(temporal_client, decision.workflow_id)
    assert result.status == "booked"
    assert list(flaky[0].attempts.values()) == [3]


async def test_sms_failing_twice_sends_exactly_one_message(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    gateway = FlakySms(failures=2)
    registry = AdapterRegistry()
    registry.register("sms", "flaky", gateway.factory())
    await use_adapter(db, demo.clinic_id, "sms", "flaky")
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db, registry) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        assert (await outcome(temporal_client, decision.workflow_id)).status == "booked"
    assert gateway.calls == 3
    assert len(gateway.delivered) == 1 and gateway.delivered[0].recipient == patient.phone
    [row] = await outbox(db, purpose="confirmation")
    assert row.status == OutboxStatus.SENT and row.provider_message_id == "SM" + "1".zfill(32)


async def test_reschedule_moves_and_frees_the_old_time(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    first_slot, second_slot = await free_slots(db, demo.clinic_id, count=2)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        original = await bookings.book(
            request_for(demo, first_slot, patient_id=patient.id), answer_within=WAIT
        )
        await outcome(temporal_client, original.workflow_id)
        moved = await bookings.book(
            request_for(
                demo,
                second_slot,
                patient_id=patient.id,
                reschedule_of=original.accepted.appointment_id,
            ),
            answer_within=WAIT,
        )
        assert (await outcome(temporal_client, moved.workflow_id)).status == "booked"
    old = await appointment(db, original.accepted.appointment_id)
    new = await appointment(db, moved.accepted.appointment_id)
    assert old.status == AppointmentStatus.CANCELLED and old.cancel_reason == "rescheduled"
    assert new.status == AppointmentStatus.BOOKED and new.rescheduled_from_id == old.id
    async with db.read() as session:
        assert first_slot in await find_slots(
            session, demo.clinic_id, SlotQuery("cleaning", limit=20)
        )
    [sms] = await outbox(db, purpose="rescheduled")
    assert "moved from" in sms.body


async def test_failed_reschedule_keeps_the_original(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    first_slot, second_slot = await free_slots(db, demo.clinic_id, count=2)
    registry = AdapterRegistry()
    registry.register("ehr", "refusing", RefusingEhr)
    async with running_worker(temporal_client, db, registry) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        original = await bookings.book(
            request_for(demo, first_slot, patient_id=patient.id), answer_within=WAIT
        )
        await outcome(temporal_client, original.workflow_id)
        await use_adapter(db, demo.clinic_id, "ehr", "refusing")
        moved = await bookings.book(
            request_for(
                demo,
                second_slot,
                patient_id=patient.id,
                reschedule_of=original.accepted.appointment_id,
            ),
            answer_within=WAIT,
        )
        assert (await outcome(temporal_client, moved.workflow_id)).status == "failed"
    assert (
        await appointment(db, original.accepted.appointment_id)
    ).status == AppointmentStatus.BOOKED
    assert (await appointment(db, moved.accepted.appointment_id)).status == AppointmentStatus.FAILED
    [sms] = await outbox(db, purpose="reschedule_failed")
    assert "stands" in sms.body


async def test_cancel_frees_the_time_and_confirms(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        booked = await bookings.book(
            request_for(demo, slot, patient_id=patient.id), answer_within=WAIT
        )
        await outcome(temporal_client, booked.workflow_id)
        request = CancelInput(demo.clinic_id, booked.accepted.appointment_id, "patient request")
        status, accepted, _ = await bookings.cancel(request, answer_within=WAIT)
        assert status == "accepted" and accepted.starts_at == slot.starts_at
        handle = temporal_client.get_workflow_handle(
            ids.cancellation(demo.clinic_id, booked.accepted.appointment_id),
            result_type=CancelOutcome,
        )
        assert (await handle.result()).status == "cancelled"
        again, _, _ = await bookings.cancel(request, answer_within=WAIT)
        refused, _, reason = await bookings.cancel(
            CancelInput(demo.clinic_id, "no-such-appointment"), answer_within=WAIT
        )
    assert again == "accepted"  # the server answers a repeated update id with the first result
    assert refused == "rejected" and reason == "not_found"
    assert (
        await appointment(db, booked.accepted.appointment_id)
    ).status == AppointmentStatus.CANCELLED
    async with db.read() as session:
        assert slot in await find_slots(session, demo.clinic_id, SlotQuery("cleaning", limit=20))
    [sms] = await outbox(db, purpose="cancelled")
    assert "cancelled" in sms.body
