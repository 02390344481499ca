"""Spoken dates: which days a caller wants ("next Tuesday", "on the 24th", "any time next
week") and dates of birth ("March third nineteen eighty", "three three eighty", "03/03/1980").

Pure functions of the text and the clinic-local ``today``; nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from realtime.agent.rule.numbers import (
    read_cardinal,
    read_day_number,
    read_ordinal,
    read_padded,
    read_year,
)

MONTHS: dict[str, int] = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "tues": 1,
    "wednesday": 2,
    "thursday": 3,
    "thurs": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
WEEKDAY_PLURALS = {f"{name}s": number for name, number in WEEKDAYS.items() if len(name) > 5}
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DASHED = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{2}|\d{4})$")
# Words after an ordinal that make it an option choice or a visit, not a day of the month.
_NOT_A_DAY_AFTER = frozenset(
    {"one", "option", "visit", "time", "available", "opening", "appointment", "thing"}
)
_FLEXIBLE = (
    "as soon as possible",
    "asap",
    "soonest",
    "earliest",
    "first available",
    "next available",
    "any day",
    "anytime",
    "any time",
    "whenever",
    "doesnt matter",
    "dont mind",
    "no preference",
    "flexible",
)


@dataclass(frozen=True)
class DayWish:
    """Days a caller would accept. All None means "any day, the sooner the better"."""

    first: date | None = None
    last: date | None = None
    weekday: int | None = None  # only that weekday within first..last (0 = Monday)

    @property
    def single_day(self) -> date | None:
        return self.first if self.first is not None and self.first == self.last else None


def local_date(now: datetime, time_zone: str) -> date:
    """The clinic's calendar day at ``now``: what "today" and "tomorrow" count from."""
    return now.astimezone(ZoneInfo(time_zone)).date()


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _next_with_day(today: date, day_of_month: int) -> date | None:
    """The next date (today included) falling on that day of a month."""
    year, month = today.year, today.month
    for _ in range(3):
        candidate = _safe_date(year, month, day_of_month)
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _upcoming(today: date, month: int, day_of_month: int) -> date | None:
    """That month and day this year, or next year once it has passed."""
    this_year = _safe_date(today.year, month, day_of_month)
    if this_year is not None and this_year >= today:
        return this_year
    return _safe_date(today.year + 1, month, day_of_month)


def _calendar_day(tokens: list[str], today: date) -> date | None:
    """An explicit date: "march third", "the 3rd of march", "12/1", "on the 24th"."""
    for i, token in enumerate(tokens):
        slashed = _SLASHED.match(token)
        if slashed and not slashed.group(3):
            return _upcoming(today, int(slashed.group(1)), int(slashed.group(2)))
        if token in MONTHS and not (token == "may" and _may_is_verb(tokens, i)):
            j = i + 1 + (i + 1 < len(tokens) and tokens[i + 1] == "the")
            day = read_day_number(tokens, j)
            if day is not None and 1 <= day[0] <= 31:
                return _upcoming(today, MONTHS[token], day[0])
            before = _day_before_month(tokens, i)
            if before is not None:
                return _upcoming(today, MONTHS[token], before)
    for i in range(len(tokens)):
        day = read_ordinal(tokens, i)
        if day is None or not 1 <= day[0] <= 31:
            continue
        after = tokens[day[1]] if day[1] < len(tokens) else ""
        spoken_as_date = i > 0 and tokens[i - 1] in ("the", "on")
        if spoken_as_date and after not in _NOT_A_DAY_AFTER and after not in MONTHS:
            return _next_with_day(today, day[0])
    return None


def _may_is_verb(tokens: list[str], i: int) -> bool:
    """'may I book' or 'I may need' rather than the month."""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    return after in ("i", "we", "be", "have", "need", "want", "get", "come", "book", "")


def _day_before_month(tokens: list[str], month_index: int) -> int | None:
    """The day in "the third of march" or "3rd march"."""
    j = month_index - 1
    if j >= 0 and tokens[j] == "of":
        j -= 1
    for start in (j - 1, j):  # "twenty fourth" spans two tokens
        if start < 0:
            continue
        day = read_ordinal(tokens, start) or read_cardinal(tokens, start)
        if day is not None and day[1] == j + 1 and 1 <= day[0] <= 31:
            return day[0]
    return None


