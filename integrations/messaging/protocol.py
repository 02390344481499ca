"""The messaging protocol: SMS and e-mail to patients.

Every message is first recorded in the outbox table under its idempotency key (derived from
workflow id + activity id); a sender is only asked to deliver a message the outbox has not
marked sent, so a retried activity never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    clinic_id: str
    channel: str  # "sms" | "email"
    recipient: str  # E.164 number or e-mail address
    body: str
    purpose: str  # "confirmation", "booking_failed", "reminder", ...
    idempotency_key: str
    patient_id: str | None = None
    subject: str | None = None  # e-mail only
    sender: str | None = None  # the clinic's number or address, when the channel needs one


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class MessageSender(Protocol):
    """Delivers one message. Raise ``PermanentError`` for an undeliverable recipient."""

    async def send(self, message: OutgoingMessage) -> SendResult: ...
