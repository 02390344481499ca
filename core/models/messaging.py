"""Messages to patients (the outbox) and work left for the clinic's staff."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    """Every message we send, whatever the channel; the embedded SMS/e-mail transport itself."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    patient_id: str | None = Field(default=None, foreign_key="patient.id")
    channel: str = Field(max_length=16)  # "sms" | "email"
    purpose: str = Field(max_length=32)  # "confirmation", "reminder", "recall", ...
    recipient: str = phi_field(max_length=512)
    body: str = phi_field(max_length=4000)
    # Derived from workflow id + activity id: a retried activity never sends twice.
    idempotency_key: str = Field(unique=True, max_length=255)
    status: OutboxStatus = Field(default=OutboxStatus.QUEUED, sa_type=AutoString)
    provider_message_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = utc_field(default_factory=utcnow)
    sent_at: datetime | None = utc_field(default=None)


class StaffTaskStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class StaffTask(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    kind: str = Field(max_length=48)  # "booking_failed", "transfer", "verify_insurance", ...
    title: str = Field(max_length=200)  # no PHI: shown in lists and notifications
    detail: str = phi_field(default="", max_length=4000)
    status: StaffTaskStatus = Field(default=StaffTaskStatus.OPEN, sa_type=AutoString)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=255)
    appointment_id: str | None = Field(default=None, foreign_key="appointment.id")
    call_id: str | None = Field(default=None, foreign_key="call.id")
    created_at: datetime = utc_field(default_factory=utcnow)
    resolved_at: datetime | None = utc_field(default=None)
