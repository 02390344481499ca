"""Activities of the booking, rescheduling and cancellation sagas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.adapters import ClinicAdapters
from activities.errors import classified
from activities.keys import workflow_key
from core.messages import spoken_time
from core.models import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Clinic,
    EligibilityCheck,
    Patient,
    Provider,
)
from core.scheduling import (
    ConfirmRequest,
    NotFound,
    NotOffered,
    cancel_appointment,
    confirm_hold,
    free_appointment_time,
)
from core.scheduling.alternatives import nearby_slots
from core.security import audit
from core.security.crypto import identity_index
from integrations.ehr.protocol import EhrBooking, EhrPatient
from integrations.errors import PermanentError
from workflows.contracts import (
    BookingAccepted,
    BookingInput,
    CancelAccepted,
    CancelInput,
    PatientDetails,
)


@dataclass(frozen=True)
class CommitInput:
    appointment_id: str
    reschedule_of: str | None = None


@dataclass(frozen=True)
class CommitResult:
    external_id: str


@dataclass(frozen=True)
class FailInput:
    appointment_id: str
    reason: str


@dataclass(frozen=True)
class AlternativesInput:
    appointment_id: str  # the appointment whose time the EHR gave away
    limit: int = 3


@dataclass(frozen=True)
class Alternative:
    """An open time to offer instead (no patient data: it sits in workflow history)."""

    provider_id: str
    provider_name: str
    starts_at: datetime  # UTC
    when: str  # spoken-style, in the clinic's time zone

    @property
    def phrase(self) -> str:
        return f"{self.when} with {self.provider_name}"


async def find_or_create_patient(
    session: AsyncSession, clinic_id: str, details: PatientDetails
) -> Patient:
    """Match on name and date of birth (case-insensitive); create the patient otherwise."""
    found = (
        await session.exec(
            select(Patient).where(
                Patient.clinic_id == clinic_id,
                Patient.identity_index
                == identity_index(details.first_name, details.last_name, details.date_of_birth),
            )
        )
    ).first()
    if found is not None:
        return found
    patient = Patient(
        clinic_id=clinic_id,
        first_name=details.first_name.strip(),
        last_name=details.last_name.strip(),
        date_of_birth=details.date_of_birth,
        phone=details.phone,
        email=details.email,
        insurance_payer=details.insurance_payer,
        insurance_member_id=details.insurance_member_id,
    )
    session.add(patient)
    await session.flush()
    return patient


async def _latest_eligibility(session: AsyncSession, patient_id: str) -> dict[str, object] | None:
    check = (
        await session.exec(
            select(EligibilityCheck)
            .where(EligibilityCheck.patient_id == patient_id)
            .order_by(col(EligibilityCheck.checked_at).desc())
        )
    ).first()
    if check is None:
        return None
    return {
        "status": check.status,
        "payer": check.payer,
        "plan_name": check.plan_name,
        "checked_at": check.checked_at.isoformat(),
    }


class BookingActivities:
    def __init__(self, adapters: ClinicAdapters) -> None:
        self._adapters = adapters
        self._db = adapters.db

    @activity.defn(name="accept_booking")
    @classified
    async def accept_booking(self, request: BookingInput) -> BookingAccepted:
        """Turn the caller's hold into a pending appointment (runs as a local activity)."""
        async with self._db.write() as session:
            if request.patient_id:
                patient = await session.get(Patient, request.patient_id)
                if patient is None or patient.clinic_id != request.clinic_id:
                    raise NotFound("unknown patient")
            elif request.new_patient is not None:
                patient = await find_or_create_patient(
                    session, request.clinic_id, request.new_patient
                )
            else:
                raise NotOffered("a booking needs a patient")
            if request.reschedule_of:
                old = await session.get(Appointment, request.reschedule_of)
                if old is None or old.patient_id != patient.id:
                    raise NotFound("unknown appointment to reschedule")
            appointment = await confirm_hold(
                session,
                ConfirmRequest(
                    hold_id=request.hold_id,
                    patient_id=patient.id,
                    idempotency_key=workflow_key(),
                    notes=request.notes,
                    rescheduled_from_id=request.reschedule_of,
                ),
            )
            if appointment.eligibility is None:
                appointment.eligibility = await _latest_eligibility(session, patient.id)
                session.add(appointment)
            provider = await session.get(Provider, appointment.provider_id)
            kind = await session.get(AppointmentType, appointment.appointment_type_id)
            clinic = await session.get(Clinic, appointment.clinic_id)
            assert provider and kind and clinic
            accepted = BookingAccepted(
                appointment_id=appointment.id,
                patient_id=patient.id,
                provider_name=provider.name,
                appointment_type=kind.name,
                starts_at=appointment.starts_at,
                time_zone=clinic.time_zone,
            )
        # After the booking's own transaction, so the audit chain's lock never lengthens it.
        await audit.system_access(
            self._db, "booking", clinic_id=request.clinic_id, record_type="patient",
            record_id=accepted.patient_id, detail={"appointment_id": accepted.appointment_id},
        )  # fmt: skip
        return accepted

    async def _ehr_booking(self, appointment: Appointment) -> EhrBooking:
        async with self._db.read() as session:
            patient = await session.get(Patient, appointment.patient_id)
            provider = await session.get(Provider, appointment.provider_id)
            kind = await session.get(AppointmentType, appointment.appointment_type_id)
        assert patient and provider and kind
        await audit.system_access(
            self._db, "booking", clinic_id=patient.clinic_id, record_type="patient",
            record_id=patient.id, action=audit.Action.DISCLOSE, detail={"to": "ehr"},
        )  # fmt: skip
        return EhrBooking(
            booking_key=workflow_key("/ehr"),
            appointment_id=appointment.id,
            clinic_id=appointment.clinic_id,
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

    @activity.defn(name="commit_to_ehr")
    @classified
    async def commit_to_ehr(self, request: CommitInput) -> CommitResult:
        """Write the appointment into the clinic's EHR, read it back, then mark it booked.

        For a reschedule the old appointment is released only here, after the new one is
        committed in the EHR.
        """
        async with self._db.read() as session:
            appointment = await session.get(Appointment, request.appointment_id)
            old = (
                await session.get(Appointment, request.reschedule_of)
                if request.reschedule_of
                else None
            )
        if appointment is None:
            raise NotFound("unknown appointment")
        ehr = await self._adapters.ehr(appointment.clinic_id)
        booking = await self._ehr_booking(appointment)
        if old is not None and old.external_ehr_id:
            stored = await ehr.reschedule(old.external_ehr_id, booking)
        else:
            stored = await ehr.book(booking)
        readback = await ehr.read(stored.external_id)
        if readback.status != "booked" or readback.starts_at != appointment.starts_at:
            raise PermanentError(
                "the EHR stored something other than the booking", code="ehr_mismatch"
            )
        async with self._db.write() as session:
            current = await session.get(Appointment, appointment.id)
            assert current is not None
            current.external_ehr_id = readback.external_id
            current.status = AppointmentStatus.BOOKED
            current.updated_at = datetime.now(UTC)
            session.add(current)
            if old is not None:
                await cancel_appointment(session, old.id, "rescheduled")
        return CommitResult(external_id=readback.external_id)

    @activity.defn(name="fail_booking")
    @classified
    async def fail_booking(self, request: FailInput) -> None:
        """Compensation: give the time back and mark the appointment failed. Idempotent."""
        async with self._db.write() as session:
            appointment = await session.get(Appointment, request.appointment_id)
            if appointment is None or appointment.status == AppointmentStatus.FAILED:
                return
            await free_appointment_time(session, appointment.id)
            appointment.status = AppointmentStatus.FAILED
            appointment.cancel_reason = request.reason[:200]
            appointment.updated_at = datetime.now(UTC)
            session.add(appointment)

    @activity.defn(name="find_alternatives")
    @classified
    async def find_alternatives(self, request: AlternativesInput) -> list[Alternative]:
        """Open times near the one the EHR gave away, same visit type, same provider first."""
        async with self._db.read() as session:
            taken = await session.get(Appointment, request.appointment_id)
            if taken is None:
                raise NotFound("unknown appointment")
            slots = await nearby_slots(session, taken, limit=request.limit)
        return [
            Alternative(
                s.provider_id, s.provider_name, s.starts_at, spoken_time(s.starts_at, s.time_zone)
            )
            for s in slots
        ]

    @activity.defn(name="accept_cancellation")
    @classified
    async def accept_cancellation(self, request: CancelInput) -> CancelAccepted:
        async with self._db.read() as session:
            appointment = await session.get(Appointment, request.appointment_id)
            clinic = await session.get(Clinic, request.clinic_id)
        if appointment is None or clinic is None or appointment.clinic_id != request.clinic_id:
            raise NotFound("unknown appointment")
        if appointment.status not in (*ACTIVE_APPOINTMENT_STATUSES, AppointmentStatus.CANCELLED):
            raise NotOffered(f"a {appointment.status} appointment cannot be cancelled")
        return CancelAccepted(appointment.id, appointment.starts_at, clinic.time_zone)

    @activity.defn(name="commit_cancellation")
    @classified
    async def commit_cancellation(self, request: CancelInput) -> None:
        """Cancel in the EHR first, then free the local time (never the other way round,
        or the time could be sold twice while the EHR still holds it)."""
        async with self._db.read() as session:
            appointment = await session.get(Appointment, request.appointment_id)
        if appointment is None:
            raise NotFound("unknown appointment")
        if appointment.external_ehr_id:
            ehr = await self._adapters.ehr(appointment.clinic_id)
            await ehr.cancel(appointment.external_ehr_id, request.reason)
        async with self._db.write() as session:
            await cancel_appointment(session, appointment.id, request.reason)
