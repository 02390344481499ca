"""Two clinics with data of every kind, so each test can reach for the other clinic's ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import select

from core.db import Database
from core.demo.seed import demo_config, seed_clinic, seed_demo
from core.models import (
    ApiToken,
    AppointmentSource,
    AppointmentType,
    Call,
    CallOutcome,
    Patient,
    Provider,
    Role,
    StaffTask,
    TranscriptTurn,
    utcnow,
)
from core.scheduling import (
    ConfirmRequest,
    HoldRequest,
    SlotQuery,
    confirm_hold,
    find_slots,
    hold_slot,
)
from realtime.audio import codec
from tests.support.accounts import Account, create_account


@dataclass(frozen=True)
class Tenant:
    clinic_id: str
    accounts: dict[Role, Account]
    patient_id: str
    call_id: str
    call_sid: str
    task_id: str
    appointment_id: str
    provider_id: str
    appointment_type_id: str
    token_id: str

    @property
    def admin(self) -> Account:
        return self.accounts[Role.ADMIN]

    def ids(self) -> dict[str, str]:
        """Path parameter values naming this tenant's resources."""
        return {
            "clinic_id": self.clinic_id,
            "call_id": self.call_id,
            "task_id": self.task_id,
            "appointment_id": self.appointment_id,
            "provider_id": self.provider_id,
            "type_id": self.appointment_type_id,
            "user_id": self.accounts[Role.STAFF].user_id,
            "token_id": self.token_id,
            "kind": "sms",
        }


async def _add_activity(
    db: Database, clinic_id: str, patient: Patient, data_dir: Path, now: datetime
) -> tuple[str, str, str, str]:
    """A finished call with transcript and recording, a staff task and an appointment."""
    call_sid = f"CA{uuid.uuid4().hex}"
    started = utcnow() - timedelta(hours=1)
    async with db.write() as session:
        call = Call(
            clinic_id=clinic_id, call_sid=call_sid, from_number=patient.phone,
            to_number="+12075550100", patient_id=patient.id, started_at=started,
            ended_at=started + timedelta(seconds=95), outcome=CallOutcome.BOOKED,
            tools_used=["find_slots", "book_appointment"],
            workflow_ids=[f"booking-{clinic_id}-r1", f"call-{call_sid}"],
            turn_latencies=[{"first_media_ms": 420.0, "stt_final_ms": 80.0},
                            {"first_media_ms": 610.0, "stt_final_ms": 95.0}],
        )  # fmt: skip
        session.add(call)
        await session.flush()
        for seq, (role, text) in enumerate(
            [("agent", "Thanks for calling, how can I help?"), ("caller", "I need a cleaning")]
        ):
            session.add(TranscriptTurn(call_id=call.id, seq=seq, role=role, text=text))
        task = StaffTask(
            clinic_id=clinic_id, kind="booking_failed", title="Call the patient back",
            detail=f"{patient.first_name} asked for a call back", call_id=call.id,
        )  # fmt: skip
        session.add(task)
    (data_dir / "calls").mkdir(parents=True, exist_ok=True)
    silence = codec.ULAW_SILENCE * 8000
    codec.write_call_recording(data_dir / "calls" / f"{call_sid}.wav", silence, silence)

    async with db.read() as session:
        slot = (await find_slots(session, clinic_id, SlotQuery("cleaning", limit=1), now=now))[0]
    hold = await hold_slot(
        db, HoldRequest(clinic_id, slot.provider_id, "cleaning", slot.starts_at, "test"), now=now
    )
    async with db.write() as session:
        appointment = await confirm_hold(
            session,
            ConfirmRequest(hold.id, patient.id, f"t-{uuid.uuid4().hex}", AppointmentSource.STAFF),
        )
    return call.id, call_sid, task.id, appointment.id


async def make_tenant(
    db: Database, data_dir: Path, now: datetime, *, slug: str | None = None
) -> Tenant:
    """The demo clinic (``slug`` None) or a copy of it under another slug and number."""
    if slug is None:
        clinic_id = (await seed_demo(db, now=now)).clinic_id
    else:
        config = demo_config(now.date())
        config.slug, config.name = slug, f"Clinic {slug}"
        config.phone_numbers = [f"+1207555{uuid.uuid4().int % 10000:04d}"]
        clinic_id = (await seed_clinic(db, config)).id
    async with db.write() as session:
        patient = (
            await session.exec(select(Patient).where(Patient.clinic_id == clinic_id))
        ).first() or Patient(
            clinic_id=clinic_id, first_name="Dana", last_name="Shore",
            date_of_birth="1990-01-01", phone="+12075550999",
        )  # fmt: skip
        session.add(patient)
    call_id, call_sid, task_id, appointment_id = await _add_activity(
        db, clinic_id, patient, data_dir, now
    )
    accounts = {
        role: await create_account(db, clinic_id, role)
        for role in Role
        if role is not Role.OPERATOR
    }
    async with db.read() as session:
        provider = (
            await session.exec(select(Provider).where(Provider.clinic_id == clinic_id))
        ).first()
        kind = (
            await session.exec(
                select(AppointmentType).where(AppointmentType.clinic_id == clinic_id)
            )
        ).first()
        token = (
            await session.exec(
                select(ApiToken).where(ApiToken.user_id == accounts[Role.INTEGRATOR].user_id)
            )
        ).one()
    assert provider is not None and kind is not None
    return Tenant(
        clinic_id, accounts, patient.id, call_id, call_sid, task_id, appointment_id,
        provider.id, kind.id, token.id,
    )  # fmt: skip
