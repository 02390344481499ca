"""What a call summariser gets and gives.

The input is PHI (the transcript): summarisers send it only to the provider that writes the
summary and never log it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.summary import CallFacts


@dataclass(frozen=True)
class SummaryRequest:
    clinic_name: str
    time_zone: str
    facts: CallFacts
    transcript: list[tuple[str, str]]  # (role "caller" | "agent", text), in order


@dataclass(frozen=True)
class BookingDetails:
    action: str  # "booked" | "rescheduled" | "cancelled"
    appointment_type: str = ""
    provider: str = ""
    when: str = ""  # as said on the call, e.g. "Tuesday, March 3rd at 9 AM"


@dataclass(frozen=True)
class StructuredSummary:
    """A summary staff can act on: why they called, what happened, what is left to do."""

    intent: str
    outcome: str
    booking: BookingDetails | None = None
    follow_ups: list[str] = field(default_factory=list)
    notes: str = ""

    def render(self) -> str:
        parts = [f"Intent: {self.intent}.", f"Outcome: {self.outcome}."]
        if self.booking is not None:
            details = " ".join(
                part
                for part in (
                    self.booking.appointment_type,
                    f"with {self.booking.provider}" if self.booking.provider else "",
                    f"on {self.booking.when}" if self.booking.when else "",
                )
                if part
            )
            parts.append(f"Booking: {self.booking.action} {details}.".replace(" .", "."))
        parts.append(
            "Follow-ups: " + ("; ".join(self.follow_ups) if self.follow_ups else "none") + "."
        )
        if self.notes:
            parts.append(f"Notes: {self.notes}")
        return " ".join(p.replace("..", ".") for p in parts)


class CallSummarizer(Protocol):
    """Writes one call's summary; raises on failure (the caller falls back to the rules)."""

    async def summarize(self, call: SummaryRequest) -> str: ...
