"""The messages that cross into and out of workflows.

Plain frozen dataclasses, one per boundary, so fields with defaults can be added later without
breaking running workflows. They may carry PHI (patient details, transcripts): payloads are
encrypted by the data converter; ids and search attributes never carry PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class PatientDetails:
    first_name: str
    last_name: str
    date_of_birth: str  # ISO date
    phone: str | None = None
    email: str | None = None
    insurance_payer: str | None = None
    insurance_member_id: str | None = None


# --- booking and rescheduling ---------------------------------------------------------------


@dataclass(frozen=True)
class BookingInput:
    clinic_id: str
    request_id: str
    hold_id: str
    patient_id: str | None = None  # a known patient, or
    new_patient: PatientDetails | None = None  # details to match or create one
    reschedule_of: str | None = None  # appointment id being moved
    call_sid: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class BookingAccepted:
    appointment_id: str
    patient_id: str
    provider_name: str
    appointment_type: str
    starts_at: datetime
    time_zone: str


@dataclass(frozen=True)
class BookingOutcome:
    status: Literal["booked", "rejected", "failed"]
    accepted: BookingAccepted | None = None
    reason: str | None = None
    external_id: str | None = None


# --- cancellation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelInput:
    clinic_id: str
    appointment_id: str
    reason: str = "patient request"
    call_sid: str | None = None


@dataclass(frozen=True)
class CancelAccepted:
    appointment_id: str
    starts_at: datetime
    time_zone: str


@dataclass(frozen=True)
class CancelOutcome:
    status: Literal["cancelled", "rejected", "failed"]
    reason: str | None = None


# --- eligibility ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityInput:
    clinic_id: str
    request_id: str
    payer: str
    member_id: str
    first_name: str
    last_name: str
    date_of_birth: str
    patient_id: str | None = None
    call_sid: str | None = None


@dataclass(frozen=True)
class EligibilityOutcome:
    status: Literal["active", "inactive", "unverified"]
    payer: str
    plan_name: str | None = None
    reason: str | None = None


# --- call wrap-up -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    role: Literal["caller", "agent", "system"]
    text: str
    at: datetime
    interrupted: bool = False


@dataclass(frozen=True)
class SessionReport:
    """Sent by the voice loop when its session ends."""

    ended_at: datetime
    outcome: str
    transcript: list[TranscriptLine] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    turn_latencies: list[dict[str, float]] = field(default_factory=list)
    failovers: list[str] = field(default_factory=list)
    patient_id: str | None = None
    transfer_reason: str | None = None
    insurance_unverified: bool = False


@dataclass(frozen=True)
class CallStatusUpdate:
    """Sent by the Twilio status webhook."""

    status: str  # "completed", "busy", "no-answer", "failed", "canceled"
    at: datetime
    duration_seconds: int | None = None


@dataclass(frozen=True)
class WrapUpInput:
    clinic_id: str
    call_sid: str
    from_number: str | None = None
    to_number: str | None = None
    direction: str = "inbound"
    started_at: datetime | None = None
    # How long to wait for the voice loop's report after Twilio says the call is over.
    report_grace_seconds: float = 30.0


@dataclass(frozen=True)
class WrapUpOutcome:
    call_id: str
    summary: str
    crm_note_id: str | None
    staff_tasks: int
