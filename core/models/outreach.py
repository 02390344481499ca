"""Outbound outreach: campaigns, their targets, every attempt (sent or skipped, with the
reason), opt-outs, per-clinic outreach settings and the send-rate buckets.

Phone numbers never appear in plain text outside PHI columns: opt-outs and reply routing use
the blind index (``core.campaigns.phones.phone_key``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from core.models.base import new_id, phi_field, utc_field, utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"  # created; nothing scheduled
    SCHEDULED = "scheduled"  # its Temporal Schedule exists
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"  # e.g. the template did not render: nothing was sent


class Campaign(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    name: str = Field(max_length=120)
    audience: str = Field(max_length=48)  # a core.campaigns.targets.AUDIENCES key
    channel: str = Field(max_length=16)  # "sms" | "voice" | "sms_then_voice"
    template: str = Field(max_length=1000)  # message text with {placeholders}
    # None: run once as soon as started. Else a cron expression in the clinic's time zone.
    cron: str | None = Field(default=None, max_length=120)
    start_at: datetime | None = utc_field(default=None)  # a one-off run at this time
    max_targets: int = 10_000
    window: int = 100  # children in flight at once
    status: CampaignStatus = Field(default=CampaignStatus.DRAFT, sa_type=AutoString)
    error: str | None = Field(default=None, max_length=500)  # no PHI
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_field(default_factory=utcnow)
    updated_at: datetime = utc_field(default_factory=utcnow)


class TargetStatus(StrEnum):
    PENDING = "pending"
    CONTACTED = "contacted"  # a message went out (or a call was placed)
    CONFIRMED = "confirmed"
    REBOOKED = "rebooked"  # asked to reschedule, or rebooked on a call
    OPTED_OUT = "opted_out"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutreachTarget(SQLModel, table=True):
    """One patient of one campaign run; its id is the outreach workflow's key."""

    __table_args__ = (UniqueConstraint("run_key", "patient_id"), UniqueConstraint("run_key", "seq"))

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    campaign_id: str = Field(foreign_key="campaign.id", index=True)
    run_key: str = Field(max_length=200, index=True)  # the campaign run's workflow id
    seq: int
    patient_id: str = Field(foreign_key="patient.id", index=True)
    appointment_id: str | None = Field(default=None, foreign_key="appointment.id")
    reason: str = Field(max_length=200)  # why targeted; no clinical detail
    status: TargetStatus = Field(default=TargetStatus.PENDING, sa_type=AutoString)
    outcome: str | None = Field(default=None, max_length=64)  # skip reason, failure type
    updated_at: datetime = utc_field(default_factory=utcnow)


class AttemptStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    CALLED = "called"  # an outbound call was placed
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"


class OutreachAttempt(SQLModel, table=True):
    """Everything outreach sent, deferred or skipped, with the reason."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    patient_id: str | None = Field(default=None, foreign_key="patient.id", index=True)
    kind: str = Field(max_length=32)  # "reminder", "recall", "confirm", "no_show", "reply"
    channel: str = Field(max_length=16)  # "sms" | "voice"
    status: AttemptStatus = Field(sa_type=AutoString)
    reason: str | None = Field(default=None, max_length=64)  # why skipped/deferred/failed
    campaign_id: str | None = Field(default=None, foreign_key="campaign.id", index=True)
    target_id: str | None = Field(default=None, foreign_key="outreachtarget.id", index=True)
    appointment_id: str | None = Field(default=None, foreign_key="appointment.id")
    workflow_id: str = Field(max_length=255, index=True)
    # One per message/call: a retried activity finds its own attempt instead of adding one.
    idempotency_key: str = Field(unique=True, max_length=255)
    outbox_id: str | None = Field(default=None, foreign_key="outboxmessage.id")
    provider_id: str | None = Field(default=None, max_length=64, index=True)  # SM…/CA… sid
    phone_index: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = utc_field(default_factory=utcnow, index=True)
    updated_at: datetime = utc_field(default_factory=utcnow)


class OptOut(SQLModel, table=True):
    """A number that said STOP to this clinic; honoured by every message path."""

    __table_args__ = (UniqueConstraint("clinic_id", "phone_index"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    phone_index: str = Field(max_length=64)
    keyword: str = Field(max_length=32)  # "STOP", "UNSUBSCRIBE", ... or "staff"
    created_at: datetime = utc_field(default_factory=utcnow)


class OutreachSettings(SQLModel, table=True):
    """A clinic's outreach configuration (``core.campaigns.config.OutreachConfig``)."""

    clinic_id: str = Field(foreign_key="clinic.id", primary_key=True)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class SendBucket(SQLModel, table=True):
    """Messages started per clinic, channel and minute: the per-clinic send-rate limit."""

    __table_args__ = (UniqueConstraint("clinic_id", "channel", "minute"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    channel: str = Field(max_length=16)
    minute: datetime = utc_field()
    count: int = 0


class InboundReply(SQLModel, table=True):
    """An SMS a patient sent us, and where it was routed."""

    id: str = Field(default_factory=new_id, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    message_sid: str = Field(unique=True, max_length=64)  # Twilio retries carry the same sid
    phone_index: str = Field(max_length=64, index=True)
    body: str = phi_field(max_length=2000)
    meaning: str = Field(max_length=16)
    routed_to: str | None = Field(default=None, max_length=255)  # workflow id
    received_at: datetime = utc_field(default_factory=utcnow)