_NEGATING = frozenset({"not", "except", "besides", "excluding", "but", "no"})


def _negated(tokens: list[str], i: int) -> bool:
    """ "not on Monday", "except Mondays", "anything but Monday", "other than a Monday"."""
    j = i - 1
    while j >= 0 and tokens[j] in ("on", "a", "the"):
        j -= 1
    if j < 0:
        return False
    return tokens[j] in _NEGATING or (tokens[j] == "than" and j > 0 and tokens[j - 1] == "other")


def avoided_weekdays(tokens: list[str]) -> set[int]:
    return {
        WEEKDAYS.get(token, WEEKDAY_PLURALS.get(token, -1))
        for i, token in enumerate(tokens)
        if (token in WEEKDAYS or token in WEEKDAY_PLURALS) and _negated(tokens, i)
    }


def _weekday_day(tokens: list[str], today: date) -> DayWish | None:
    """The last weekday mentioned (not one ruled out), with "this", "next" or a plural."""
    found: tuple[int, int, bool] | None = None  # (index, weekday, recurring)
    for i, token in enumerate(tokens):
        if (token in WEEKDAYS or token in WEEKDAY_PLURALS) and _negated(tokens, i):
            continue
        if token in WEEKDAYS:
            found = (i, WEEKDAYS[token], False)
        elif token in WEEKDAY_PLURALS:
            found = (i, WEEKDAY_PLURALS[token], True)
    if found is None:
        return None
    i, weekday, recurring = found
    before = tokens[i - 1] if i > 0 else ""
    if recurring or before in ("every", "any"):
        return DayWish(first=today + timedelta(days=1), weekday=weekday)
    text = " ".join(tokens)
    offset = (weekday - today.weekday()) % 7
    if before == "next" or " next week" in f" {text}":
        # "next Tuesday" is Tuesday of next calendar week, as most US callers mean it.
        day = _week_start(today) + timedelta(days=7 + weekday)
    elif "week after next" in text:
        day = _week_start(today) + timedelta(days=14 + weekday)
    elif before == "this" or (i > 1 and tokens[i - 2 : i] == ["this", "coming"]):
        day = today + timedelta(days=offset)
    else:
        day = today + timedelta(days=offset or 7)  # a bare "Tuesday" on a Tuesday is next week
    return DayWish(day, day)


def _relative_day(text: str, today: date) -> DayWish | None:
    padded = f" {text} "
    if " day after tomorrow " in padded:
        day = today + timedelta(days=2)
        return DayWish(day, day)
    if " tomorrow " in padded:
        day = today + timedelta(days=1)
        return DayWish(day, day)
    if " today " in padded or " this afternoon " in padded or " this morning " in padded:
        return DayWish(today, today)
    if " tonight " in padded or " this evening " in padded:
        return DayWish(today, today)
    return None


