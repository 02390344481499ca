"""Spoken clock times and time-of-day preferences: "nine fifteen", "9:15", "quarter past
nine", "noon", "after 3", "tomorrow morning".

Without "am"/"pm", an hour is read as the clinic-hours one: 7-11 in the morning, 12-6 after
noon, which is what callers booking a dental visit mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from realtime.agent.rule.numbers import UNITS, ZERO_WORDS, read_cardinal

_COLON_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_BARE_TIME_CUES = frozenset({"at", "after", "before", "around", "about", "by", "until", "til"})
_NOT_TIME_AFTER = frozenset(
    {"week", "weeks", "day", "days", "month", "months", "year", "years", "of", "one", "ones"}
)
_MERIDIEMS = frozenset({"am", "pm"})
_EARLIEST_CUES = ("after", "later than", "no earlier than", "from", "past")
_LATEST_CUES = ("before", "by", "no later than", "earlier than", "until", "til")


@dataclass(frozen=True)
class Clock:
    """A time as spoken; ``meridiem`` is None when the caller did not say am or pm."""

    hour: int  # 1-12, or 0-23 when spoken that way
    minute: int
    meridiem: str | None
    start: int  # token span
    end: int

    def resolve(self) -> time:
        hour = self.hour
        if self.meridiem == "pm" and hour < 12:
            hour += 12
        elif self.meridiem == "am" and hour == 12:
            hour = 0
        elif self.meridiem is None and 1 <= hour <= 6:
            hour += 12  # "at 3" at a dental office is three in the afternoon
        return time(hour % 24, self.minute)

    def matches(self, at: time) -> bool:
        """Whether a slot's local start is this spoken time."""
        if self.meridiem is None and self.hour <= 12:
            return at.hour % 12 == self.hour % 12 and at.minute == self.minute
        return at == self.resolve()


def _meridiem(tokens: list[str], i: int) -> tuple[str | None, int]:
    if i < len(tokens) and tokens[i] in _MERIDIEMS:
        return tokens[i], i + 1
    if tokens[i : i + 3] == ["in", "the", "morning"]:
        return "am", i  # "nine in the morning": leave the day part to be read as well
    if tokens[i : i + 3] in (["in", "the", "afternoon"], ["in", "the", "evening"]):
        return "pm", i
    return None, i


def _hour(tokens: list[str], i: int) -> tuple[int, int] | None:
    reading = read_cardinal(tokens, i)
    if reading is None or not 1 <= reading[0] <= 12:
        return None
    return reading


def read_clock(tokens: list[str], i: int, *, bare: bool = False) -> Clock | None:
    """A clock time starting at ``tokens[i]``. A lone hour ("3") only counts when ``bare``."""
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token in ("noon", "midday"):
        return Clock(12, 0, "pm", i, i + 1)
    colon = _COLON_TIME.match(token)
    if colon:
        hours, minutes = int(colon.group(1)), int(colon.group(2))
        if hours > 23 or minutes > 59:
            return None
        meridiem, end = _meridiem(tokens, i + 1)
        return Clock(hours, minutes, meridiem, i, end)
    if token in ("quarter", "half") and i + 2 < len(tokens):
        relation = tokens[i + 1]
        hour = _hour(tokens, i + 2)
        if hour is None or relation not in ("past", "after", "to", "til", "till", "before"):
            return None
        meridiem, end = _meridiem(tokens, hour[1])
        if relation in ("past", "after"):
            return Clock(hour[0], 15 if token == "quarter" else 30, meridiem, i, end)
        if token == "half":
            return None
        return Clock((hour[0] - 2) % 12 + 1, 45, meridiem, i, end)
    hour = _hour(tokens, i)
    if hour is None:
        return None
    j = hour[1]
    if j < len(tokens) and tokens[j] == "oclock":
        meridiem, end = _meridiem(tokens, j + 1)
        return Clock(hour[0], 0, meridiem, i, end)
    minute = _minutes(tokens, j)
    if minute is not None:
        meridiem, end = _meridiem(tokens, minute[1])
        return Clock(hour[0], minute[0], meridiem, i, end)
    meridiem, end = _meridiem(tokens, j)
    if meridiem is not None and end > j:
        return Clock(hour[0], 0, meridiem, i, end)
    if bare and (j >= len(tokens) or tokens[j] not in _NOT_TIME_AFTER):
        return Clock(hour[0], 0, meridiem, i, end)
    return None


