"""Calls and their transcripts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallOutcome(StrEnum):
    IN_PROGRESS = "in_progress"
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    ANSWERED = "answered"  # questions answered, nothing booked
    TRANSFERRED = "transferred"
    EMERGENCY = "emergency"
    ABANDONED = "abandoned"
    FAILED = "failed"


class Call(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    call_sid: str = Field(unique=True, max_length=64)
    direction: CallDirection = Field(default=CallDirection.INBOUND, sa_type=AutoString)
    from_number: str | None = phi_field(default=None, max_length=512)
    to_number: str | None = Field(default=None, max_length=32)
    patient_id: str | None = Field(default=None, foreign_key="patient.id")
    started_at: datetime = utc_field(default_factory=utcnow, index=True)
    ended_at: datetime | None = utc_field(default=None)
    outcome: CallOutcome = Field(default=CallOutcome.IN_PROGRESS, sa_type=AutoString)
    # Free text from the agent ("swelling with fever"): clinical detail, so encrypted.
    transfer_reason: str | None = phi_field(default=None, max_length=200)
    summary: str | None = phi_field(default=None, max_length=8000)
    # Per turn: {"end_of_speech_ms", "stt_final_ms", "agent_first_token_ms", "tts_first_byte_ms",
    #            "first_media_ms", "first_mark_ms"} relative to the end of the caller's speech.
    turn_latencies: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    tools_used: list[str] = Field(default_factory=list, sa_type=JSON)
    workflow_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    failovers: list[str] = Field(default_factory=list, sa_type=JSON)
    # One-time credential for the media WebSocket: its hash, and until when it may be used.
    stream_token_hash: str | None = Field(default=None, max_length=64, index=True)
    stream_token_expires_at: datetime | None = utc_field(default=None)


class TranscriptTurn(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    call_id: str = Field(foreign_key="call.id", index=True)
    seq: int
    role: str = Field(max_length=16)  # "caller" | "agent" | "system"
    text: str = phi_field(max_length=16000)
    at: datetime = utc_field(default_factory=utcnow)
    interrupted: bool = False
