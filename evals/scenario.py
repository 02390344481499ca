"""Conversation eval scenarios: a caller persona, what they say, and what must come of it.

Scenarios are YAML files in ``evals/scenarios/`` (one or more per file, as a list). A caller
step is a line of text, or a mapping for the harder cases:

- ``{say: "...", confidence: 0.3}``: the recogniser was unsure (noise on the line);
- ``{say: "...", barge_in_after_words: 4}``: the caller talks over our last reply, having
  heard only its first N words;
- ``{silence_s: 10}``: the caller says nothing for a while (the session's idle timers answer
  in audio runs; a text run has no clock, so it only checks the conversation resumes).

``expect`` holds the outcome checks (see ``Expect``). A malformed file is refused with its
path and the offending key, never half-loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
OUTCOMES = ("booked", "rescheduled", "cancelled", "transferred", "emergency", "answered")
DAY_PARTS = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24)}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written."""


@dataclass(frozen=True)
class Step:
    say: str | None = None  # None: silence
    confidence: float = 1.0
    barge_in_after_words: int | None = None
    silence_s: float = 0.0


@dataclass(frozen=True)
class Booked:
    """What the appointment made in the call must be."""

    type: str
    provider: str | None = None
    day_part: str | None = None  # morning | afternoon | evening (clinic time)
    weekday: str | None = None


@dataclass(frozen=True)
class Upcoming:
    """An appointment the patient already has before the call (staff booked it)."""

    patient: str  # seeded last name
    type: str
    days_ahead: int = 3


@dataclass(frozen=True)
class Expect:
    outcome: str  # one of OUTCOMES: the call record's outcome
    booked: Booked | None = None  # for "booked" and "rescheduled"
    transfer_reason: str | None = None  # a substring of the reason given to the transfer
    emergency_instructions: bool = False  # the clinic's emergency instructions were spoken
    tools: tuple[str, ...] = ()  # called, in this order (others may come between)
    no_tools: tuple[str, ...] = ()  # never called
    said: tuple[str, ...] = ()  # phrases the agent must say (case-insensitive)
    not_said: tuple[str, ...] = ()
    hangup: bool | None = None  # the agent ended the call (end_call)


@dataclass(frozen=True)
class Scenario:
    name: str
    category: str
    persona: str
    steps: tuple[Step, ...]
    expect: Expect
    caller_phone: str | None = None
    upcoming: Upcoming | None = None
    source: str = ""

    @property
    def expects_booking(self) -> bool:
        return self.expect.outcome in ("booked", "rescheduled")

    @property
    def expects_transfer(self) -> bool:
        return self.expect.outcome in ("transferred", "emergency")


def _only(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: expected a list of strings")
    return tuple(value)


def _step(where: str, raw: Any) -> Step:
    if isinstance(raw, str):
        return Step(raw)
    if isinstance(raw, bool):  # YAML reads a bare yes/no/on/off as a boolean
        raise ScenarioError(f'{where}: quote yes/no lines ("yes"); YAML read a boolean')
    data = _mapping(where, raw)
    _only(where, data, {"say", "confidence", "barge_in_after_words", "silence_s"})
    if "silence_s" in data:
        if "say" in data:
            raise ScenarioError(f"{where}: a step is either said or silent")
        return Step(None, silence_s=float(data["silence_s"]))
    if not isinstance(data.get("say"), str):
        raise ScenarioError(f"{where}: 'say' (text) is required")
    confidence = float(data.get("confidence", 1.0))
    if not 0.0 <= confidence <= 1.0:
        raise ScenarioError(f"{where}: confidence must be within 0..1")
    words = data.get("barge_in_after_words")
    if words is not None and (not isinstance(words, int) or words < 0):
        raise ScenarioError(f"{where}: barge_in_after_words must be a whole number >= 0")
    return Step(data["say"], confidence, words)


def _booked(where: str, raw: Any) -> Booked:
    data = _mapping(where, raw)
    _only(where, data, {"type", "provider", "day_part", "weekday"})
    if not isinstance(data.get("type"), str):
        raise ScenarioError(f"{where}: 'type' (appointment type code) is required")
    if data.get("day_part") not in (None, *DAY_PARTS):
        raise ScenarioError(f"{where}: day_part must be one of {sorted(DAY_PARTS)}")
    if data.get("weekday") not in (None, *WEEKDAYS):
        raise ScenarioError(f"{where}: weekday must be one of {list(WEEKDAYS)}")
    return Booked(data["type"], data.get("provider"), data.get("day_part"), data.get("weekday"))


def _expect(where: str, raw: Any) -> Expect:
    data = _mapping(where, raw)
    allowed = {
        "outcome", "booked", "transfer_reason", "emergency_instructions", "tools", "no_tools",
        "said", "not_said", "hangup",
    }  # fmt: skip
    _only(where, data, allowed)
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise ScenarioError(f"{where}.outcome: one of {list(OUTCOMES)} is required")
    booked = _booked(f"{where}.booked", data["booked"]) if "booked" in data else None
    if outcome in ("booked", "rescheduled") and booked is None:
        raise ScenarioError(f"{where}: outcome {outcome!r} needs 'booked' (what was booked)")
    if outcome in ("transferred", "emergency") and not data.get("transfer_reason"):
        raise ScenarioError(f"{where}: outcome {outcome!r} needs 'transfer_reason'")
    hangup = data.get("hangup")
    return Expect(
        outcome=outcome,
        booked=booked,
        transfer_reason=data.get("transfer_reason"),
        emergency_instructions=bool(data.get("emergency_instructions", False)),
        tools=_strings(f"{where}.tools", data.get("tools")),
        no_tools=_strings(f"{where}.no_tools", data.get("no_tools")),
        said=_strings(f"{where}.said", data.get("said")),
        not_said=_strings(f"{where}.not_said", data.get("not_said")),
        hangup=None if hangup is None else bool(hangup),
    )


def parse_scenario(raw: Any, source: str) -> Scenario:
    data = _mapping(source, raw)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{source}: 'name' is required")
    where = f"{source}: {name}"
    allowed = {"name", "category", "persona", "caller_phone", "upcoming", "lines", "expect"}
    _only(where, data, allowed)
    lines = data.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ScenarioError(f"{where}: 'lines' (what the caller says) is required")
    upcoming = None
    if "upcoming" in data:
        up = _mapping(f"{where}.upcoming", data["upcoming"])
        _only(f"{where}.upcoming", up, {"patient", "type", "days_ahead"})
        upcoming = Upcoming(str(up["patient"]), str(up["type"]), int(up.get("days_ahead", 3)))
    phone = data.get("caller_phone")
    return Scenario(
        name=name,
        category=str(data.get("category", "other")),
        persona=str(data.get("persona", "")),
        steps=tuple(_step(f"{where}.lines[{i}]", line) for i, line in enumerate(lines)),
        expect=_expect(f"{where}.expect", data.get("expect")),
        caller_phone=None if phone is None else str(phone),
        upcoming=upcoming,
        source=source,
    )


def load_scenarios(directory: Path = SCENARIO_DIR, only: str | None = None) -> list[Scenario]:
    """Every scenario under ``directory`` (``only``: names containing this text)."""
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path.name}: not valid YAML ({exc})") from None
        items = documents if isinstance(documents, list) else [documents]
        scenarios.extend(parse_scenario(item, path.name) for item in items)
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"duplicate scenario names: {duplicates}")
    return [s for s in scenarios if only is None or only in s.name]
