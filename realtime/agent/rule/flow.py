"""The next step of the caller's request: the question still open, or the tool to call.

``advance`` is re-derived from the state every time, so an answer to any question (or an
unrelated question in between) simply resumes wherever the request stands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from realtime.agent.protocol import AppointmentTypeInfo
from realtime.agent.rule.catalog import fit_type, type_by_code, type_by_name, urgent_type
from realtime.agent.rule.clock import TimeWish
from realtime.agent.rule.dates import DayWish
from realtime.agent.rule.speech import (
    booking_read_back,
    cancel_read_back,
    days_phrase,
    goodbye_text,
    join_and,
    offers_text,
    reschedule_read_back,
    spoken_date,
    upcoming_text,
)
from realtime.agent.rule.state import Awaiting, Offer, Task, Upcoming, Wish
from realtime.agent.rule.turn import Turn


def advance(turn: Turn) -> None:
    task = turn.state.task
    if task is Task.BOOK:
        _advance_booking(turn)
    elif task in (Task.RESCHEDULE, Task.CANCEL):
        _advance_change(turn)
    elif task is Task.CHECK:
        _advance_check(turn)
    else:
        turn.ask("How can I help you today?", Awaiting.OPEN)


# --- who is calling -----------------------------------------------------------------------------


def _lookup_by_name(turn: Turn) -> None:
    caller = turn.state.caller
    assert caller.first_name and caller.last_name and caller.date_of_birth
    caller.looked_up = (caller.first_name, caller.last_name, caller.date_of_birth)
    turn.call(
        "lookup_patient",
        {
            "first_name": caller.first_name,
            "last_name": caller.last_name,
            "date_of_birth": caller.date_of_birth.isoformat(),
        },
    )


def identified(turn: Turn, *, need_record: bool) -> bool:
    """True once we know who the caller is; otherwise asks or looks them up.

    ``need_record``: moving or cancelling needs the patient's record; booking can also be
    done for a new patient from their name and date of birth.
    """
    caller = turn.state.caller
    if caller.patient_id and not (need_record and caller.refresh_needed):
        return True
    if caller.patient_id:  # we booked or moved something since: look the visits up again
        caller.refresh_needed = False
        if caller.via_phone:
            turn.call("lookup_patient", {"use_caller_phone": True})
        else:
            _lookup_by_name(turn)
        return False
    if caller.phone_match is not None:
        name = caller.phone_match["first_name"]
        turn.ask(
            f"I found a record for this number under {name}. Am I speaking with {name}?",
            Awaiting.IDENTITY,
        )
        return False
    new_patient = caller.is_new is True and not need_record
    if not new_patient and turn.env.caller_phone_known and not caller.phone_checked:
        caller.phone_checked = True
        turn.call("lookup_patient", {"use_caller_phone": True})
        return False
    if caller.is_new is None and not need_record:
        turn.ask("Have you been to see us before?", Awaiting.NEW_OR_RETURNING)
        return False
    if not caller.first_name:
        welcome = "Welcome! " if new_patient else ""
        turn.ask(f"{welcome}Can I have your first and last name, please?", Awaiting.NAME)
        return False
    if not caller.last_name:
        turn.ask(f"Thanks, {caller.first_name}. And your last name?", Awaiting.LAST_NAME)
        return False
    if caller.date_of_birth is None:
        turn.ask(f"Thanks, {caller.first_name}. And what's your date of birth?", Awaiting.DOB)
        return False
    if new_patient:
        return True
    _lookup_by_name(turn)
    return False


# --- booking and moving -------------------------------------------------------------------------


def visit_type(turn: Turn) -> AppointmentTypeInfo | None:
    state = turn.state
    kind = type_by_code(turn.clinic, state.wish.type_code)
    if kind is None:
        return None
    fitted = fit_type(kind, state.caller.is_new, turn.clinic)
    state.wish.type_code = fitted.code
    return fitted


def _advance_booking(turn: Turn) -> None:
    state = turn.state
    if not identified(turn, need_record=False):
        return
    kind = visit_type(turn)
    if kind is None:
        if state.caller.is_new:
            question = (
                "What kind of visit would you like? "
                "For a first visit I can book a new patient exam."
            )
        else:
            question = "What kind of appointment do you need, for example a cleaning or a checkup?"
        turn.ask(question, Awaiting.VISIT_TYPE)
        return
    if kind == urgent_type(turn.clinic) and not state.wish.has_when and state.searched is None:
        state.wish.days = DayWish()  # pain does not wait: offer the soonest times
    search_or_offer(turn, kind.code, patient_is_new=state.caller.is_new is True)


def _named_visits(turn: Turn) -> list[Upcoming]:
    """The caller's upcoming visits that match the type or day they mentioned."""
    state = turn.state
    visits = state.caller.upcoming
    wanted = type_by_code(turn.clinic, state.wish.type_code)
    if wanted is not None:
        visits = [u for u in visits if type_by_name(turn.clinic, u.type_name) == wanted]
    if state.mentioned_day is not None:
        visits = [u for u in visits if spoken_date(state.mentioned_day) in u.spoken]
    return visits


