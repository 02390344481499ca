"""What crossed an HL7 v2 interface: one row per message, without its content (which is PHI).

Outbound rows make sends idempotent (a retried activity reuses the control id and, once the EHR
accepted a message, does not send it again) and are the adapter's record of what the EHR has
acknowledged. Inbound rows de-duplicate re-delivered messages by the sender's control id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, utc_field, utcnow


class MessageDirection(StrEnum):
    OUTBOUND = "out"
    INBOUND = "in"


class Hl7Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("clinic_id", "direction", "control_id", name="uq_hl7_message_control"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    direction: MessageDirection = Field(sa_type=AutoString, max_length=3)
    control_id: str = Field(max_length=64)  # MSH-10
    event: str = Field(max_length=8)  # "S12", "S13", ...
    # SCH-1 placer appointment id (ours) and SCH-2 filler id (the EHR's), when known.
    placer_id: str | None = Field(default=None, max_length=128, index=True)
    filler_id: str | None = Field(default=None, max_length=128)
    status: str = Field(default="booked", max_length=16)  # what the message asserts
    # Enough to rebuild a later S15/S26 without keeping the message (ids and codes, no PHI).
    patient_id: str | None = Field(default=None, max_length=64)
    provider_ref: str | None = Field(default=None, max_length=128)
    service_code: str | None = Field(default=None, max_length=64)
    starts_at: datetime | None = utc_field(default=None)
    ends_at: datetime | None = utc_field(default=None)
    ack_code: str | None = Field(default=None, max_length=2)  # AA | AE | AR; None: no answer
    error_code: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    created_at: datetime = utc_field(default_factory=utcnow)
    acknowledged_at: datetime | None = utc_field(default=None)
