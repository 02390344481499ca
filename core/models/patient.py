"""Patients. Every personal field is PHI and marked so (see ``phi_field``)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class Patient(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    first_name: str = phi_field(max_length=512)
    last_name: str = phi_field(max_length=512)
    # ISO date text, so that encryption at rest can replace it without a type change.
    date_of_birth: str = phi_field(max_length=512)
    phone: str | None = phi_field(default=None, max_length=512)
    email: str | None = phi_field(default=None, max_length=512)
    insurance_payer: str | None = Field(default=None, max_length=120)
    insurance_member_id: str | None = phi_field(default=None, max_length=512)
    external_ehr_id: str | None = Field(default=None, max_length=128)
    sms_opt_out: bool = False
    created_at: datetime = utc_field(default_factory=utcnow)
