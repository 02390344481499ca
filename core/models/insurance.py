"""Insurance: the embedded eligibility source (a per-clinic coverage table) and check results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, event
from sqlmodel import Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow
from core.security.crypto import blind_index


class InsuranceCoverage(SQLModel, table=True):
    """What the local eligibility adapter answers from: members known to be (in)active."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    payer: str = Field(max_length=120)
    member_id: str = phi_field(max_length=512)
    status: str = Field(default="active", max_length=16)  # "active" | "inactive"
    plan_name: str = Field(default="", max_length=200)
    member_index: str | None = Field(default=None, max_length=64, index=True)  # blind index


@event.listens_for(InsuranceCoverage, "before_insert")
@event.listens_for(InsuranceCoverage, "before_update")
def _refresh_index(_mapper: object, _connection: object, coverage: InsuranceCoverage) -> None:
    coverage.member_index = blind_index("member_id", coverage.member_id)


class EligibilityCheck(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    patient_id: str | None = Field(default=None, foreign_key="patient.id", index=True)
    request_key: str = Field(unique=True, max_length=255)
    payer: str = Field(max_length=120)
    status: str = Field(max_length=16)  # "active" | "inactive" | "unknown"
    plan_name: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    checked_at: datetime = utc_field(default_factory=utcnow)
