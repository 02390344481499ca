"""Answers to the question we asked: "yes", "the second one", "Peter Brown", "friday".

One handler per ``Awaiting`` state; each returns True when it moved the conversation on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from realtime.agent.rule.catalog import match_type, new_patient_type, provider_words, type_by_name
from realtime.agent.rule.clock import TimeWish
from realtime.agent.rule.dates import WEEKDAYS, DayWish
from realtime.agent.rule.flow import broaden, commit, goodbye, read_back, transfer
from realtime.agent.rule.intents import Intent
from realtime.agent.rule.parsing import choose_index, parse_date_of_birth, parse_name
from realtime.agent.rule.reading import Reading
from realtime.agent.rule.results import ANYTHING_ELSE, accept_record
from realtime.agent.rule.speech import offers_text
from realtime.agent.rule.state import Awaiting, Task, Upcoming
from realtime.agent.rule.turn import Turn

_PARTS = ("morning", "afternoon", "evening")
_GREETING_WORDS = frozenset(
    {"hi", "hello", "hey", "there", "yes", "yeah", "um", "uh", "good", "morning", "afternoon"}
    | {"evening", "ok", "okay", "so"}
)


def _open(turn: Turn, reading: Reading) -> bool:
    state = turn.state
    agent = set(turn.clinic.agent_name.lower().split())
    greeting = set(reading.utterance.tokens) <= _GREETING_WORDS | agent
    recall_yes = state.suggested_type is not None and reading.yes_no is True
    if state.task is Task.NONE and greeting and not recall_yes:
        turn.say("Hi!")
        turn.ask("How can I help you today?", Awaiting.OPEN)
        return True
    if state.suggested_type and state.task is Task.NONE and reading.yes_no is True:
        state.task = Task.BOOK  # an outbound recall: "yes, let's book it"
        state.wish.type_code = state.suggested_type
        return True
    if Intent.THANKS in reading.intents and state.task is Task.NONE:
        turn.ask(f"You're welcome! {ANYTHING_ELSE}", Awaiting.ANYTHING_ELSE)
        return True
    return False


def _identity(turn: Turn, reading: Reading) -> bool:
    caller = turn.state.caller
    answer = reading.yes_no
    if answer is True and caller.phone_match is not None:
        accept_record(caller, caller.phone_match, via_phone=True)
        turn.say(f"Great, thanks {caller.first_name}.")
        return True
    if answer is False:
        caller.phone_match = None
        return True
    return False


def _new_or_returning(turn: Turn, reading: Reading) -> bool:
    answer = reading.yes_no
    if answer is None:
        return False
    turn.state.caller.is_new = not answer  # "have you been to see us before?"
    return True


def _spelling(turn: Turn, reading: Reading) -> bool:
    """Correct a name from a spelling ("it's spelled W H I T ..."): the part it starts like."""
    caller = turn.state.caller
    name = parse_name(reading.raw, expecting=True)
    if not reading.utterance.has("spelled", "spelling", "spell") or name is None:
        return False
    word = name.last or name.first
    if word is None:
        return False
    like_first = bool(caller.first_name) and word[0] == (caller.first_name or " ")[0]
    like_last = bool(caller.last_name) and word[0] == (caller.last_name or " ")[0]
    if like_first and not like_last and not name.last:
        caller.first_name = word
    else:
        caller.last_name = word
    return True


def _name(turn: Turn, reading: Reading) -> bool:
    caller = turn.state.caller
    if _spelling(turn, reading):
        return True
    name = parse_name(reading.raw, expecting=True)
    if name is not None and turn.state.awaiting is Awaiting.LAST_NAME and not name.last:
        caller.last_name = name.first
    elif name is not None and name.first:
        caller.first_name = name.first
        caller.last_name = name.last or caller.last_name
    elif name is not None and name.last:  # "my last name is Okafor"
        caller.last_name = name.last
    born = parse_date_of_birth(reading.utterance.norm, reading.today)
    if born is not None:
        caller.date_of_birth = born
    return name is not None or born is not None


def _dob(turn: Turn, reading: Reading) -> bool:
    born = parse_date_of_birth(reading.utterance.norm, reading.today)
    if born is None:
        return _spelling(turn, reading)
    turn.state.caller.date_of_birth = born
    return True


def _new_instead(turn: Turn, reading: Reading) -> bool:
    answer = reading.yes_no
    if answer is True:
        turn.state.caller.is_new = True
        return True
    if answer is False:
        transfer(
            turn,
            "could not find the caller's patient record",
            "Let me transfer you to our front desk.",
        )
        return True
    return False


def _visit_type(turn: Turn, reading: Reading) -> bool:
    first_visit = new_patient_type(turn.clinic)
    if turn.state.caller.is_new and reading.yes_no is True and first_visit is not None:
        turn.state.wish.type_code = first_visit.code
        return True
    return False


def _other_days(turn: Turn, reading: Reading) -> bool:
    answer = reading.yes_no
    if reading.mentions_when:
        return False
    if answer is True:
        if not broaden(turn):
            transfer(
                turn,
                "no availability found",
                "Let me transfer you to our front desk, they can help find a time.",
            )
        return True
    if answer is False:
        turn.ask("Okay. What other day or time would work for you?", Awaiting.DAY)
        return True
    return False


def _relative_to_offers(turn: Turn, reading: Reading) -> bool:
    """Handle "anything later?" or "another day?" after hearing the options."""
    state = turn.state
    if not state.offers or reading.mentions_when:
        return False
    last = state.offers[-1].start
    utterance = reading.utterance
    if utterance.has("another day", "different day", "other days", "other day", "a later day"):
        state.wish.days = DayWish(first=last.date() + timedelta(days=1))
        return True
    part = state.wish.times.day_part
    index = _PARTS.index(part) if part else 0
    if utterance.has("later", "anything later", "something later") and index + 1 < len(_PARTS):
        state.wish.times = TimeWish(day_part=_PARTS[index + 1])
        state.wish.days = DayWish(last.date(), state.wish.days.last if state.wish.days else None)
        return True
    if utterance.has("earlier", "anything earlier", "something earlier"):
        first = state.offers[0].start.date()
        if part is not None and index > 0:
            state.wish.times = TimeWish(day_part=_PARTS[index - 1])
            state.wish.days = DayWish(first, first)
        elif first > turn.env.today:
            state.wish.days = DayWish(turn.env.today, first - timedelta(days=1))
        else:
            turn.say("Those are the earliest times I have.")
            return False
        return True
    return False


def _choice(turn: Turn, reading: Reading) -> bool:
    state = turn.state
    offers = state.offers
    index = choose_index(reading.raw, [(o.start, o.provider) for o in offers])
    if index is not None:
        state.chosen = offers[index]
        reading.when_used = True
        read_back(turn)
        return True
    if _relative_to_offers(turn, reading):
        return True
    answer = reading.yes_no
    if answer is True and len(offers) == 1 and not reading.mentions_when:
        state.chosen = offers[0]
        read_back(turn)
        return True
    if answer is True and not reading.mentions_when:
        turn.ask(
            "Sure. Which one would you like, the first, the second or the last?", Awaiting.CHOICE
        )
        return True
    if answer is False and not reading.mentions_when and Intent.CHANGE not in reading.intents:
        turn.ask("No problem. What other day or time would work better for you?", Awaiting.DAY)
        return True
    return False


def _read_back(turn: Turn, reading: Reading) -> bool:
    state = turn.state
    answer = reading.yes_no
    if state.task is Task.CANCEL:
        if answer is True:
            commit(turn)
        elif answer is False:
            state.reset_task()
            turn.ask(f"Okay, I'll leave it as it is. {ANYTHING_ELSE}", Awaiting.ANYTHING_ELSE)
        return answer is not None
    index = choose_index(reading.raw, [(o.start, o.provider) for o in state.offers])
    if index is not None:
        reading.when_used = True
        if state.offers[index] != state.chosen:
            state.chosen = state.offers[index]
            read_back(turn)
            return True
    changing = Intent.CHANGE in reading.intents and answer is not True  # "actually, book it"
    declined = answer is False or changing or Intent.CANCEL in reading.intents
    if answer is True and not declined and (reading.when_used or not reading.mentions_when):
        commit(turn)
        return True
    if not declined:
        return False
    if _relative_to_offers(turn, reading) or reading.mentions_when:
        state.chosen = None
        return True
    others = [o for o in state.offers if o != state.chosen]
    state.chosen = None
    if others:
        state.offers = others
        turn.ask(f"No problem. {offers_text(others)}", Awaiting.CHOICE)
    else:
        turn.ask("No problem. What other day or time would work for you?", Awaiting.DAY)
    return True


def choose_upcoming(reading: Reading, upcoming: list[Upcoming], turn: Turn) -> int | None:
    """Which of the caller's appointments they mean: by type, day, provider or order."""
    utterance = reading.utterance
    candidates = list(range(len(upcoming)))
    kind = match_type(utterance, turn.clinic)
    if kind is not None:
        candidates = [
            i for i in candidates if type_by_name(turn.clinic, upcoming[i].type_name) == kind
        ]
    days = [name for name in WEEKDAYS if utterance.has(name)]
    if days:
        candidates = [i for i in candidates if any(d in upcoming[i].spoken.lower() for d in days)]
    named = [i for i in candidates if provider_words(upcoming[i].provider) & set(utterance.tokens)]
    if named:
        candidates = named
    if len(candidates) == 1:
        return candidates[0]
    options = [(i, u) for i, u in enumerate(upcoming) if i in candidates]
    for word, position in (("first", 0), ("second", 1), ("third", 2), ("last", -1)):
        if utterance.has(word, f"the {word} one") and options:
            try:
                return options[position][0]
            except IndexError:
                return None
    return None


