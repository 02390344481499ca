"""An agent that falls back to another when the first stalls or fails mid-call.

The caller must never sit in dead air: if the primary agent yields nothing for ``stall_s``
(or raises) before it has said anything, the same turn is answered by the fallback (the
RuleAgent), and from then on the call stays with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from realtime.agent.protocol import Agent, AgentEvent, Conversation

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
            except Exception as exc:  # stall or provider error: switch if nothing was said yet
                if produced or self._fallback is None:
                    raise
                reason = "stall" if isinstance(exc, TimeoutError) else type(exc).__name__
                log.warning("agent failover", extra={"reason": reason})
                if self._on_failover is not None:
                    self._on_failover(f"agent:{reason}")
                self._active, self._fallback = self._fallback, None
                stream = self._active.respond(conversation).__aiter__()
                continue
            produced = True
            yield event
