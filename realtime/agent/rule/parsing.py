"""Yes/no answers and choices among offered times, from recognised speech.

Numbers, dates, times and names live in ``numbers``, ``dates``, ``clock`` and ``names``; this
module re-exports their entry points so callers have one place to parse from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from realtime.agent.rule.clock import TimeWish, find_clocks, parse_time_wish
from realtime.agent.rule.dates import (
    MONTHS,
    WEEKDAYS,
    DayWish,
    parse_date_of_birth,
    parse_day_wish,
)
from realtime.agent.rule.names import PersonName, parse_name
from realtime.agent.rule.numbers import parse_number, read_cardinal, read_ordinal
from realtime.agent.rule.text import normalize

__all__ = [
    "DayWish",
    "PersonName",
    "TimeWish",
    "choose_index",
    "parse_date_of_birth",
    "parse_day_wish",
    "parse_name",
    "parse_number",
    "parse_time_wish",
    "parse_yes_no",
]

# --- yes and no -------------------------------------------------------------------------------

_YES = (
    "yes", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "thats right", "that is right",
    "that works", "works for me", "sounds good", "sounds great", "go ahead", "please do",
    "book it", "absolutely", "definitely", "of course", "uh huh", "mhm", "perfect",
    "thats fine", "that is fine", "thats perfect", "thats me", "that is me", "why not",
    "no problem", "not a problem", "lets do it", "lets do that", "that would be great",
    "affirmative", "exactly", "i do", "i have", "it is", "i am", "please",
)  # fmt: skip
_YES_FIRST = frozenset({"ok", "okay", "alright", "right", "fine", "great", "good", "works"})
_NO = (
    "no", "nope", "nah", "not", "dont", "doesnt", "wont", "cant", "isnt", "wrong",
    "incorrect", "negative", "never mind", "nevermind", "neither", "none", "havent",
)  # fmt: skip
_UNSURE = ("not sure", "dont know", "maybe", "i guess", "not certain")


def _first_position(padded: str, phrases: Sequence[str]) -> int:
    positions = [padded.find(f" {p} ") for p in phrases]
    found = [p for p in positions if p >= 0]
    return min(found) if found else -1


_NEGATED = re.compile(r"\b(i am|it is|i have|i do|that is|thats|absolutely|definitely) not\b")


def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when the caller said neither (or is unsure)."""
    norm = _NEGATED.sub("not", normalize(text))
    padded = f" {norm} "
    if _first_position(padded, _UNSURE) >= 0:
        return None
    yes = _first_position(padded, _YES)
    no = _first_position(padded, _NO)
    if yes >= 0 and (no < 0 or yes < no or padded[yes:].startswith((" no problem", " why not"))):
        return True
    if no >= 0:
        return False
    first = norm.split()[0] if norm else ""
    return True if first in _YES_FIRST else None


# --- choosing among offers --------------------------------------------------------------------

_POSITIONS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3}
_FIRST_WORDS = ("earliest", "earlier one", "sooner one", "soonest")
_LAST_WORDS = ("last", "latest", "later one", "last one")


def _position(tokens: list[str], count: int) -> int | None:
    padded = f" {' '.join(tokens)} "
    for i, token in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        before = tokens[i - 1] if i > 0 else ""
        if token in _POSITIONS and after not in MONTHS and before != "on" and before not in MONTHS:
            index = _POSITIONS[token]
            return index if index < count else None
        if token in ("number", "option") and after:
            reading = read_cardinal(tokens, i + 1)
            if reading is not None and 1 <= reading[0] <= count:
                return reading[0] - 1
    if any(f" {w} " in padded for w in _FIRST_WORDS):
        return 0
    if any(f" {w} " in padded for w in _LAST_WORDS):
        return count - 1
    return None


def _provider_words(provider: str) -> set[str]:
    return {w for w in normalize(provider).split() if w not in ("dr", "doctor", "dds", "dmd")}


def choose_index(text: str, options: Sequence[tuple[datetime, str]]) -> int | None:
    """Which offered option the caller picked; ``options`` are (local start, provider).

    Mentions narrow the options down (a weekday, a day of the month, a time, a provider), and
    an ordinal picks among what is left. None when nothing, or more than one, fits.
    """
    tokens = normalize(text).split()
    candidates = list(range(len(options)))
    narrowed = False
    weekdays = {WEEKDAYS[t] for t in tokens if t in WEEKDAYS}
    if weekdays:
        candidates = [i for i in candidates if options[i][0].weekday() in weekdays]
        narrowed = True
    for i in range(len(tokens)):
        day = read_ordinal(tokens, i)
        if day is not None and (day[0] > len(options) or (i > 0 and tokens[i - 1] == "on")):
            candidates = [c for c in candidates if options[c][0].day == day[0]]
            narrowed = True
            break
    clocks = find_clocks(tokens)
    if clocks:
        candidates = [i for i in candidates if any(c.matches(options[i][0].time()) for c in clocks)]
        narrowed = True
    mentioned = set(tokens)
    providers = [i for i in candidates if _provider_words(options[i][1]) & mentioned]
    if providers and len({options[i][1] for i in providers}) < len(
        {options[i][1] for i in candidates}
    ):
        candidates, narrowed = providers, True
    if not candidates:
        return None
    position = _position(tokens, len(candidates))
    if position is not None:
        return candidates[position]
    if narrowed and len(candidates) == 1:
        return candidates[0]
    if narrowed and candidates and len({options[i][0] for i in candidates}) == 1:
        return candidates[0]
    return None