def _minutes(tokens: list[str], j: int) -> tuple[int, int] | None:
    """The minutes after an hour: "fifteen", "oh five", "45" (not a lone "three")."""
    if j >= len(tokens):
        return None
    if tokens[j] in ZERO_WORDS and j + 1 < len(tokens):
        unit = UNITS.get(tokens[j + 1])
        if unit is not None and 1 <= unit <= 9:
            return unit, j + 2
        return None
    if tokens[j] == "hundred":  # "nine hundred"
        return 0, j + 1
    reading = read_cardinal(tokens, j)
    if reading is None or not 10 <= reading[0] <= 59:
        return None
    if tokens[j].isdigit() and len(tokens[j]) != 2:
        return None
    return reading


def find_clocks(tokens: list[str]) -> list[Clock]:
    """Every clock time mentioned, left to right."""
    found: list[Clock] = []
    i = 0
    while i < len(tokens):
        bare = (i > 0 and tokens[i - 1] in _BARE_TIME_CUES) or tokens[i + 1 : i + 3] in (
            ["or", "later"],
            ["or", "earlier"],
        )
        clock = read_clock(tokens, i, bare=bare)
        if clock is None:
            i += 1
            continue
        found.append(clock)
        i = max(clock.end, i + 1)
    return found


@dataclass(frozen=True)
class TimeWish:
    """When in the day a caller wants to come in."""

    day_part: str | None = None  # "morning", "afternoon" or "evening"
    earliest: time | None = None
    latest: time | None = None
    exact: time | None = None

    @property
    def empty(self) -> bool:
        return self == TimeWish()

    def accepts(self, at: time) -> bool:
        if self.earliest is not None and at < self.earliest:
            return False
        return self.latest is None or at < self.latest


_PART_WORDS = (
    ("morning", ("morning", "mornings", "first thing")),
    ("afternoon", ("afternoon", "afternoons", "after lunch", "lunchtime", "lunch", "midday")),
    ("evening", ("evening", "evenings", "tonight", "after work")),
)
_GREETINGS = re.compile(r"\bgood (morning|afternoon|evening)\b")


def _day_part(text: str) -> str | None:
    padded = f" {_GREETINGS.sub(' ', text)} "
    for part, words in _PART_WORDS:
        if any(f" {w} " in padded for w in words):
            return part
    return None


def _part_for(at: time) -> str:
    if at < time(12):
        return "morning"
    return "afternoon" if at < time(17) else "evening"


def parse_time_wish(text: str) -> TimeWish:
    """Time-of-day preferences; an empty wish when the text names none."""
    tokens = text.split()
    part = _day_part(text)
    earliest = latest = exact = None
    for clock in find_clocks(tokens):
        before = " ".join(tokens[max(0, clock.start - 3) : clock.start])
        at = clock.resolve()
        if before.endswith(_EARLIEST_CUES) or tokens[clock.end : clock.end + 2] == ["or", "later"]:
            earliest = at
        elif before.endswith(_LATEST_CUES) or tokens[clock.end : clock.end + 2] == [
            "or",
            "earlier",
        ]:
            latest = at
        else:
            exact = at
    if part is None:
        if exact is not None:
            part = _part_for(exact)
        elif earliest is not None and earliest >= time(17):
            part = "evening"
        elif earliest is not None and earliest >= time(12):
            part = "afternoon"
        elif latest is not None and latest <= time(12):
            part = "morning"
    return TimeWish(part, earliest, latest, exact)
