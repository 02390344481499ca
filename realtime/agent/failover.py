"""An agent that falls back to another when the first stalls or fails mid-call.

The caller must never sit in dead air: if the primary agent yields nothing for ``stall_s``
(or raises), the same turn is answered by the fallback — the RuleAgent, or per clinic setting
``TransferAgent``'s apology and transfer — and from then on the call stays with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from realtime.agent.protocol import Agent, AgentEvent, Conversation, TextDelta, ToolCall

log = logging.getLogger(__name__)


class FailoverAgent:
    def __init__(
        self,
        primary: Agent,
        fallback: Agent,
        *,
        stall_s: float,
        on_failover: Callable[[str], None] | None = None,
    ) -> None:
        self._active = primary
        self._fallback: Agent | None = fallback
        self._stall_s = stall_s
        self._on_failover = on_failover

    @property
    def speculative(self) -> bool:
        """As the agent answering now (the RuleAgent keeps state: it cannot speculate)."""
        return bool(getattr(self._active, "speculative", False))

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        stream = self._active.respond(conversation).__aiter__()
        produced = False
        while True:
            try:
                # asyncio.timeout, not wait_for: wait_for can swallow cancellation on 3.11.
                async with asyncio.timeout(None if produced else self._stall_s):
                    event = await stream.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:  # stall or provider error: the fallback answers this turn
                if self._fallback is None:
                    raise
                # After a partial answer the fallback answers the same caller words: the caller
                # hears a restart, never silence.
                reason = (
                    "stall" if isinstance(exc, TimeoutError) else getattr(exc, "kind", None)
                ) or type(exc).__name__
                log.warning("agent failover", extra={"reason": reason, "mid_answer": produced})
                if self._on_failover is not None:
                    self._on_failover(f"agent:{reason}")
                self._active, self._fallback = self._fallback, None
                stream = self._active.respond(conversation).__aiter__()
                continue
            produced = True
            yield event


APOLOGY = "I'm sorry, I'm having trouble on my side. Let me connect you with our front desk."


class TransferAgent:
    """A fallback that apologises and hands the call to staff (clinics that prefer a person
    to the RuleAgent when the LLM fails). It speaks once; the transfer ends the call."""

    def __init__(self) -> None:
        self._done = False

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        if self._done:
            return
        self._done = True
        yield TextDelta(APOLOGY)
        yield ToolCall("failover-transfer", "transfer_to_human", {"reason": "assistant down"})
