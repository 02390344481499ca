"""Bookings as the saga hands them to an EHR adapter: a real pending appointment for a real
free slot of the demo clinic, described as an ``EhrBooking``."""

from __future__ import annotations

import uuid

from core.db import Database
from core.models import AppointmentType, Patient, Provider
from core.scheduling import ConfirmRequest, HoldRequest, Slot, confirm_hold, hold_slot
from integrations.ehr.protocol import EhrBooking, EhrPatient
from tests.support.booking import free_slots, seeded_patient


async def pending_booking(
    db: Database, clinic_id: str, slot: Slot, key: str, patient: Patient
) -> EhrBooking:
    hold = await hold_slot(
        db, HoldRequest(clinic_id, slot.provider_id, "cleaning", slot.starts_at, key)
    )
    async with db.write() as session:
        appointment = await confirm_hold(
            session, ConfirmRequest(hold_id=hold.id, patient_id=patient.id, idempotency_key=key)
        )
        provider = await session.get(Provider, appointment.provider_id)
        kind = await session.get(AppointmentType, appointment.appointment_type_id)
    assert provider is not None and kind is not None
    return EhrBooking(
        booking_key=key,
        appointment_id=appointment.id,
        clinic_id=clinic_id,
        patient=EhrPatient(
            local_id=patient.id,
            first_name=patient.first_name,
            last_name=patient.last_name,
            date_of_birth=patient.date_of_birth,
            phone=patient.phone,
            external_id=patient.external_ehr_id,
        ),
        provider_id=provider.id,
        provider_external_id=provider.external_ehr_id,
        appointment_type_code=kind.code,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )


class PendingBookings:
    """``make_booking`` for the conformance suite: slot n of three non-overlapping free times."""

    def __init__(self, db: Database, clinic_id: str) -> None:
        self.db, self.clinic_id = db, clinic_id
        self._slots: list[Slot] = []

    async def __call__(self, *, slot: int = 0, key: str | None = None) -> EhrBooking:
        if not self._slots:
            self._slots = await free_slots(self.db, self.clinic_id, count=3)
        key = key or f"booking-{self.clinic_id}-{uuid.uuid4().hex[:12]}/ehr"
        patient = await seeded_patient(self.db)
        return await pending_booking(self.db, self.clinic_id, self._slots[slot], key, patient)
