"""Reading tool results back into the dialogue: offers, patient records, booking outcomes."""

from __future__ import annotations

import copy
from typing import Any

from realtime.agent.protocol import ToolResult
from realtime.agent.rule.catalog import type_by_code
from realtime.agent.rule.flow import (
    advance,
    ask_other_days,
    present_offers,
    read_back,
    transfer,
)
from realtime.agent.rule.speech import cancel_read_back, join_and
from realtime.agent.rule.state import Awaiting, Caller, DialogueState, Offer, Task, Upcoming
from realtime.agent.rule.turn import Env, Reply, Turn

ANYTHING_ELSE = "Is there anything else I can help you with?"
MAX_REJECTIONS = 3


def on_tool_results(state: DialogueState, results: list[ToolResult], env: Env) -> Reply:
    """Continue after the tools we asked for have run."""
    turn = Turn(copy.deepcopy(state), env)
    for result in results:
        handler = _HANDLERS.get(result.name)
        if handler is not None:
            handler(turn, result)
    if not turn.calls:  # nothing new in flight
        turn.state.pending = None
        turn.state.pending_tool = None
    return turn.reply()


# --- find_slots ---------------------------------------------------------------------------------


def _found_slots(turn: Turn, result: ToolResult) -> None:
    state = turn.state
    content = result.content
    if result.is_error:
        error = str(content.get("error", ""))
        if error == "unknown_provider":
            names = [str(n) for n in content.get("providers", [])]
            turn.say(f"I don't have a provider by that name. Our providers are {join_and(names)}.")
            state.wish.provider = None
        elif error == "not_offered" and state.wish.provider:
            turn.say(f"{state.wish.provider} doesn't see patients for that visit.")
            state.wish.provider = None
        else:
            turn.say("Sorry, I couldn't find that kind of visit.")
            state.wish.type_code = None
        advance(turn)
        return
    offers = [Offer.from_tool(raw) for raw in content.get("options", [])]
    state.searched = dict(state.pending or {})
    state.chosen = None
    if not offers:
        state.offers = state.found = []
        ask_other_days(turn)
        return
    state.found = offers
    present_offers(turn)


# --- lookup_patient -----------------------------------------------------------------------------


def accept_record(caller: Caller, record: dict[str, Any], *, via_phone: bool) -> None:
    caller.patient_id = str(record["patient_id"])
    caller.first_name = str(record["first_name"])
    caller.upcoming = [Upcoming.from_tool(u) for u in record.get("upcoming", [])]
    caller.is_new = False
    caller.phone_match = None
    caller.via_phone = caller.via_phone or via_phone


def _looked_up(turn: Turn, result: ToolResult) -> None:
    state = turn.state
    caller = state.caller
    by_phone = bool((state.pending or {}).get("use_caller_phone"))
    record = result.content
    if result.is_error or not record.get("found"):
        if by_phone:
            advance(turn)  # not from this number: ask who is calling
        else:
            _not_found(turn)
        return
    first = str(record["first_name"])
    if caller.patient_id == record["patient_id"]:  # a refresh after a change
        accept_record(caller, record, via_phone=by_phone)
    elif by_phone and caller.first_name and caller.first_name.lower() != first.lower():
        pass  # the phone belongs to someone else; ask for name and date of birth
    elif by_phone and not caller.first_name:
        caller.phone_match = record  # confirm before using someone's record
    else:
        accept_record(caller, record, via_phone=by_phone)
        turn.say(f"Thanks, {first}, I found your record.")
    advance(turn)


def _not_found(turn: Turn) -> None:
    state = turn.state
    caller = state.caller
    caller.failed_lookups += 1
    if caller.failed_lookups < 2:
        caller.first_name = caller.last_name = None
        caller.date_of_birth = None
        turn.ask(
            "I couldn't find a record with that name and date of birth. "
            "Could you tell me your first and last name again?",
            Awaiting.NAME,
        )
        return
    if state.task is Task.BOOK and caller.looked_up is not None:
        caller.first_name, caller.last_name, caller.date_of_birth = caller.looked_up
        turn.ask(
            "I still can't find your record. Would you like me to book you as a new patient?",
            Awaiting.NEW_INSTEAD,
        )
        return
    transfer(
        turn,
        "could not find the caller's patient record",
        "I'm sorry, I can't find your record. Let me transfer you to our front desk.",
    )


