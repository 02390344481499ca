"""Folding a caller's words into the dialogue state, read in the light of what we just asked.

The question being answered decides how a bare "yes", "the second one" or "Peter Brown" is
read (see ``answers``); the slots any sentence can carry (visit type, provider, day, time, new
or returning, name) are picked up whatever was asked, so callers can change their mind at any
point.
"""

from __future__ import annotations

from realtime.agent.rule.answers import BY_AWAITING
from realtime.agent.rule.catalog import (
    match_provider,
    match_type,
    no_provider_preference,
    unknown_doctor,
    urgent_type,
)
from realtime.agent.rule.intents import Intent
from realtime.agent.rule.names import PersonName
from realtime.agent.rule.parsing import parse_date_of_birth, parse_name
from realtime.agent.rule.reading import DOB_WORDS, PERSONAL, Reading, is_number_string, read
from realtime.agent.rule.speech import join_and
from realtime.agent.rule.state import Awaiting, Task
from realtime.agent.rule.text import Utterance, normalize
from realtime.agent.rule.turn import Turn

__all__ = ["PERSONAL", "Reading", "read", "understand"]


def understand(turn: Turn, reading: Reading) -> bool:
    """Apply the caller's words; True when they moved the conversation on."""
    switched = _switch_task(turn, reading)
    progressed = switched
    if not switched:
        handler = BY_AWAITING.get(turn.state.awaiting)
        if handler is not None:
            progressed = handler(turn, reading) or progressed
    if turn.done or turn.asked:
        return True
    return _extract(turn, reading) or progressed


def _switch_task(turn: Turn, reading: Reading) -> bool:
    state = turn.state
    intents = reading.intents
    new = None
    if Intent.RESCHEDULE in intents:
        new = Task.RESCHEDULE
    elif Intent.CHECK in intents:
        new = Task.CHECK
    elif Intent.CANCEL in intents:
        declining = state.task is Task.BOOK and state.awaiting in (
            Awaiting.CHOICE,
            Awaiting.READ_BACK,
        )
        if not declining or reading.utterance.has("appointment", "my appointment"):
            new = Task.CANCEL  # "cancel that" while booking just declines the offer
    elif Intent.BOOK in intents and state.task is Task.NONE:
        new = Task.BOOK
    if new is None or new is state.task:
        return False
    state.reset_task()
    state.task = new
    return True


def _extract(turn: Turn, reading: Reading) -> bool:
    """Slots any sentence may carry."""
    changed = _extract_caller(turn, reading)
    if turn.state.awaiting in PERSONAL:
        return changed  # "Sam Lee" is a name, not a request to see Jenna Lee
    return _extract_wish(turn, reading) or changed


def _extract_caller(turn: Turn, reading: Reading) -> bool:
    caller = turn.state.caller
    utterance = reading.utterance
    if caller.patient_id is not None:
        return False
    changed = False
    if Intent.NEW_PATIENT in reading.intents and caller.is_new is not True:
        caller.is_new, changed = True, True
    elif Intent.RETURNING in reading.intents and caller.is_new is not False:
        caller.is_new, changed = False, True
    if turn.state.awaiting in PERSONAL:
        return changed
    name = parse_name(reading.raw)
    if name is not None and (name.first or name.last):
        caller.first_name = name.first or caller.first_name
        caller.last_name = name.last or caller.last_name
        reading.name_words = _words_of(name)
        changed = True
    if utterance.has(*DOB_WORDS) and not is_number_string(utterance):
        born = parse_date_of_birth(utterance.norm, reading.today)
        if born is not None:
            caller.date_of_birth, changed = born, True
    return changed


def _words_of(name: PersonName) -> set[str]:
    return set(normalize(f"{name.first or ''} {name.last or ''}").split())


def _extract_wish(turn: Turn, reading: Reading) -> bool:
    state = turn.state
    wish = state.wish
    utterance = reading.utterance
    changed = False
    kind = match_type(utterance, turn.clinic)
    if Intent.URGENT in reading.intents:
        kind = urgent_type(turn.clinic) or kind  # "my crown fell off": a prompt visit, not a crown
    if kind is not None and kind.code != wish.type_code:
        wish.type_code, changed = kind.code, True
    unnamed = Utterance(" ".join(t for t in utterance.tokens if t not in reading.name_words))
    provider = match_provider(unnamed, turn.clinic)
    if provider is not None and provider.name != wish.provider:
        wish.provider, changed = provider.name, True
    elif provider is None and wish.provider and no_provider_preference(utterance):
        wish.provider, changed = None, True
    elif provider is None and (stranger := unknown_doctor(unnamed, turn.clinic)):
        names = join_and([p.name for p in turn.clinic.providers])
        turn.say(f"We don't have a Dr. {stranger} here. Our providers are {names}.")
    if reading.current_day is not None:
        state.mentioned_day = reading.current_day
    if not reading.when_used:
        if reading.days is not None:
            wish.days, changed = reading.days, True
        if not reading.times.empty:
            wish.times, changed = reading.times, True
    asked_for = kind is not None or provider is not None or reading.mentions_when
    if changed and state.task is Task.NONE and asked_for:
        state.task = Task.BOOK  # "can I see Dr. Patel next week": a booking
    return changed