def _advance_change(turn: Turn) -> None:
    state = turn.state
    if not identified(turn, need_record=True):
        return
    upcoming = state.caller.upcoming
    verb = "move" if state.task is Task.RESCHEDULE else "cancel"
    if state.target is None:
        if not upcoming:
            turn.ask(
                "I don't see any upcoming appointments for you. Would you like to book one?",
                Awaiting.BOOK_INSTEAD,
            )
            return
        named = _named_visits(turn)
        if len(upcoming) > 1 and len(named) == 1:
            state.target = named[0]  # "move my cleaning" when there is one cleaning
        elif len(upcoming) > 1:
            turn.ask(
                f"{upcoming_text(upcoming)} Which one would you like to {verb}?",
                Awaiting.WHICH_APPOINTMENT,
            )
            return
        else:
            state.target = upcoming[0]
    target = state.target
    if state.task is Task.CANCEL:
        turn.ask(cancel_read_back(target), Awaiting.READ_BACK)
        return
    kind = type_by_name(turn.clinic, target.type_name)
    if kind is None:
        transfer(turn, "reschedule: unknown appointment type", "Let me get our front desk to help.")
        return
    if not state.target_announced and not state.wish.has_when:
        state.target_announced = True
        turn.ask(
            f"I see your {target.type_name} with {target.provider} on {target.spoken}. "
            "What day would you like to move it to?",
            Awaiting.DAY,
        )
        return
    state.target_announced = True
    search_or_offer(turn, kind.code, patient_is_new=None)


def _advance_check(turn: Turn) -> None:
    state = turn.state
    if not identified(turn, need_record=True):
        return
    upcoming = state.caller.upcoming
    state.reset_task()
    if not upcoming:
        turn.ask(
            "I don't see any upcoming appointments for you. Would you like to book one?",
            Awaiting.BOOK_INSTEAD,
        )
        return
    with_whom = [f"a {u.type_name} with {u.provider} on {u.spoken}" for u in upcoming]
    turn.say(f"You have {join_and(with_whom)}.")
    turn.ask("Is there anything else I can help you with?", Awaiting.ANYTHING_ELSE)


def search_args(wish: Wish, code: str, patient_is_new: bool | None, turn: Turn) -> dict[str, Any]:
    args: dict[str, Any] = {"appointment_type": code}
    if wish.provider:
        args["provider"] = wish.provider
    days = wish.days
    if days is not None:
        if days.first is not None:
            args["date_from"] = max(days.first, turn.env.today).isoformat()
        if days.last is not None:
            args["date_to"] = days.last.isoformat()
        if days.weekday is not None:
            args["weekday"] = days.weekday
    if wish.times.day_part:
        args["day_part"] = wish.times.day_part
    if patient_is_new is not None:
        args["patient_is_new"] = patient_is_new
    return args


def search_or_offer(turn: Turn, code: str, *, patient_is_new: bool | None) -> None:
    state = turn.state
    if not state.wish.has_when and state.searched is None:
        turn.ask("What day and time would work best for you?", Awaiting.DAY)
        return
    args = search_args(state.wish, code, patient_is_new, turn)
    if state.searched != args:
        turn.say("Let me check.")
        turn.call("find_slots", args)
        return
    if not state.offers:
        ask_other_days(turn)
        return
    if state.chosen is None:
        present_offers(turn)
        return
    read_back(turn)


