"""Spoken numbers, dates, times, dates of birth, names, yes/no and option choices.

"Today" is derived from a fixed ``now`` in America/New_York, the demo clinic's zone, including
days next to the DST changes (2026-03-08 and 2026-11-01) and month and year ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from realtime.agent.rule.clock import TimeWish, find_clocks
from realtime.agent.rule.dates import DayWish, local_date
from realtime.agent.rule.parsing import (
    PersonName,
    choose_index,
    parse_date_of_birth,
    parse_day_wish,
    parse_name,
    parse_number,
    parse_time_wish,
    parse_yes_no,
)
from realtime.agent.rule.text import normalize

NY = "America/New_York"
TZ = ZoneInfo(NY)
# Saturday 21 November 2026, mid-morning in the clinic.
NOW = datetime(2026, 11, 21, 10, 30, tzinfo=TZ)
TODAY = local_date(NOW, NY)


def day(text: str, today: date = TODAY) -> DayWish | None:
    return parse_day_wish(normalize(text), today)


def dob(text: str, today: date = TODAY) -> date | None:
    return parse_date_of_birth(normalize(text), today)


def times(text: str) -> TimeWish:
    return parse_time_wish(normalize(text))


def one(d: date) -> DayWish:
    return DayWish(d, d)


# --- the clinic's today -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, date(2026, 11, 21)),
        # 03:00 UTC on New Year's Eve is still the 30th in Portland, Maine.
        (datetime(2026, 12, 31, 3, 0, tzinfo=UTC), date(2026, 12, 30)),
        (datetime(2027, 1, 1, 4, 59, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2027, 1, 1, 5, 0, tzinfo=UTC), date(2027, 1, 1)),
        # The night the clocks go back (EDT -> EST) and forward (EST -> EDT).
        (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), date(2026, 11, 1)),
        (datetime(2026, 11, 1, 3, 59, tzinfo=UTC), date(2026, 10, 31)),
        (datetime(2026, 3, 8, 4, 59, tzinfo=UTC), date(2026, 3, 7)),
        (datetime(2026, 3, 8, 5, 0, tzinfo=UTC), date(2026, 3, 8)),
    ],
)
def test_local_date(now: datetime, expected: date) -> None:
    assert local_date(now, NY) == expected


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seven", 7),
        ("7", 7),
        ("twenty four", 24),
        ("forty-two", 42),
        ("one hundred and five", 105),
        ("two thousand and one", 2001),
        ("nineteen", 19),
        ("three hundred twelve", 312),
        ("zero", 0),
        ("banana", None),
        ("", None),
    ],
)
def test_parse_number(text: str, expected: int | None) -> None:
    assert parse_number(text) == expected


# --- days asked for -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next tuesday afternoon", one(date(2026, 11, 24))),
        ("tuesday", one(date(2026, 11, 24))),
        ("this friday", one(date(2026, 11, 27))),
        ("on friday", one(date(2026, 11, 27))),
        ("this coming monday", one(date(2026, 11, 23))),
        ("saturday", one(date(2026, 11, 28))),  # a bare weekday that is today means next week
        ("this saturday", one(date(2026, 11, 21))),
        ("tomorrow morning", one(date(2026, 11, 22))),
        ("the day after tomorrow", one(date(2026, 11, 23))),
        ("today", one(TODAY)),
        ("on the 24th", one(date(2026, 11, 24))),
        ("the twenty fourth", one(date(2026, 11, 24))),
        ("on the 3rd", one(date(2026, 12, 3))),  # passed this month: next month
        ("december first", one(date(2026, 12, 1))),
        ("the first of december", one(date(2026, 12, 1))),
        ("march third", one(date(2027, 3, 3))),  # passed this year: next year
        ("12/4", one(date(2026, 12, 4))),
        ("any time next week", DayWish(date(2026, 11, 23), date(2026, 11, 29))),
        ("early next week", DayWish(date(2026, 11, 23), date(2026, 11, 25))),
        ("the week after next", DayWish(date(2026, 11, 30), date(2026, 12, 6))),
        ("the week of december seventh", DayWish(date(2026, 12, 7), date(2026, 12, 13))),
        ("the week of the 23rd", DayWish(date(2026, 11, 23), date(2026, 11, 29))),
        ("in two weeks", DayWish(date(2026, 11, 30), date(2026, 12, 6))),
        ("next month", DayWish(date(2026, 12, 1), date(2026, 12, 31))),
        ("tuesdays are best", DayWish(first=date(2026, 11, 22), weekday=1)),
        ("any wednesday", DayWish(first=date(2026, 11, 22), weekday=2)),
        ("actually make it thursday", one(date(2026, 11, 26))),
        ("not tuesday, thursday", one(date(2026, 11, 26))),  # the last day named wins
        ("the soonest you have", DayWish()),
        ("whenever works", DayWish()),
        ("as soon as possible", DayWish()),
        ("i need a cleaning", None),
        ("may i book a cleaning", None),  # "may" the verb, not the month
        ("the first one", None),  # an option, not the 1st of the month
    ],
)
def test_day_wishes(text: str, expected: DayWish | None) -> None:
    assert day(text) == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        # Year end: the 30th of December 2026 is a Wednesday.
        (date(2026, 12, 30), "tomorrow", one(date(2026, 12, 31))),
        (date(2026, 12, 30), "on the 3rd", one(date(2027, 1, 3))),
        (date(2026, 12, 30), "next tuesday", one(date(2027, 1, 5))),
        (date(2026, 12, 30), "this friday", one(date(2027, 1, 1))),
        (date(2026, 12, 30), "january fifth", one(date(2027, 1, 5))),
        (date(2026, 12, 30), "next month", DayWish(date(2027, 1, 1), date(2027, 1, 31))),
        (date(2026, 12, 31), "next week", DayWish(date(2027, 1, 4), date(2027, 1, 10))),
        # Month end: no 30th in February, so the next 30th is in March.
        (date(2027, 1, 31), "on the 30th", one(date(2027, 3, 30))),
        (date(2027, 1, 31), "tomorrow", one(date(2027, 2, 1))),
        # Next to the DST changes: calendar days, whatever the clocks do.
        (date(2026, 10, 31), "tomorrow", one(date(2026, 11, 1))),
        (date(2026, 10, 31), "next monday", one(date(2026, 11, 2))),
        (date(2026, 3, 7), "tomorrow afternoon", one(date(2026, 3, 8))),
        (date(2026, 3, 7), "next sunday", one(date(2026, 3, 15))),
        # "next Tuesday" on a Monday is Tuesday of next week; "this Tuesday" is tomorrow.
        (date(2026, 11, 23), "next tuesday", one(date(2026, 12, 1))),
        (date(2026, 11, 23), "this tuesday", one(date(2026, 11, 24))),
    ],
)
def test_day_wishes_around_month_year_and_dst_changes(
    today: date, text: str, expected: DayWish
) -> None:
    assert day(text, today) == expected


# --- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nine fifteen", TimeWish("morning", exact=time(9, 15))),
        ("9:15", TimeWish("morning", exact=time(9, 15))),
        ("at 9:15 am", TimeWish("morning", exact=time(9, 15))),
        ("9:15 a.m.", TimeWish("morning", exact=time(9, 15))),
        ("quarter past nine", TimeWish("morning", exact=time(9, 15))),
        ("half past two", TimeWish("afternoon", exact=time(14, 30))),
        ("quarter to ten", TimeWish("morning", exact=time(9, 45))),
        ("noon", TimeWish("afternoon", exact=time(12, 0))),
        ("two o'clock", TimeWish("afternoon", exact=time(14, 0))),
        ("three p m", TimeWish("afternoon", exact=time(15, 0))),
        ("3pm", TimeWish("afternoon", exact=time(15, 0))),
        ("ten thirty", TimeWish("morning", exact=time(10, 30))),
        ("nine oh five", TimeWish("morning", exact=time(9, 5))),
        ("at 2", TimeWish("afternoon", exact=time(14, 0))),
        ("after 3", TimeWish("afternoon", earliest=time(15, 0))),
        ("anytime after five thirty", TimeWish("evening", earliest=time(17, 30))),
        ("before 10", TimeWish("morning", latest=time(10, 0))),
        ("by noon", TimeWish("morning", latest=time(12, 0))),
        ("2 or later", TimeWish("afternoon", earliest=time(14, 0))),
        ("tomorrow morning", TimeWish("morning")),
        ("in the afternoon", TimeWish("afternoon")),
        ("evenings are better for me", TimeWish("evening")),
        ("around lunch", TimeWish("afternoon")),
        ("after work", TimeWish("evening")),
        ("good morning i need a cleaning", TimeWish()),
        ("in two weeks", TimeWish()),
        ("three three eighty", TimeWish()),
        ("the 24th", TimeWish()),
    ],
)
def test_time_wishes(text: str, expected: TimeWish) -> None:
    assert times(text) == expected


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("the 9:15 or the 12:45", [time(9, 15), time(12, 45)]),
        ("the one o'clock", [time(13, 0)]),
        ("the one with dr patel", []),
        ("eleven", []),  # a lone number is not a time without "at", "after", ...
    ],
)
def test_find_clocks(text: str, found: list[time]) -> None:
    assert [c.resolve() for c in find_clocks(normalize(text).split())] == found


# --- dates of birth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("March third nineteen eighty", date(1980, 3, 3)),
        ("three three eighty", date(1980, 3, 3)),
        ("03/03/1980", date(1980, 3, 3)),
        ("3-3-80", date(1980, 3, 3)),
        ("1980-03-03", date(1980, 3, 3)),
        ("the third of March 1980", date(1980, 3, 3)),
        ("march 3rd 1980", date(1980, 3, 3)),
        ("march the third nineteen eighty", date(1980, 3, 3)),
        ("oh three oh three nineteen eighty", date(1980, 3, 3)),
        ("3 3 1980", date(1980, 3, 3)),
        ("it's march third eighty", date(1980, 3, 3)),
        ("born on the fourteenth of march nineteen eighty five", date(1985, 3, 14)),
        ("twelve five eighty eight", date(1988, 12, 5)),
        ("seven two ninety two", date(1992, 7, 2)),
        ("january thirtieth two thousand one", date(2001, 1, 30)),
        ("january thirtieth two thousand and one", date(2001, 1, 30)),
        ("1/30/2001", date(2001, 1, 30)),
        ("september ninth nineteen sixty five", date(1965, 9, 9)),
        ("may seventeenth ninety nine", date(1999, 5, 17)),
        ("december fifth twenty oh three", date(2003, 12, 5)),
        ("february twenty ninth two thousand", date(2000, 2, 29)),  # a leap year
        ("february twenty ninth nineteen ninety nine", None),  # not one
        ("june fifth twenty thirty", None),  # in the future
        ("march third", None),  # no year
        ("i don't know", None),
    ],
)
def test_dates_of_birth(text: str, expected: date | None) -> None:
    assert dob(text) == expected


def test_two_digit_years_pivot_on_today() -> None:
    assert dob("one one twenty five", date(2026, 11, 21)) == date(2025, 1, 1)
    assert dob("one one twenty seven", date(2026, 11, 21)) == date(1927, 1, 1)


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expecting", "expected"),
    [
        ("my name is Peter Brown", False, PersonName("Peter", "Brown")),
        ("it's Alex Rivera", False, PersonName("Alex", "Rivera")),
        ("hi this is peter brown and i need to reschedule", False, PersonName("Peter", "Brown")),
        ("my name's samira okafor", False, PersonName("Samira", "Okafor")),
        ("first name alex last name rivera", False, PersonName("Alex", "Rivera")),
        ("my last name is okafor", False, PersonName(None, "Okafor")),
        ("dana whitfield w h i t f i e l d", True, PersonName("Dana", "Whitfield")),
        ("it's brown b r o w n", True, PersonName("Brown")),
        ("Alex Rivera", True, PersonName("Alex", "Rivera")),
        ("um yeah it's jordan kim", True, PersonName("Jordan", "Kim")),
        ("peter brown march third nineteen eighty", True, PersonName("Peter", "Brown")),
        ("June Carter", True, PersonName("June", "Carter")),
        ("o'brien kelly", True, PersonName("O'Brien", "Kelly")),
        ("Alex Rivera", False, None),  # a bare name only counts when we asked for it
        ("i'm interested in a cleaning", False, None),
        ("i'm a new patient", True, None),
        ("this is for my daughter", True, None),
        ("why do you need that", True, None),
    ],
)
def test_names(text: str, expecting: bool, expected: PersonName | None) -> None:
    assert parse_name(text, expecting=expecting) == expected


# --- yes and no ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("yes please", True),
        ("yeah", True),
        ("yep that's right", True),
        ("sure", True),
        ("that works", True),
        ("that works for me", True),
        ("correct", True),
        ("okay", True),
        ("sounds good", True),
        ("absolutely", True),
        ("go ahead", True),
        ("no problem book it", True),
        ("uh huh", True),
        ("no", False),
        ("nope", False),
        ("no thanks", False),
        ("nah", False),
        ("that doesn't work", False),
        ("absolutely not", False),
        ("i am not", False),
        ("not really", False),
        ("not sure", None),
        ("maybe", None),
        ("actually can we do thursday", None),
        ("the second one", None),
    ],
)
def test_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) == expected


# --- choosing among offers ----------------------------------------------------------------------


def _at(d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, d, hour, minute, tzinfo=TZ)


# Tuesday 24th 9:15 with Dr. Patel, Tuesday 24th 12:45 with Jenna Lee, Thursday 26th 9:15 with
# Dr. Brooks.
OPTIONS = [
    (_at(24, 9, 15), "Dr. Maya Patel"),
    (_at(24, 12, 45), "Jenna Lee"),
    (_at(26, 9, 15), "Dr. Owen Brooks"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the first one", 0),
        ("the second", 1),
        ("second one please", 1),
        ("the third one", 2),
        ("the last one", 2),
        ("the earliest", 0),
        ("number two", 1),
        ("option 3", 2),
        ("thursday", 2),
        ("the one on thursday", 2),
        ("the 12:45", 1),
        ("twelve forty five", 1),
        ("the one with dr patel", 0),
        ("brooks", 2),
        ("the one with jenna", 1),
        ("the 26th", 2),
        ("tuesday at 9:15", 0),
        ("the second one on tuesday", 1),
        ("the week of july first", None),  # a date, not the first option
        ("the 9:15", None),  # two options at 9:15
        ("tuesday", None),  # two options on Tuesday
        ("friday", None),  # none offered: a new request, not a choice
        ("the 3:30", None),
        ("yes", None),
    ],
)
def test_choose_index(text: str, expected: int | None) -> None:
    assert choose_index(text, OPTIONS) == expected


def test_choosing_among_fewer_options() -> None:
    two = OPTIONS[:2]
    assert choose_index("the third one", two) is None
    assert choose_index("the last one", two) == 1
