"""Users, roles and the audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, utc_field, utcnow


class Role(StrEnum):
    OPERATOR = "operator"  # runs the platform; may create clinics
    ADMIN = "admin"
    STAFF = "staff"
    INTEGRATOR = "integrator"


class User(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str | None = Field(default=None, foreign_key="clinic.id", index=True)
    email: str = Field(unique=True, max_length=254)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=AutoString)
    active: bool = True
    created_at: datetime = utc_field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Append-only: who touched which PHI record, when, from where. Chained by hash."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=128)  # user id, or "system:<component>"
    role: str = Field(max_length=32)
    clinic_id: str | None = Field(default=None, index=True)
    action: str = Field(max_length=32)  # "read" | "create" | "update" | "delete" | "export"
    record_type: str = Field(max_length=64)
    record_id: str = Field(max_length=64)
    source_ip: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # never PHI
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)
