"""Appointment reminders on the real dev server: armed by a booking, moved by a reschedule,
stopped by a cancellation, and timers that fire in seconds (offsets are workflow inputs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus, OutreachAttempt
from durable.booking import BookingRequest, Bookings
from durable.reminders import ReminderOverrides, Reminders, reminder_id
from tests.campaigns.support import ALWAYS_OPEN, configure_outreach, wait_until
from tests.support.booking import free_slots, seeded_patient
from tests.support.workers import running_worker
from workflows.contracts import BookingOutcome, CancelInput
from workflows.outreach_types import ReminderOffset, ReminderState

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WAIT = timedelta(seconds=30)


async def _booked(client: Client, workflow_id: str) -> BookingOutcome:
    outcome: BookingOutcome = await client.get_workflow_handle(
        workflow_id, result_type=BookingOutcome
    ).result()
    assert outcome.status == "booked"
    return outcome


async def test_booking_arms_reminders_reschedule_moves_them_cancel_stops_them(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    patient = await seeded_patient(db)
    first, second = await free_slots(db, demo.clinic_id, count=2)
    async with running_worker(temporal_client, db) as prefix:
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        booked = await bookings.book(
            BookingRequest(demo.clinic_id, "rem-1", first.provider_id, "cleaning",
                           first.starts_at, patient_id=patient.id), answer_within=WAIT,
        )  # fmt: skip
        original = (await _booked(temporal_client, booked.workflow_id)).accepted
        assert original is not None
        handle = temporal_client.get_workflow_handle(
            reminder_id(demo.clinic_id, original.appointment_id), result_type=ReminderState
        )
        state = await handle.query("state", result_type=ReminderState)
        assert (state.appointment_id, state.starts_at) == (original.appointment_id, first.starts_at)

        moved = await bookings.book(
            BookingRequest(demo.clinic_id, "rem-2", second.provider_id, "cleaning",
                           second.starts_at, patient_id=patient.id,
                           reschedule_of=original.appointment_id), answer_within=WAIT,
        )  # fmt: skip
        new = (await _booked(temporal_client, moved.workflow_id)).accepted
        assert new is not None
        state = await handle.query("state", result_type=ReminderState)
        # The same workflow now follows the moved appointment.
        assert (state.appointment_id, state.starts_at) == (new.appointment_id, second.starts_at)

        await bookings.cancel(CancelInput(demo.clinic_id, new.appointment_id), answer_within=WAIT)
        final = await handle.result()
    assert final.cancelled and final.appointment_id == new.appointment_id
    async with db.read() as session:
        sent = (await session.exec(select(OutreachAttempt))).all()
    assert sent == [], "a cancelled appointment days ahead was never reminded"


async def _appointment_soon(db: Database, demo: SeedReport, starts_in: timedelta, **extra) -> str:  # type: ignore[no-untyped-def]
    patient = await seeded_patient(db)
    async with db.read() as session:
        template = (await session.exec(select(Appointment).where(
            Appointment.clinic_id == demo.clinic_id))).first()  # fmt: skip
    assert template is not None
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    row = Appointment(
        clinic_id=demo.clinic_id, patient_id=patient.id, provider_id=template.provider_id,
        appointment_type_id=template.appointment_type_id, starts_at=starts,
        ends_at=starts + timedelta(minutes=30), status=AppointmentStatus.BOOKED, **extra,
    )  # fmt: skip
    async with db.write() as session:
        session.add(row)
    return row.id


async def _attempts(db: Database) -> list[OutreachAttempt]:
    async with db.read() as session:
        return list(
            (
                await session.exec(
                    select(OutreachAttempt)
                    .where(OutreachAttempt.kind == "reminder")
                    .order_by(col(OutreachAttempt.created_at))
                )
            ).all()
        )


async def test_timers_fire_move_with_a_reschedule_and_stop_with_a_cancel(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id, max_per_day=10, max_per_week=10)
    first = await _appointment_soon(db, demo, timedelta(seconds=22))
    # Reminders 20 s and 4 s ahead of the visit: the first fires at once.
    overrides = ReminderOverrides([ReminderOffset(20), ReminderOffset(4)], ALWAYS_OPEN)
    async with running_worker(temporal_client, db) as prefix:
        reminders = Reminders(temporal_client, db, task_queue_prefix=prefix)
        workflow_id = await reminders.arm(first, overrides)
        await wait_until(lambda: _count(db, 1), timeout=30)
        # The visit moves 45 s out before the 4 s reminder fires: it moves with it.
        second = await _appointment_soon(db, demo, timedelta(seconds=45), rescheduled_from_id=first)
        state = await reminders.rescheduled(second)
        assert state is not None and state.appointment_id == second
        await wait_until(lambda: _count(db, 2), timeout=60)
        stopped = await reminders.cancelled(second)
        assert stopped is not None and stopped.cancelled
        final = await temporal_client.get_workflow_handle(
            workflow_id, result_type=ReminderState
        ).result()
    assert final.cancelled
    attempts = await _attempts(db)
    # The old 4 s reminder never went out for the old time: after the move every reminder was
    # about the new appointment, and none was sent after the cancellation.
    assert [a.appointment_id for a in attempts] == [first, second]
    assert all(a.status == "sent" for a in attempts)


async def test_no_reminder_for_an_appointment_cancelled_before_its_time(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    appointment = await _appointment_soon(db, demo, timedelta(seconds=30))
    overrides = ReminderOverrides([ReminderOffset(25)], ALWAYS_OPEN)  # fires in 5 s
    async with running_worker(temporal_client, db) as prefix:
        reminders = Reminders(temporal_client, db, task_queue_prefix=prefix)
        workflow_id = await reminders.arm(appointment, overrides)
        await reminders.cancelled(appointment)
        final = await temporal_client.get_workflow_handle(
            workflow_id, result_type=ReminderState
        ).result()
    assert final.cancelled and final.sent == []
    assert await _attempts(db) == []


async def _count(db: Database, n: int) -> bool:
    return len([a for a in await _attempts(db) if a.status == "sent"]) >= n