# --- committing tools ---------------------------------------------------------------------------


def _refused_read_back(turn: Turn, content: dict[str, Any]) -> bool:
    """The ToolBox refused because the caller did not hear the details whole: read again."""
    error = str(content.get("error", ""))
    if not error.startswith(("confirmation_interrupted", "not_read_back")):
        return False
    state = turn.state
    turn.say("Let me read that back once more.")
    if state.task is Task.CANCEL and state.target is not None:
        turn.ask(cancel_read_back(state.target), Awaiting.READ_BACK)
    else:
        read_back(turn)
    return True


def _done(turn: Turn, speech: str, what: str) -> None:
    state = turn.state
    turn.say(speech)
    state.completed.append(what)
    state.caller.refresh_needed = state.caller.patient_id is not None
    state.reset_task()
    turn.ask(ANYTHING_ELSE, Awaiting.ANYTHING_ELSE)


def _committed(turn: Turn, result: ToolResult) -> None:
    state = turn.state
    content = result.content
    chosen = state.chosen
    status = content.get("status")
    kind = type_by_code(turn.clinic, state.wish.type_code)
    type_name = state.target.type_name if state.target else (kind.name if kind else "visit")
    if status == "booked" and chosen is not None:
        spoken = str(content.get("spoken") or chosen.spoken)
        provider = str(content.get("provider") or chosen.provider)
        if state.task is Task.RESCHEDULE:
            speech = f"Done. Your {type_name} is now on {spoken} with {provider}."
        else:
            speech = f"You're all set. Your {type_name} with {provider} is booked for {spoken}."
        if turn.env.caller_phone_known or state.caller.patient_id:
            speech += " You'll get a text to confirm."
        _done(turn, speech, str(state.task))
        return
    if status == "pending":
        _done(
            turn,
            "I've sent that through, and you'll get a text as soon as it's confirmed.",
            str(state.task),
        )
        return
    if _refused_read_back(turn, content):
        return
    error = str(content.get("error", "rejected"))
    taken = status == "rejected" or error.startswith("unknown_option")
    state.rejections += 1
    if not taken or state.rejections >= MAX_REJECTIONS or chosen is None:
        transfer(
            turn,
            f"{state.task} failed: {error}",
            "I'm sorry, I'm having trouble with that. Let me transfer you to our front desk.",
        )
        return
    turn.say("I'm sorry, that time was just taken.")
    state.offers = [o for o in state.offers if o.option_id != chosen.option_id]
    state.chosen = None
    state.searched = None  # search again: fresh times, and the ToolBox's fresh option ids
    advance(turn)


def _cancelled(turn: Turn, result: ToolResult) -> None:
    state = turn.state
    content = result.content
    target = state.target
    status = content.get("status")
    if status in ("cancelled", "pending") and target is not None:
        state.caller.upcoming = [u for u in state.caller.upcoming if u.ref != target.ref]
        if status == "cancelled":
            speech = f"Your {target.type_name} on {target.spoken} is cancelled."
        else:
            speech = "I've sent the cancellation through, and you'll get a text once it's done."
        _done(turn, speech, "cancel")
        return
    if _refused_read_back(turn, content):
        return
    transfer(
        turn,
        f"cancellation failed: {content.get('error', 'rejected')}",
        "I'm sorry, I couldn't cancel that. Let me transfer you to our front desk.",
    )


def _call_over(turn: Turn, result: ToolResult) -> None:
    turn.state.ended = True


_HANDLERS = {
    "find_slots": _found_slots,
    "lookup_patient": _looked_up,
    "book_appointment": _committed,
    "reschedule_appointment": _committed,
    "cancel_appointment": _cancelled,
    "transfer_to_human": _call_over,
    "end_call": _call_over,
}
