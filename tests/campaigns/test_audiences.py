"""Who each audience targets, and why (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from core.campaigns.config import OutreachConfig
from core.campaigns.targets import find_targets
from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentStatus,
    AttemptStatus,
    Clinic,
    OutreachAttempt,
    Patient,
)


async def _visit(db: Database, clinic_id: str, patient_id: str, at: datetime, status: str) -> str:
    async with db.read() as session:
        model = (await session.exec(select(Appointment).where(
            Appointment.clinic_id == clinic_id))).first()  # fmt: skip
    assert model is not None
    row = Appointment(
        clinic_id=clinic_id, patient_id=patient_id, provider_id=model.provider_id,
        appointment_type_id=model.appointment_type_id, starts_at=at,
        ends_at=at + timedelta(minutes=30), status=AppointmentStatus(status),
    )  # fmt: skip
    async with db.write() as session:
        session.add(row)
    return row.id


async def _patient(db: Database, clinic_id: str, n: int) -> str:
    patient = Patient(clinic_id=clinic_id, first_name=f"A{n}", last_name="Aud",
                      date_of_birth="1990-01-01", phone=f"+1207557000{n}")  # fmt: skip
    async with db.write() as session:
        session.add(patient)
    return patient.id


async def test_unconfirmed_tomorrow_and_no_shows(db: Database, demo: SeedReport) -> None:
    async with db.read() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
    assert clinic is not None
    now = datetime.now(UTC)
    zone = ZoneInfo(clinic.time_zone)
    tomorrow_noon = datetime.combine(
        now.astimezone(zone).date() + timedelta(days=1), time(12), tzinfo=zone
    )
    unconfirmed, confirmed, cancelled, missed, missed_rebooked = [
        await _patient(db, clinic.id, n) for n in range(5)
    ]
    wanted = await _visit(db, clinic.id, unconfirmed, tomorrow_noon, "booked")
    done = await _visit(db, clinic.id, confirmed, tomorrow_noon + timedelta(hours=1), "booked")
    await _visit(db, clinic.id, cancelled, tomorrow_noon, "cancelled")
    await _visit(db, clinic.id, missed, now - timedelta(days=3), "no_show")
    await _visit(db, clinic.id, missed_rebooked, now - timedelta(days=2), "no_show")
    await _visit(db, clinic.id, missed_rebooked, now + timedelta(days=9), "booked")
    async with db.write() as session:  # replied C to a reminder
        session.add(OutreachAttempt(
            clinic_id=clinic.id, patient_id=confirmed, kind="reply", channel="sms",
            status=AttemptStatus.SENT, reason="confirmed", appointment_id=done,
            workflow_id="appt-x", idempotency_key="appt-x/reply",
        ))  # fmt: skip
    config = OutreachConfig()
    async with db.read() as session:
        tomorrow = await find_targets(session, clinic, "unconfirmed_tomorrow", config, now, 100)
        no_shows = await find_targets(session, clinic, "no_shows_last_week", config, now, 100)
    mine = {unconfirmed, confirmed, cancelled, missed, missed_rebooked}
    assert [(t.patient_id, t.appointment_id) for t in tomorrow if t.patient_id in mine] == [
        (unconfirmed, wanted)
    ]
    assert [t.patient_id for t in no_shows if t.patient_id in mine] == [missed]
    assert all("clean" not in t.reason and "no_show" not in t.reason for t in tomorrow + no_shows)
