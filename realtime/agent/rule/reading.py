"""One caller message, parsed once: the words, their intents, and any day or time named."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from realtime.agent.rule.clock import TimeWish
from realtime.agent.rule.dates import DayWish
from realtime.agent.rule.intents import Intent
from realtime.agent.rule.numbers import TENS, UNITS
from realtime.agent.rule.parsing import parse_day_wish, parse_time_wish, parse_yes_no
from realtime.agent.rule.state import Awaiting
from realtime.agent.rule.text import Utterance
from realtime.agent.rule.turn import Turn

PERSONAL = frozenset({Awaiting.NAME, Awaiting.LAST_NAME, Awaiting.DOB})
DOB_WORDS = ("born", "birth", "dob", "birthday", "birthdate")
_CHANGE_VERBS = frozenset({"reschedule", "move", "change", "push", "postpone", "rebook", "make"})
_TO = frozenset({"to", "for", "until", "till", "til", "into"})


@dataclass
class Reading:
    """One caller message with what it says about when, parsed once."""

    utterance: Utterance
    intents: set[Intent]
    today: date
    days: DayWish | None = None
    times: TimeWish = field(default_factory=TimeWish)
    when_used: bool = False  # the day or time picked an offer rather than asking for a new one
    name_words: set[str] = field(default_factory=set)  # the caller's name, not a provider's
    current_day: date | None = None  # the day of an appointment being moved or cancelled

    @property
    def raw(self) -> str:
        return self.utterance.raw

    @property
    def mentions_when(self) -> bool:
        return self.days is not None or not self.times.empty

    @property
    def yes_no(self) -> bool | None:
        return parse_yes_no(self.raw)


def is_number_string(utterance: Utterance) -> bool:
    """A phone number or member id read out: many numbers, which are not a date or a time."""
    numbers = [t for t in utterance.tokens if t.isdigit() or t in UNITS or t in TENS or t == "oh"]
    return len(numbers) >= 7


def _split_at_new_time(tokens: list[str]) -> tuple[str, str]:
    """("my tuesday appointment", "thursday") from "move my tuesday appointment to thursday"."""
    verb = next((i for i, t in enumerate(tokens) if t in _CHANGE_VERBS), len(tokens))
    to = next((i for i in range(verb, len(tokens)) if tokens[i] in _TO), len(tokens))
    return " ".join(tokens[:to]), " ".join(tokens[to + 1 :])


def read(turn: Turn, utterance: Utterance, intents: set[Intent]) -> Reading:
    reading = Reading(utterance, intents, turn.env.today)
    if turn.state.awaiting in PERSONAL or utterance.has(*DOB_WORDS) or is_number_string(utterance):
        return reading
    wanted = utterance.norm
    if intents & {Intent.RESCHEDULE, Intent.CANCEL, Intent.CHECK}:
        # A day said with "move/cancel my appointment" is when that appointment is; only a day
        # after "to" or "for" is the new time asked for.
        current, new = _split_at_new_time(utterance.tokens)
        named = parse_day_wish(current, turn.env.today)
        reading.current_day = named.single_day if named else None
        wanted = new if Intent.RESCHEDULE in intents else ""
    reading.days = parse_day_wish(wanted, turn.env.today) if wanted else None
    reading.times = parse_time_wish(wanted)
    return reading
