"""Spoken numbers: cardinals, ordinals and years, in words or digits.

Readers take a token list and a start index and return ``(value, next_index)`` or None, so the
date and time parsers can combine them ("march third nineteen eighty", "nine fifteen").
"""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
ORDINAL_UNITS: dict[str, int] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
}
ORDINAL_TENS: dict[str, int] = {"twentieth": 20, "thirtieth": 30}
ZERO_WORDS = frozenset({"oh", "o", "zero"})  # "nine oh five", "twenty oh one"

_DIGIT_ORDINAL = re.compile(r"^(\d{1,2})(st|nd|rd|th)$")

Reading = tuple[int, int]  # (value, index after the number)


def read_cardinal(tokens: list[str], i: int) -> Reading | None:
    """0-99 as digits ("24") or words ("twenty four", "seven")."""
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token.isdigit() and len(token) <= 2:
        return int(token), i + 1
    if token in TENS:
        value = TENS[token]
        if i + 1 < len(tokens) and 1 <= UNITS.get(tokens[i + 1], 0) <= 9:
            return value + UNITS[tokens[i + 1]], i + 2
        return value, i + 1
    if token in UNITS:
        return UNITS[token], i + 1
    return None


def read_padded(tokens: list[str], i: int) -> Reading | None:
    """A cardinal that may be spoken with a leading zero: "oh three", "zero nine", "03"."""
    if i < len(tokens) and tokens[i] in ZERO_WORDS and i + 1 < len(tokens):
        unit = UNITS.get(tokens[i + 1])
        if unit is not None and 1 <= unit <= 9:
            return unit, i + 2
    return read_cardinal(tokens, i)


def read_ordinal(tokens: list[str], i: int) -> Reading | None:
    """1st-31st: "24th", "third", "twenty fourth", "thirtieth"."""
    if i >= len(tokens):
        return None
    token = tokens[i]
    match = _DIGIT_ORDINAL.match(token)
    if match:
        return int(match.group(1)), i + 1
    if token in ORDINAL_UNITS:
        return ORDINAL_UNITS[token], i + 1
    if token in ORDINAL_TENS:
        return ORDINAL_TENS[token], i + 1
    if token in TENS and i + 1 < len(tokens):
        unit = ORDINAL_UNITS.get(tokens[i + 1])
        if unit is not None and unit <= 9:
            return TENS[token] + unit, i + 2
    return None


def read_day_number(tokens: list[str], i: int) -> Reading | None:
    """A day of the month as an ordinal or a (possibly zero-padded) cardinal."""
    return read_ordinal(tokens, i) or read_padded(tokens, i)


def read_year(tokens: list[str], i: int, today_year: int) -> Reading | None:
    """A year: "1980", "nineteen eighty", "two thousand one", "twenty oh one", "eighty".

    Two-digit years resolve to the most recent such year not after ``today_year``, which is
    what a caller means when giving a date of birth.
    """
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token.isdigit() and len(token) == 4:
        return int(token), i + 1
    if token.isdigit() and len(token) == 2:
        return _pivot(int(token), today_year), i + 1
    if token == "two" and i + 1 < len(tokens) and tokens[i + 1] == "thousand":
        j = i + 2
        if j < len(tokens) and tokens[j] == "and":
            j += 1
        rest = read_cardinal(tokens, j)
        if rest is not None and rest[0] > 0:
            return 2000 + rest[0], rest[1]
        return 2000, i + 2
    if token in ("nineteen", "twenty") and i + 1 < len(tokens):
        century = 1900 if token == "nineteen" else 2000
        after = tokens[i + 1]
        if after in ZERO_WORDS:
            unit = read_padded(tokens, i + 1)
            if unit is not None:
                return century + unit[0], unit[1]
        if after == "hundred":
            return century, i + 2
        if after in TENS or (after in UNITS and UNITS[after] >= 10):
            rest = read_cardinal(tokens, i + 1)
            if rest is not None:
                return century + rest[0], rest[1]
    padded = read_padded(tokens, i)
    if padded is not None:
        return _pivot(padded[0], today_year), padded[1]
    return None


def _pivot(two_digits: int, today_year: int) -> int:
    year = today_year - today_year % 100 + two_digits
    return year if year <= today_year else year - 100


_SCALES = {"hundred": 100, "thousand": 1000}


def parse_number(text: str) -> int | None:
    """A whole cardinal number in words or digits: "twenty four", "one hundred and five"."""
    tokens = [t for t in text.lower().replace("-", " ").split() if t != "and"]
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    total = current = 0
    for token in tokens:
        if token in UNITS:
            current += UNITS[token]
        elif token in TENS:
            current += TENS[token]
        elif token in _SCALES:
            if token == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * 1000
                current = 0
        elif token.isdigit():
            current += int(token)
        else:
            return None
    return total + current
