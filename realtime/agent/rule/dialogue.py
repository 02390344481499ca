"""The dialogue manager: pure functions from (state, caller words or tool results) to
(what to say, which tools to call, the new state).

Each caller turn goes through the same gates in order: unclear speech, emergencies, requests
for a person or billing, goodbyes, clinic questions, and then the request itself.
"""

from __future__ import annotations

import copy

from realtime.agent.rule.catalog import match_provider
from realtime.agent.rule.flow import advance, goodbye, transfer
from realtime.agent.rule.intents import Intent, classify, emergency_reason
from realtime.agent.rule.questions import answer_questions
from realtime.agent.rule.results import ANYTHING_ELSE, on_tool_results
from realtime.agent.rule.state import Awaiting, DialogueState, Task
from realtime.agent.rule.text import Utterance
from realtime.agent.rule.turn import Env, Reply, Turn
from realtime.agent.rule.understand import PERSONAL, read, understand

__all__ = ["LOW_CONFIDENCE", "REPEAT", "on_caller", "on_tool_results"]

LOW_CONFIDENCE = 0.5
REPEAT = "Sorry, could you say that again?"
MAX_MISUNDERSTOOD = 3
_GOODBYE_WORDS = ("bye", "goodbye", "good bye", "bye bye")
_ASK_FOR_SOMEONE = (
    "talk to", "speak to", "speak with", "talk with", "message for", "leave a message",
)  # fmt: skip
_DOB_EXAMPLE = (
    "Sorry, I didn't catch that. What's your date of birth, "
    "for example January fifth, nineteen ninety?"
)


def on_caller(state: DialogueState, text: str, confidence: float, env: Env) -> Reply:
    """Answer one caller message."""
    if confidence < LOW_CONFIDENCE:
        # State unchanged: a guess could book the wrong thing. A read-back is repeated with
        # the question, since a commit needs a "yes" to the message naming the details.
        again = [state.last_prompt] if state.awaiting is Awaiting.READ_BACK else []
        return Reply([REPEAT, *again], [], state)
    turn = Turn(copy.deepcopy(state), env)
    turn.state.pending = None
    turn.state.pending_tool = None
    if turn.state.ended:
        return turn.reply()
    utterance = Utterance(text)
    if not utterance.tokens:
        _not_understood(turn)
        return turn.reply()
    _respond(turn, utterance)
    return turn.reply()


def _respond(turn: Turn, utterance: Utterance) -> None:
    state = turn.state
    reason = emergency_reason(utterance)
    if reason is not None:
        turn.say(turn.clinic.emergency_instructions)
        transfer(turn, f"emergency: {reason}", "I'm transferring you to our team right now.")
        return
    intents = classify(utterance)
    personal = state.awaiting in PERSONAL
    if Intent.HUMAN in intents:
        transfer(
            turn, "caller asked for a person", "Of course. Let me transfer you to our front desk."
        )
        return
    if Intent.BILLING in intents and not personal:  # "Bill" is also a first name
        transfer(
            turn, "billing question", "Our front desk handles billing. Let me transfer you now."
        )
        return
    if Intent.LATE in intents:
        transfer(
            turn,
            "caller running late",
            "Thanks for letting us know. Let me put you through to the front desk.",
        )
        return
    provider = match_provider(utterance, turn.clinic)
    if provider is not None and utterance.has(*_ASK_FOR_SOMEONE):
        transfer(
            turn,
            f"caller asked for {provider.name}",
            f"Let me transfer you to our front desk, they can reach {provider.name}.",
        )
        return
    task_words = intents & {Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL}
    if utterance.has(*_GOODBYE_WORDS) and not task_words:
        goodbye(turn)
        return
    answered = answer_questions(turn, utterance, intents)
    reading = read(turn, utterance, intents)
    progressed = understand(turn, reading)
    if turn.done or turn.asked:
        state.misunderstood = 0
        return
    if progressed:
        state.misunderstood = 0
    if state.task is not Task.NONE and (progressed or answered):
        advance(turn)
    elif progressed:
        caller = state.caller
        hello = f"Thanks, {caller.first_name}. " if caller.first_name else ""
        welcome = "Welcome! " if caller.is_new and not caller.first_name else ""
        turn.ask(f"{hello}{welcome}How can I help you today?", Awaiting.OPEN)
    elif answered:
        turn.ask(ANYTHING_ELSE, Awaiting.ANYTHING_ELSE)
    elif Intent.GOODBYE in intents and state.awaiting in (Awaiting.OPEN, Awaiting.ANYTHING_ELSE):
        goodbye(turn)
    elif Intent.REPEAT in intents:
        turn.ask(state.last_prompt, state.awaiting)
    elif Intent.HOLD in intents:
        turn.say("Sure, take your time.")
    else:
        _not_understood(turn)


def _not_understood(turn: Turn) -> None:
    state = turn.state
    state.misunderstood += 1
    if state.misunderstood >= MAX_MISUNDERSTOOD:
        transfer(
            turn,
            "caller not understood",
            "I'm sorry, I'm having trouble understanding. Let me transfer you to our front desk.",
        )
        return
    if state.awaiting is Awaiting.DOB:
        turn.ask(_DOB_EXAMPLE, Awaiting.DOB)
        return
    prompt = state.last_prompt
    turn.say("Sorry, I didn't quite get that.")
    turn.ask(prompt, state.awaiting)