def _which(turn: Turn, reading: Reading) -> bool:
    index = choose_upcoming(reading, turn.state.caller.upcoming, turn)
    if index is None:
        return False
    target = turn.state.caller.upcoming[index]
    turn.state.target = target
    day = reading.days.single_day if reading.days else None
    if day is not None and f"{day:%A}" in target.spoken:
        reading.when_used = True  # "the one on Tuesday" picks the visit; it is not a new day
    return True


def _book_instead(turn: Turn, reading: Reading) -> bool:
    answer = reading.yes_no
    state = turn.state
    if answer is True:
        state.reset_task()
        state.task = Task.BOOK
        return True
    if answer is False:
        state.reset_task()
        turn.ask(f"Okay. {ANYTHING_ELSE}", Awaiting.ANYTHING_ELSE)
        return True
    return False


def _anything_else(turn: Turn, reading: Reading) -> bool:
    answer = reading.yes_no
    wants_more = (
        reading.intents & {Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL}
        or match_type(reading.utterance, turn.clinic) is not None
        or reading.mentions_when
    )
    if wants_more:
        return False
    if answer is False or Intent.THANKS in reading.intents or Intent.GOODBYE in reading.intents:
        goodbye(turn)
        return True
    if answer is True:
        turn.ask("Sure, what can I help you with?", Awaiting.OPEN)
        return True
    return False


BY_AWAITING: dict[Awaiting, Callable[[Turn, Reading], bool]] = {
    Awaiting.OPEN: _open,
    Awaiting.IDENTITY: _identity,
    Awaiting.NEW_OR_RETURNING: _new_or_returning,
    Awaiting.NAME: _name,
    Awaiting.LAST_NAME: _name,
    Awaiting.DOB: _dob,
    Awaiting.NEW_INSTEAD: _new_instead,
    Awaiting.VISIT_TYPE: _visit_type,
    Awaiting.OTHER_DAYS: _other_days,
    Awaiting.CHOICE: _choice,
    Awaiting.READ_BACK: _read_back,
    Awaiting.WHICH_APPOINTMENT: _which,
    Awaiting.BOOK_INSTEAD: _book_instead,
    Awaiting.ANYTHING_ELSE: _anything_else,
}
