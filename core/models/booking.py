"""Appointments, slot holds and the claim grid that makes double booking impossible.

Every appointment and every live hold owns one ``SlotClaim`` row per grid cell it covers
(clinic ``grid_minutes``, buffer included). ``(provider_id, cell_start)`` is unique, so two
overlapping bookings of any length can never both commit: the database refuses the second,
on SQLite and PostgreSQL alike, without locks or isolation-level tricks.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class AppointmentStatus(StrEnum):
    PENDING = "pending"  # accepted from the caller; being written to the EHR
    BOOKED = "booked"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the EHR refused it; compensated
    COMPLETED = "completed"
    NO_SHOW = "no_show"


# Statuses whose time is taken on the provider's calendar.
ACTIVE_APPOINTMENT_STATUSES = (AppointmentStatus.PENDING, AppointmentStatus.BOOKED)


class AppointmentSource(StrEnum):
    PHONE = "phone"
    STAFF = "staff"
    EHR_SYNC = "ehr_sync"
    CAMPAIGN = "campaign"


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    RELEASED = "released"


class Appointment(SQLModel, table=True):
    # One local row per appointment of an external system (see core.scheduling.external).
    __table_args__ = (
        UniqueConstraint(
            "clinic_id", "external_system", "external_ehr_id", name="uq_appointment_external"
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    patient_id: str = Field(foreign_key="patient.id", index=True)
    provider_id: str = Field(foreign_key="provider.id", index=True)
    appointment_type_id: str = Field(foreign_key="appointmenttype.id")
    starts_at: datetime = utc_field(index=True)
    ends_at: datetime = utc_field()
    status: AppointmentStatus = Field(default=AppointmentStatus.PENDING, sa_type=AutoString)
    source: AppointmentSource = Field(default=AppointmentSource.PHONE, sa_type=AutoString)
    # The booking workflow's key: a retried start can never create a second appointment.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    external_ehr_id: str | None = Field(default=None, max_length=128)
    # Set when the appointment was made in the external system ("hl7", "fhir"), not by us.
    external_system: str | None = Field(default=None, max_length=16)
    notes: str | None = phi_field(default=None, max_length=4000)
    eligibility: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    cancel_reason: str | None = phi_field(default=None, max_length=200)  # may be the caller's words
    rescheduled_from_id: str | None = Field(default=None, foreign_key="appointment.id")
    created_at: datetime = utc_field(default_factory=utcnow)
    updated_at: datetime = utc_field(default_factory=utcnow)


class SlotHold(SQLModel, table=True):
    """A short-lived reservation made while the caller confirms, released or confirmed later."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    provider_id: str = Field(foreign_key="provider.id")
    appointment_type_id: str = Field(foreign_key="appointmenttype.id")
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    status: HoldStatus = Field(default=HoldStatus.ACTIVE, sa_type=AutoString)
    holder: str = Field(default="", max_length=128)  # call sid or user id, never PHI
    appointment_id: str | None = Field(default=None, foreign_key="appointment.id")
    created_at: datetime = utc_field(default_factory=utcnow)


class SlotClaim(SQLModel, table=True):
    """One grid cell of one provider's time, owned by a live hold or an appointment."""

    __table_args__ = (UniqueConstraint("provider_id", "cell_start", name="uq_slot_claim_cell"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(foreign_key="provider.id")
    cell_start: datetime = utc_field()
    hold_id: str | None = Field(default=None, foreign_key="slothold.id", index=True)
    appointment_id: str | None = Field(default=None, foreign_key="appointment.id", index=True)
    # Set while the claim belongs to a hold: an expired claim may be taken over by anyone.
    expires_at: datetime | None = utc_field(default=None)
