"""Call metrics of a clinic, per local day: calls handled, handle time, transfers and why,
booking completion, after-hours calls answered, and per-turn latency.

Definitions (what the dashboard shows):
- handled: calls that ended (any direction);
- handle time: ended - started;
- transfer rate: transferred / handled;
- booking completion: calls that booked or rescheduled / calls with booking intent (the agent
  searched for or tried to book or move a slot, or the call booked);
- after hours: inbound calls answered (not abandoned or failed) outside the clinic's business
  hours or on a holiday;
- turn latency: end of the caller's speech → first audio of the answer sent (``first_media_ms``
  of each turn), p50 and p95 by nearest rank.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from core.db import Database
from core.models import Call, CallDirection, CallOutcome, Clinic, ClinicHoliday
from core.scheduling import NotFound

BOOKING_TOOLS = frozenset({"find_slots", "book_appointment", "reschedule_appointment"})
BOOKED = frozenset({CallOutcome.BOOKED, CallOutcome.RESCHEDULED})
NOT_ANSWERED = frozenset({CallOutcome.ABANDONED, CallOutcome.FAILED})
LATENCY_KEY = "first_media_ms"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def is_open(hours: dict[str, list[list[str]]], holidays: set[date], moment: datetime) -> bool:
    """Whether the clinic is open at ``moment`` (local time)."""
    if moment.date() in holidays:
        return False
    now = moment.time()
    return any(
        time.fromisoformat(start) <= now < time.fromisoformat(end)
        for start, end in hours.get(_WEEKDAYS[moment.weekday()], [])
    )


@dataclass
class Tally:
    """The figures of one day (or of a whole period)."""

    calls_handled: int = 0
    handle_seconds: float = 0.0
    transfers: int = 0
    transfer_reasons: Counter[str] = field(default_factory=Counter)
    booking_intent: int = 0
    bookings: int = 0
    after_hours_answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, call: Call, after_hours: bool) -> None:
        if call.ended_at is None or call.outcome == CallOutcome.IN_PROGRESS:
            return
        self.calls_handled += 1
        self.handle_seconds += max(0.0, (call.ended_at - call.started_at).total_seconds())
        if call.outcome == CallOutcome.TRANSFERRED:
            self.transfers += 1
            self.transfer_reasons[call.transfer_reason or "unspecified"] += 1
        booked = call.outcome in BOOKED
        if booked or BOOKING_TOOLS.intersection(call.tools_used):
            self.booking_intent += 1
            self.bookings += booked
        if after_hours and call.outcome not in NOT_ANSWERED:
            self.after_hours_answered += 1
        for turn in call.turn_latencies:
            value = turn.get(LATENCY_KEY)
            if isinstance(value, int | float) and value >= 0:
                self.latencies_ms.append(float(value))

    def summary(self) -> dict[str, object]:
        handled = self.calls_handled
        return {
            "calls_handled": handled,
            "average_handle_seconds": round(self.handle_seconds / handled, 1) if handled else None,
            "transfers": self.transfers,
            "transfer_rate": round(self.transfers / handled, 4) if handled else None,
            "transfer_reasons": dict(self.transfer_reasons.most_common()),
            "booking_intent_calls": self.booking_intent,
            "bookings": self.bookings,
            "booking_completion_rate": (
                round(self.bookings / self.booking_intent, 4) if self.booking_intent else None
            ),
            "after_hours_answered": self.after_hours_answered,
            "turns": len(self.latencies_ms),
            "turn_latency_p50_ms": percentile(self.latencies_ms, 50),
            "turn_latency_p95_ms": percentile(self.latencies_ms, 95),
        }


@dataclass(frozen=True)
class ClinicMetrics:
    time_zone: str
    start: date
    end: date  # inclusive
    total: dict[str, object]
    days: list[dict[str, object]]


async def clinic_metrics(db: Database, clinic_id: str, start: date, end: date) -> ClinicMetrics:
    """The clinic's figures for local days ``start`` … ``end`` (inclusive), per day and total."""
    async with db.read() as session:
        clinic = await session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound("unknown clinic")
        zone = ZoneInfo(clinic.time_zone)
        since = datetime.combine(start, time(), zone).astimezone(UTC)
        until = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC)
        calls = (
            await session.exec(
                select(Call).where(
                    Call.clinic_id == clinic_id, Call.started_at >= since, Call.started_at < until
                )
            )
        ).all()
        holidays = {
            h.day
            for h in await session.exec(
                select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic_id)
            )
        }
    total = Tally()
    per_day = {start + timedelta(days=i): Tally() for i in range((end - start).days + 1)}
    for call in calls:
        local = call.started_at.astimezone(zone)
        after_hours = call.direction == CallDirection.INBOUND and not is_open(
            clinic.business_hours, holidays, local
        )
        total.add(call, after_hours)
        per_day[local.date()].add(call, after_hours)
    return ClinicMetrics(
        time_zone=clinic.time_zone,
        start=start,
        end=end,
        total=total.summary(),
        days=[{"day": day.isoformat(), **tally.summary()} for day, tally in per_day.items()],
    )