def _fit_times(offers: list[Offer], times: TimeWish) -> tuple[str, list[Offer]]:
    """The options that fit a requested time, and a lead-in when none do.

    ``find_slots`` narrows by part of day only (and returns the earliest few), so an exact
    time or "after 3" is checked here. The lead-in never repeats the caller's time: we only
    say times a tool gave us.
    """
    if times.exact is not None:
        exact = [o for o in offers if o.start.time() == times.exact]
        if exact:
            return "Yes, that time is open.", exact
        return "I don't see that exact time, but here's what I have.", offers
    if times.earliest is not None or times.latest is not None:
        fitting = [o for o in offers if times.accepts(o.start.time())]
        if fitting:
            return "", fitting
        return "I don't see a time in that window, but here's what I have.", offers
    return "", offers


def present_offers(turn: Turn) -> None:
    """Say the options from the last search that fit the caller's time wishes."""
    state = turn.state
    lead, offers = _fit_times(state.found or state.offers, state.wish.times)
    state.offers = offers
    turn.say(lead)
    turn.ask(offers_text(offers), Awaiting.CHOICE)


def ask_other_days(turn: Turn) -> None:
    wish = turn.state.wish
    turn.ask(
        f"I'm sorry, I don't have any {days_phrase(wish.days, wish.times.day_part)}. "
        "Would you like me to look at other days?",
        Awaiting.OTHER_DAYS,
    )


def broaden(turn: Turn) -> bool:
    """Relax the request after "look at other days"; False when nothing is left to relax."""
    wish = turn.state.wish
    days = wish.days
    if days is not None and days != DayWish():
        after = days.last or days.first or turn.env.today
        wish.days = DayWish(first=after + timedelta(days=1))
    elif not wish.times.empty:
        wish.times = TimeWish()
    elif wish.provider:
        wish.provider = None
    else:
        return False
    turn.state.chosen = None
    return True


def read_back(turn: Turn) -> None:
    """Read the chosen option back in one message naming the day, date, time and provider."""
    state = turn.state
    chosen = state.chosen
    assert chosen is not None
    if state.task is Task.RESCHEDULE and state.target is not None:
        turn.ask(reschedule_read_back(state.target, chosen), Awaiting.READ_BACK)
        return
    kind = type_by_code(turn.clinic, state.wish.type_code)
    caller = state.caller
    who = f"{caller.first_name} {caller.last_name}" if caller.is_new and caller.has_name else None
    turn.ask(booking_read_back(kind.name if kind else "visit", chosen, who), Awaiting.READ_BACK)


def commit(turn: Turn) -> None:
    """The caller said yes to the read-back: book, move or cancel."""
    state = turn.state
    if not turn.env.heard_whole:
        turn.say("Sorry, let me repeat that.")
        if state.task is Task.CANCEL and state.target is not None:
            turn.ask(cancel_read_back(state.target), Awaiting.READ_BACK)
        else:
            read_back(turn)
        return
    if state.task is Task.CANCEL and state.target is not None:
        turn.call(
            "cancel_appointment", {"appointment_ref": state.target.ref, "reason": "patient request"}
        )
        return
    chosen = state.chosen
    assert chosen is not None
    if state.task is Task.RESCHEDULE and state.target is not None:
        turn.say("Great, one moment.")
        turn.call(
            "reschedule_appointment",
            {"appointment_ref": state.target.ref, "option_id": chosen.option_id},
        )
        return
    caller = state.caller
    args: dict[str, Any] = {"option_id": chosen.option_id}
    if caller.patient_id:
        args["patient_id"] = caller.patient_id
    else:
        assert caller.first_name and caller.last_name and caller.date_of_birth
        args["new_patient"] = {
            "first_name": caller.first_name,
            "last_name": caller.last_name,
            "date_of_birth": caller.date_of_birth.isoformat(),
        }
    turn.say("Great, one moment.")
    turn.call("book_appointment", args)


# --- leaving the call ---------------------------------------------------------------------------


def transfer(turn: Turn, reason: str, speech: str) -> None:
    turn.say(speech)
    turn.call("transfer_to_human", {"reason": reason})


def goodbye(turn: Turn) -> None:
    turn.say(goodbye_text(turn.clinic))
    turn.call("end_call", {"reason": "caller done"})
