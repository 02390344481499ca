"""The dialer protocol: place a call that Twilio (or the embedded dialer) connects to us.

A placed call reports back through callbacks: the answer URL (which returns TwiML: the media
stream for a person), answering-machine detection (``AnsweredBy``), and the call status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundCall:
    clinic_id: str
    to: str  # the patient's E.164 number (PHI: never logged)
    from_: str  # the clinic's number
    answer_url: str
    status_callback_url: str
    amd_callback_url: str


@dataclass(frozen=True)
class PlacedCall:
    call_sid: str
    # Set by dialers without a phone network: what happened at once ("voicemail", ...).
    simulated: str | None = None


class Dialer(Protocol):
    """Places calls and can replace what a live call is doing (e.g. play a voicemail)."""

    async def place(self, call: OutboundCall) -> PlacedCall: ...

    async def play(self, call_sid: str, twiml: str) -> None: ...
