"""Seed the demo clinic: configuration, holidays, synthetic patients and a few appointments.

Idempotent: run it again and nothing is duplicated (patients are matched by phone, seeded
appointments by their idempotency keys). All people here are invented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from core.clinic_config import ClinicConfig, HolidayConfig, apply_clinic_config, parse_clinic_config
from core.db import Database
from core.models import (
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    Clinic,
    InsuranceCoverage,
    Patient,
)
from core.scheduling import (
    ConfirmRequest,
    HoldRequest,
    SlotQuery,
    confirm_hold,
    find_slots,
    hold_slot,
)

DEMO_CONFIG = Path(__file__).with_name("bright_smile_dental.json")

# (first, last, date of birth, phone, payer, member id) — invented; 555-01xx numbers are fictional.
SYNTHETIC_PATIENTS = [
    ("Alex", "Rivera", "1985-03-14", "+12075550111", "Delta Dental", "DD100200301"),
    ("Jordan", "Kim", "1992-07-02", "+12075550112", "Cigna", "CG55501234"),
    ("Samira", "Okafor", "1978-11-23", "+12075550113", "Aetna", "AE77700112"),
    ("Peter", "Brown", "1980-03-03", "+12075550114", "MetLife", "ML3004005"),
    ("Taylor", "Nguyen", "2001-01-30", "+12075550115", None, None),
    ("Morgan", "Fischer", "1965-09-09", "+12075550116", "Guardian", "GU8812003"),
    ("Casey", "Romero", "1999-05-17", "+12075550117", "Delta Dental", "DD100200377"),
    ("Riley", "Chen", "1988-12-05", "+12075550118", "Cigna", "CG55507788"),
]

# The local eligibility table: (payer, member id, status, plan). Guardian's member is lapsed.
SYNTHETIC_COVERAGE = [
    ("Delta Dental", "DD100200301", "active", "Delta Dental PPO"),
    ("Cigna", "CG55501234", "active", "Cigna Dental 1000"),
    ("Aetna", "AE77700112", "active", "Aetna Dental DMO"),
    ("MetLife", "ML3004005", "active", "MetLife PDP Plus"),
    ("Guardian", "GU8812003", "inactive", "Guardian DentalGuard"),
    ("Delta Dental", "DD100200377", "active", "Delta Dental PPO"),
    ("Cigna", "CG55507788", "active", "Cigna Dental 1000"),
]

# (patient index, appointment type, which free slot to take, days from today)
SEEDED_APPOINTMENTS = [
    (0, "cleaning", 0, 1),
    (1, "exam", 1, 1),
    (2, "filling", 0, 2),
    (3, "cleaning", 2, 3),
    (5, "crown", 0, 4),
    (6, "exam", 3, 6),
]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + timedelta(days=offset + 7 * (n - 1))
    last = date(year + (month // 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def us_holidays(year: int) -> list[HolidayConfig]:
    """The federal holidays a US practice typically closes on."""
    return [
        HolidayConfig(day=date(year, 1, 1), name="New Year's Day"),
        HolidayConfig(day=_nth_weekday(year, 5, 0, -1), name="Memorial Day"),
        HolidayConfig(day=date(year, 7, 4), name="Independence Day"),
        HolidayConfig(day=_nth_weekday(year, 9, 0, 1), name="Labor Day"),
        HolidayConfig(day=_nth_weekday(year, 11, 3, 4), name="Thanksgiving"),
        HolidayConfig(day=date(year, 12, 25), name="Christmas Day"),
    ]


def demo_config(today: date) -> ClinicConfig:
    config = parse_clinic_config(json.loads(DEMO_CONFIG.read_text()))
    config.holidays = us_holidays(today.year) + us_holidays(today.year + 1)
    return config


@dataclass(frozen=True)
class SeedReport:
    clinic_id: str
    clinic_name: str
    patients: int
    appointments: int


async def seed_clinic(db: Database, config: ClinicConfig) -> Clinic:
    async with db.write() as session:
        return await apply_clinic_config(session, config)


async def seed_demo(db: Database, *, now: datetime | None = None) -> SeedReport:
    now = now or datetime.now(UTC)
    clinic = await seed_clinic(db, demo_config(now.date()))
    async with db.write() as session:
        known = set(
            (await session.exec(select(Patient.phone).where(Patient.clinic_id == clinic.id))).all()
        )
        for first, last, dob, phone, payer, member in SYNTHETIC_PATIENTS:
            if phone not in known:
                session.add(
                    Patient(
                        clinic_id=clinic.id,
                        first_name=first,
                        last_name=last,
                        date_of_birth=dob,
                        phone=phone,
                        insurance_payer=payer,
                        insurance_member_id=member,
                    )
                )
        known_members = set(
            (
                await session.exec(
                    select(InsuranceCoverage.member_id).where(
                        InsuranceCoverage.clinic_id == clinic.id
                    )
                )
            ).all()
        )
        for payer, member_id, status, plan in SYNTHETIC_COVERAGE:
            if member_id not in known_members:
                session.add(
                    InsuranceCoverage(
                        clinic_id=clinic.id,
                        payer=payer,
                        member_id=member_id,
                        status=status,
                        plan_name=plan,
                    )
                )
    async with db.read() as session:
        by_phone = {
            p.phone: p
            for p in (
                await session.exec(select(Patient).where(Patient.clinic_id == clinic.id))
            ).all()
        }
        seeded_keys = set(
            (
                await session.exec(
                    select(Appointment.idempotency_key).where(Appointment.clinic_id == clinic.id)
                )
            ).all()
        )
    for n, (patient_index, code, pick, days_ahead) in enumerate(SEEDED_APPOINTMENTS):
        key = f"seed-{clinic.slug}-{n}"
        if key in seeded_keys:
            continue
        patient = by_phone[SYNTHETIC_PATIENTS[patient_index][3]]
        day = now.date() + timedelta(days=days_ahead)
        async with db.read() as session:
            slots = await find_slots(
                session,
                clinic.id,
                SlotQuery(code, first_day=day, last_day=day + timedelta(days=7), limit=pick + 1),
                now=now,
            )
        if len(slots) <= pick:
            continue
        slot = slots[pick]
        hold = await hold_slot(
            db, HoldRequest(clinic.id, slot.provider_id, code, slot.starts_at, "seed"), now=now
        )
        async with db.write() as session:
            appointment = await confirm_hold(
                session,
                ConfirmRequest(hold.id, patient.id, key, source=AppointmentSource.STAFF),
            )
            appointment.status = AppointmentStatus.BOOKED
            session.add(appointment)
    async with db.read() as session:
        appointments = (
            await session.exec(select(Appointment).where(Appointment.clinic_id == clinic.id))
        ).all()
    return SeedReport(clinic.id, clinic.name, len(by_phone), len(appointments))
