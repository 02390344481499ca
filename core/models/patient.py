"""Patients. Every personal field is PHI and marked so (see ``phi_field``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event
from sqlmodel import Field, SQLModel

from core.logging import remember_phi_names
from core.models.base import new_id, phi_field, utc_field, utcnow
from core.security.crypto import blind_index, identity_index


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
    # The EHR's patient id: a medical record number, so PHI; found by ``external_ehr_index``.
    external_ehr_id: str | None = phi_field(default=None, max_length=128)
    sms_opt_out: bool = False
    created_at: datetime = utc_field(default_factory=utcnow)
    # Blind indexes (keyed HMACs, see core.security.crypto), kept in step with the encrypted
    # fields on every insert and update: equality lookups without plaintext in the database.
    phone_index: str | None = Field(default=None, max_length=64, index=True)
    identity_index: str | None = Field(default=None, max_length=64, index=True)
    last_name_index: str | None = Field(default=None, max_length=64, index=True)
    external_ehr_index: str | None = Field(default=None, max_length=64, index=True)


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _refresh_indexes(_mapper: object, _connection: object, patient: Patient) -> None:
    patient.phone_index = blind_index("phone", patient.phone) if patient.phone else None
    patient.identity_index = identity_index(
        patient.first_name, patient.last_name, patient.date_of_birth
    )
    patient.last_name_index = blind_index("name", patient.last_name)
    patient.external_ehr_index = (
        blind_index("ehr_id", patient.external_ehr_id) if patient.external_ehr_id else None
    )
    remember_phi_names(patient.first_name, patient.last_name)


@event.listens_for(Patient, "load")
def _remember_names(patient: Patient, _context: object) -> None:
    # Names this process has seen are masked in its logs (core.logging).
    remember_phi_names(patient.first_name, patient.last_name)
