"""The embedded CRM: notes about calls, kept locally when no CRM is configured."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class CrmNote(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    external_key: str = Field(unique=True, max_length=255)
    patient_id: str | None = Field(default=None, foreign_key="patient.id")
    call_sid: str | None = Field(default=None, max_length=64)
    subject: str = Field(max_length=200)
    body: str = phi_field(max_length=16000)
    occurred_at: datetime = utc_field()
    created_at: datetime = utc_field(default_factory=utcnow)
