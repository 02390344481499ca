"""When a message may go out: quiet hours, per-patient caps. Pure functions of the clock.

Quiet hours are in the patient's local time; a message that falls in them is deferred to the
next opening of the send window, never dropped. Caps count what was actually sent to the
patient in the last 24 hours and 7 days (rolling, so a time zone change cannot reset them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SendWindow:
    """Local hours [send_from, send_until) when messages may go out, in ``time_zone``."""

    time_zone: str
    send_from: time = time(8, 0)
    send_until: time = time(20, 0)

    def next_open(self, now: datetime) -> datetime:
        """``now`` if the window is open, else when it next opens (aware, UTC-comparable)."""
        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        if self.send_from <= local.time() < self.send_until:
            return now
        day = local.date() if local.time() < self.send_from else local.date() + DAY
        # fold=0 and a round trip through UTC settle times that DST skips or repeats.
        opening = datetime.combine(day, self.send_from, tzinfo=zone)
        return max(now, opening.astimezone(ZoneInfo("UTC")))


@dataclass(frozen=True)
class Caps:
    per_day: int = 1
    per_week: int = 3


@dataclass(frozen=True)
class Verdict:
    action: Literal["send", "defer", "skip"]
    reason: str = ""
    until: datetime | None = None


def check_caps(sent: Sequence[datetime], now: datetime, caps: Caps) -> Verdict:
    """Send, wait until the daily cap frees up, or skip because the weekly one is full."""
    week = sorted(t for t in sent if now - t < WEEK)
    if len(week) >= caps.per_week:
        return Verdict("skip", "weekly_cap")
    day = [t for t in week if now - t < DAY]
    if len(day) >= caps.per_day:
        return Verdict("defer", "daily_cap", until=day[-caps.per_day] + DAY)
    return Verdict("send")


def decide(
    *,
    now: datetime,
    window: SendWindow,
    caps: Caps,
    sent: Sequence[datetime],
    opted_out: bool,
    has_phone: bool,
    deadline: datetime | None = None,
) -> Verdict:
    """The verdict for one message now. ``deadline``: past it the message is pointless
    (an appointment reminder after the appointment) and is skipped rather than deferred."""
    if opted_out:
        return Verdict("skip", "opted_out")
    if not has_phone:
        return Verdict("skip", "no_phone")
    verdict = check_caps(sent, now, caps)
    if verdict.action == "skip":
        return verdict
    at = verdict.until or now
    opening = window.next_open(at)
    if opening > now:
        reason = verdict.reason or "quiet_hours"
        if deadline is not None and opening >= deadline:
            return Verdict("skip", f"{reason}_until_deadline")
        return Verdict("defer", reason, until=opening)
    return Verdict("send")
