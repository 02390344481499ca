"""Patient message texts. Minimum necessary: when and with whom, never why (no clinical detail)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

PURPOSES = ("confirmation", "booking_failed", "rescheduled", "reschedule_failed", "cancelled")


@dataclass(frozen=True)
class MessageContext:
    clinic_name: str
    clinic_phone: str
    provider_name: str
    starts_at: datetime
    time_zone: str
    previous_starts_at: datetime | None = None
    # Open times to offer instead, already spoken-style ("Tue, Nov 24 at 9:15 AM with Dr. Lee").
    alternatives: tuple[str, ...] = ()


def spoken_time(at: datetime, time_zone: str) -> str:
    """'Tue, Nov 24 at 9:15 AM' in the clinic's time zone."""
    local = at.astimezone(ZoneInfo(time_zone))
    return f"{local:%a, %b} {local.day} at {local:%I:%M %p}".replace(" 0", " ")


def render(purpose: str, ctx: MessageContext) -> tuple[str, str]:
    """(subject, body) for a purpose in ``PURPOSES``."""
    when = spoken_time(ctx.starts_at, ctx.time_zone)
    before = spoken_time(ctx.previous_starts_at, ctx.time_zone) if ctx.previous_starts_at else when
    call = f" Questions? Call {ctx.clinic_phone}." if ctx.clinic_phone else ""
    offer = "; ".join(ctx.alternatives)
    book_one = f"Call {ctx.clinic_phone} to take one, or our" if ctx.clinic_phone else "Our"
    texts = {
        "confirmation": (
            "Your appointment is booked",
            f"{ctx.clinic_name}: you're booked with {ctx.provider_name} on {when}.{call}",
        ),
        "booking_failed": (
            "We could not complete your booking",
            f"{ctx.clinic_name}: we couldn't complete your booking for {when}. "
            f"Our staff will call you to find a time.{call}",
        ),
        "rescheduled": (
            "Your appointment has moved",
            f"{ctx.clinic_name}: your appointment is moved from {before} to {when} "
            f"with {ctx.provider_name}.{call}",
        ),
        "reschedule_failed": (
            "Your appointment was not changed",
            f"{ctx.clinic_name}: we couldn't move your appointment. Your appointment on {before} "
            f"stands, and our staff will call you.{call}",
        ),
        "cancelled": (
            "Your appointment is cancelled",
            f"{ctx.clinic_name}: your appointment on {when} is cancelled.{call}",
        ),
    }
    if ctx.alternatives:  # the EHR gave the chosen time away: offer others, not a dead end
        texts["booking_failed"] = (
            "That time was just taken",
            f"{ctx.clinic_name}: {when} was just taken, sorry. Open times: {offer}. "
            f"{book_one} staff will call you.",
        )
        texts["reschedule_failed"] = (
            "That time was just taken",
            f"{ctx.clinic_name}: the new time was just taken, so your appointment on {before} "
            f"stands. Open times: {offer}. {book_one} staff will call you.",
        )
    if purpose not in texts:
        raise ValueError(f"unknown message purpose {purpose!r}")
    return texts[purpose]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def speakable_time(at: datetime, time_zone: str) -> str:
    """'Tuesday, November 24th at 9:15 AM' — how the receptionist reads a slot aloud."""
    local = at.astimezone(ZoneInfo(time_zone))
    clock = f"{local:%I:%M %p}".lstrip("0").replace(":00 ", " ")
    return f"{local:%A, %B} {_ordinal(local.day)} at {clock}"