def _week_range(text: str, today: date) -> DayWish | None:
    padded = f" {text} "
    monday = _week_start(today)
    if " week after next " in padded or " in two weeks " in padded or " couple of weeks " in padded:
        start = monday + timedelta(days=14)
        return DayWish(start, start + timedelta(days=6))
    if " early next week " in padded or " beginning of next week " in padded:
        start = monday + timedelta(days=7)
        return DayWish(start, start + timedelta(days=2))
    if " end of next week " in padded or " late next week " in padded:
        start = monday + timedelta(days=10)
        return DayWish(start, start + timedelta(days=3))
    if " next week " in padded:
        start = monday + timedelta(days=7)
        return DayWish(start, start + timedelta(days=6))
    if " this week " in padded or " end of the week " in padded or " later this week " in padded:
        return DayWish(today, monday + timedelta(days=6))
    if " next month " in padded:
        first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
        return DayWish(first, last)
    if " this month " in padded:
        last = date(today.year + today.month // 12, today.month % 12 + 1, 1) - timedelta(days=1)
        return DayWish(today, last)
    return None


def parse_day_wish(text: str, today: date) -> DayWish | None:
    """The days a caller asks for, or None when the text names no day at all."""
    tokens = text.split()
    joined = " ".join(tokens)
    calendar = _calendar_day(tokens, today)
    if calendar is not None and " week of " in f" {joined} ":
        return DayWish(max(_week_start(calendar), today), _week_start(calendar) + timedelta(days=6))
    if calendar is not None:
        return DayWish(calendar, calendar)
    relative = _relative_day(joined, today)
    if relative is not None:
        return relative
    weekday = _weekday_day(tokens, today)
    if weekday is not None:
        return weekday
    week = _week_range(joined, today)
    if week is not None and week.first is not None and week.last is not None:
        # "next week but not Monday": a range starting on a day ruled out starts after it.
        avoided, first = avoided_weekdays(tokens), week.first
        while first.weekday() in avoided and first < week.last:
            first += timedelta(days=1)
        return DayWish(first, week.last)
    if week is not None:
        return week
    if any(f" {p} " in f" {joined} " for p in _FLEXIBLE):
        return DayWish()
    return None


# --- dates of birth ---------------------------------------------------------------------------


def _numeric_dob(token: str, today: date) -> date | None:
    iso = _ISO.match(token)
    if iso:
        return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    slashed = _SLASHED.match(token) or _DASHED.match(token)
    if slashed and slashed.group(3):
        year = read_year([slashed.group(3)], 0, today.year)
        if year is not None:
            return _safe_date(year[0], int(slashed.group(1)), int(slashed.group(2)))
    return None


def _month_name_dob(tokens: list[str], today: date) -> date | None:
    for i, token in enumerate(tokens):
        if token not in MONTHS or (token == "may" and _may_is_verb(tokens, i)):
            continue
        month = MONTHS[token]
        # "the fourteenth of march nineteen eighty five": the day came first, the year follows
        before = _day_before_month(tokens, i)
        if before is not None:
            k = i + 1 + (i + 1 < len(tokens) and tokens[i + 1] in ("of", "in"))
            year = read_year(tokens, k, today.year)
            if year is not None:
                return _safe_date(year[0], month, before)
        j = i + 1 + (i + 1 < len(tokens) and tokens[i + 1] == "the")
        day = read_day_number(tokens, j)
        if day is not None and 1 <= day[0] <= 31:
            k = day[1] + (day[1] < len(tokens) and tokens[day[1]] in ("of", "in"))
            year = read_year(tokens, k, today.year) or _year_ending_at(tokens, i, today.year)
            if year is not None:
                return _safe_date(year[0], month, day[0])
    return None


def _year_ending_at(tokens: list[str], end: int, today_year: int) -> tuple[int, int] | None:
    """A year spoken just before ``end``: "nineteen ninety two, July second"."""
    for start in range(max(0, end - 4), end):
        year = read_year(tokens, start, today_year)
        if year is not None and year[1] == end:
            return year[0], year[1]
    return None


def _spoken_numeric_dob(tokens: list[str], today: date) -> date | None:
    """Month, day and year as bare numbers: "three three eighty", "oh three oh three 1980"."""
    for i in range(len(tokens)):
        month = read_padded(tokens, i)
        if month is None or not 1 <= month[0] <= 12:
            continue
        day = read_day_number(tokens, month[1])
        if day is None or not 1 <= day[0] <= 31:
            continue
        year = read_year(tokens, day[1], today.year)
        if year is not None:
            found = _safe_date(year[0], month[0], day[0])
            if found is not None:
                return found
    return None


def parse_date_of_birth(text: str, today: date) -> date | None:
    """A date of birth in the past, however it was spoken; None when there is none."""
    tokens = text.split()
    found = None
    for token in tokens:
        found = found or _numeric_dob(token, today)
    found = found or _month_name_dob(tokens, today) or _spoken_numeric_dob(tokens, today)
    if found is None or found > today or found.year < 1900:
        return None
    return found
