"""The messages crossing into and out of the reminder, campaign and outreach workflows.

Rules that tests need to shrink (reminder offsets, the send window, how long to wait for a
reply) are inputs, so a test runs in seconds what production runs over days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Kind = Literal["reminder", "recall", "confirm", "no_show", "reply"]


@dataclass(frozen=True)
class Window:
    """The patient's local send window ("HH:MM"), overriding the clinic's configuration."""

    send_from: str
    send_until: str
    time_zone: str | None = None  # None: the clinic's


@dataclass(frozen=True)
class Contact:
    """One message or call to one patient, and everything an activity needs to make it."""

    clinic_id: str
    patient_id: str
    kind: Kind
    template: str  # text with {placeholders}
    appointment_id: str | None = None
    campaign_id: str | None = None
    target_id: str | None = None
    window: Window | None = None
    deadline: datetime | None = None  # pointless after this (a reminder after the visit)


@dataclass(frozen=True)
class VerdictInput:
    contact: Contact
    channel: Literal["sms", "voice"]
    step: str  # unique within the workflow: keys the recorded deferral or skip


@dataclass(frozen=True)
class Verdict:
    action: Literal["send", "defer", "skip"]
    reason: str = ""
    until: datetime | None = None


@dataclass(frozen=True)
class SendInput:
    contact: Contact
    step: str  # unique within the workflow: the message's idempotency key


@dataclass(frozen=True)
class SendResult:
    status: Literal["sent", "skipped", "defer"]
    reason: str = ""
    attempt_id: str | None = None
    until: datetime | None = None  # "defer": when the rules allow it


@dataclass(frozen=True)
class CallPlaced:
    status: Literal["calling", "skipped"]
    call_sid: str | None = None
    reason: str = ""
    # The embedded dialer has no phone network: it reports at once what "happened".
    simulated: str | None = None


@dataclass(frozen=True)
class CallInput:
    contact: Contact
    step: str
    call_sid: str | None = None


@dataclass(frozen=True)
class Reply:
    """An inbound SMS routed to this workflow by the webhook."""

    meaning: Literal["stop", "confirm", "reschedule", "start", "other"]
    message_sid: str


@dataclass(frozen=True)
class CallEvent:
    """From Twilio's callbacks: ``answered_by`` (AMD) or a call ``status``."""

    call_sid: str
    answered_by: str | None = None  # "human", "machine_end_beep", "fax", "unknown", ...
    status: str | None = None  # "completed", "busy", "no-answer", "failed", "canceled"


@dataclass(frozen=True)
class ReplyAction:
    contact: Contact
    meaning: Literal["confirm", "reschedule"]
    step: str


@dataclass(frozen=True)
class TargetUpdate:
    target_id: str
    status: str  # a core.models.TargetStatus value
    outcome: str | None = None


# --- reminders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderOffset:
    before_seconds: float
    channel: Literal["sms", "voice"] = "sms"


@dataclass(frozen=True)
class ReminderInput:
    clinic_id: str
    appointment_id: str
    patient_id: str
    starts_at: datetime
    offsets: list[ReminderOffset]
    template: str
    window: Window | None = None
    voicemail_template: str = ""


@dataclass(frozen=True)
class Reschedule:
    appointment_id: str
    starts_at: datetime


@dataclass(frozen=True)
class ReminderState:
    appointment_id: str
    starts_at: datetime
    cancelled: bool
    sent: list[str] = field(default_factory=list)  # offsets done, "72h@<iso start>"


# --- campaigns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutreachInput:
    contact: Contact
    channel: Literal["sms", "voice", "sms_then_voice"]
    parent_id: str | None = None  # the campaign run to tell when done
    reply_window_seconds: float = 48 * 3600
    call_timeout_seconds: float = 600
    voicemail_template: str = ""


@dataclass(frozen=True)
class OutreachOutcome:
    target_id: str | None
    status: str  # a core.models.TargetStatus value
    reason: str = ""


@dataclass(frozen=True)
class RunSettings:
    """A campaign run's settings, fixed when it starts."""

    campaign_id: str
    clinic_id: str
    channel: Literal["sms", "voice", "sms_then_voice"]
    kind: Kind
    template: str
    window: Window | None = None
    reply_window_seconds: float = 48 * 3600
    voicemail_template: str = ""
    in_flight: int = 100  # the sliding window
    page_size: int = 200
    # Well under the 51,200-event limit, and small enough that replaying a run after a cache
    # eviction stays quick (a run's history is ~370 bytes an event).
    events_before_continue: int = 4_000


@dataclass(frozen=True)
class CampaignRunInput:
    campaign_id: str
    # Test/bench overrides of the clinic's rules; None: from configuration.
    window: Window | None = None
    reply_window_seconds: float | None = None
    events_before_continue: int | None = None
    # Carried across continue-as-new:
    settings: RunSettings | None = None
    total: int = 0
    next_seq: int = 0
    running: list[str] = field(default_factory=list)  # target ids in flight
    done: int = 0
    paused: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class PreparedRun:
    settings: RunSettings
    total: int


@dataclass(frozen=True)
class PrepareInput:
    campaign_id: str
    run_key: str
    window: Window | None = None
    reply_window_seconds: float | None = None


@dataclass(frozen=True)
class PageInput:
    run_key: str
    from_seq: int
    limit: int


@dataclass(frozen=True)
class PagedTarget:
    target_id: str
    seq: int
    patient_id: str
    appointment_id: str | None


@dataclass(frozen=True)
class TargetDone:
    target_id: str
    status: str


@dataclass(frozen=True)
class RunFinished:
    campaign_id: str
    run_key: str
    status: Literal["completed", "cancelled", "failed"]
    error: str | None = None
