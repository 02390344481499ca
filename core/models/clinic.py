"""A clinic's configuration: who works when, what can be booked, and how the receptionist talks.

Nothing here is PHI: provider names and clinic settings are business information.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import new_id, utc_field, utcnow


class Clinic(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    time_zone: str = Field(max_length=64)
    specialty: str = Field(default="dental", max_length=16)  # "dental" | "medical"
    address: str = Field(default="", max_length=400)
    agent_name: str = Field(default="Ava", max_length=64)
    greeting: str = Field(default="", max_length=500)
    voice: str = Field(default="", max_length=128)
    max_call_seconds: int = 900
    transfer_number: str = Field(default="", max_length=32)
    emergency_number: str = Field(default="", max_length=32)
    emergency_instructions: str = Field(default="", max_length=1000)
    # Weekday ("mon".."sun") -> list of ["HH:MM", "HH:MM"] opening intervals, local time.
    business_hours: dict[str, list[list[str]]] = Field(default_factory=dict, sa_type=JSON)
    faq: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    accepted_insurance: list[str] = Field(default_factory=list, sa_type=JSON)
    # Adapter choice per kind ("ehr", "sms", "email", "crm", "eligibility"):
    # {"name": "local", "settings": {...}}. Secrets in settings are write-only through the API.
    adapters: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_type=JSON)
    # Booking rules.
    slot_step_minutes: int = 15
    grid_minutes: int = 5
    min_notice_minutes: int = 60
    booking_horizon_days: int = 90
    hold_ttl_seconds: int = 300
    # Retention (days) of call recordings and of transcripts and summaries; the purge workflow
    # deletes what is older (workflows/retention.py).
    recording_retention_days: int = 90
    transcript_retention_days: int = 2190
    created_at: datetime = utc_field(default_factory=utcnow)


class ClinicPhoneNumber(SQLModel, table=True):
    """A number that rings this clinic's receptionist (E.164)."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    e164: str = Field(unique=True, max_length=20)
    label: str = Field(default="main", max_length=64)


class ClinicHoliday(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("clinic_id", "day"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    day: date
    name: str = Field(max_length=120)


class Provider(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("clinic_id", "key"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    key: str = Field(max_length=64)  # stable handle in configuration ("dr-patel")
    name: str = Field(max_length=120)
    title: str = Field(default="", max_length=64)
    active: bool = True
    external_ehr_id: str | None = Field(default=None, max_length=128)


class AppointmentType(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("clinic_id", "code"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=120)
    duration_minutes: int
    buffer_after_minutes: int = 0
    new_patients_only: bool = False
    # Words callers use for it ("teeth cleaning", "hygiene"), for the agent and speech models.
    synonyms: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = True


class AppointmentTypeProvider(SQLModel, table=True):
    """Which providers offer which appointment types."""

    appointment_type_id: str = Field(foreign_key="appointmenttype.id", primary_key=True)
    provider_id: str = Field(foreign_key="provider.id", primary_key=True)


class ProviderSchedule(SQLModel, table=True):
    """A weekly working interval in the clinic's local time (weekday 0 = Monday)."""

    id: str = Field(default_factory=new_id, primary_key=True)
    provider_id: str = Field(foreign_key="provider.id", index=True)
    weekday: int
    start_time: time
    end_time: time
    valid_from: date | None = None
    valid_until: date | None = None


class ScheduleException(SQLModel, table=True):
    """A one-off change to a provider's week: time off, or extra hours when ``available``."""

    id: str = Field(default_factory=new_id, primary_key=True)
    provider_id: str = Field(foreign_key="provider.id", index=True)
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    available: bool = False
    reason: str = Field(default="", max_length=200)
