"""The RuleAgent: the offline, deterministic receptionist behind the ``Agent`` protocol.

The default when no LLM key is configured and the fallback when the LLM fails. One instance
per call keeps the dialogue state; each ``respond`` reads the newest caller message or the
results of the tools it asked for, and streams sentences then tool calls.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

from realtime.agent.protocol import AgentEvent, Conversation, Message, TextDelta, ToolCall
from realtime.agent.rule.catalog import type_by_code
from realtime.agent.rule.dates import local_date
from realtime.agent.rule.dialogue import on_caller, on_tool_results
from realtime.agent.rule.state import DialogueState
from realtime.agent.rule.turn import Env, Reply

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TROUBLE = "I'm sorry, something went wrong on my side. Let me transfer you to our front desk."


def _answered(conversation: Conversation) -> Message | None:
    """The agent message the newest caller message answers."""
    seen_caller = False
    for message in reversed(conversation.messages):
        if message.role == "caller":
            seen_caller = True
        elif message.role == "agent" and seen_caller and message.text:
            return message
    return None


class RuleAgent:
    def __init__(self) -> None:
        self._state = DialogueState()
        self._started = False

    @property
    def state(self) -> DialogueState:
        return self._state

    def _start(self, conversation: Conversation) -> None:
        """An outbound recall ("recall:cleaning") already knows what to offer."""
        self._started = True
        purpose = conversation.purpose or ""
        if conversation.direction == "outbound" and purpose.startswith("recall:"):
            code = purpose.split(":", 1)[1]
            if type_by_code(conversation.clinic, code) is not None:
                self._state.suggested_type = code

    def _env(self, conversation: Conversation) -> Env:
        clinic = conversation.clinic
        answered = _answered(conversation)
        return Env(
            clinic=clinic,
            today=local_date(conversation.now, clinic.time_zone),
            caller_phone_known=bool(conversation.caller_phone),
            heard_whole=answered is None or not answered.interrupted,
        )

    def _reply(self, conversation: Conversation) -> Reply | None:
        if not self._started:
            self._start(conversation)
        if not conversation.messages:
            return None  # the session speaks the greeting
        last = conversation.messages[-1]
        env = self._env(conversation)
        if last.role == "tool" and self._state.pending_tool is not None:
            return on_tool_results(self._state, last.tool_results, env)
        caller = conversation.last("caller")
        if last.role == "agent" or caller is None:
            return None
        # A caller message, or results of tools another agent asked for before we took over:
        # either way, answer what the caller last said.
        return on_caller(self._state, caller.text, caller.confidence, env)

    def _fallback(self) -> Reply:
        state = self._state
        state.tool_calls += 1
        state.pending_tool = "transfer_to_human"
        state.ended = True  # whatever broke, do not try again on this call
        call = ToolCall(f"rule-{state.tool_calls}", "transfer_to_human", {"reason": "agent error"})
        return Reply([_TROUBLE], [call], state)

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        try:
            reply = self._reply(conversation)
        except Exception:  # a receptionist must never go silent: hand over instead
            log.exception("rule agent failed")
            reply = self._fallback() if not self._state.ended else None
        if reply is None:
            return
        self._state = reply.state
        sentences = [s for s in _SENTENCE_END.split(reply.text) if s]
        for index, sentence in enumerate(sentences):
            yield TextDelta(sentence if index == len(sentences) - 1 else f"{sentence} ")
        for call in reply.calls:
            yield call
