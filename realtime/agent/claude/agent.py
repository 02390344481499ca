"""``ClaudeAgent``: the Messages API, streamed, with tool use, behind the ``Agent`` protocol.

Text deltas are yielded as they arrive (the session speaks them sentence by sentence); tool
calls are yielded once the response has ended, so a stream that breaks mid-way never leaves a
half-received tool call behind. The session runs the tools and calls ``respond`` again with the
results in the conversation, until a response calls none (``stop_reason`` ``end_turn``).

Within a turn the caller is waiting: the first token must arrive within ``turn_budget_s``.
A retryable failure (429, 529, 5xx, timeout) gets one retry if the budget still allows it,
honouring a short ``retry-after``; otherwise ``ClaudeUnavailable`` is raised at once so the
fallback (``FailoverAgent``) answers instead of leaving the caller in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from anthropic import AsyncAnthropic

from realtime.agent.claude.errors import (
    ClaudeUnavailable,
    failure_kind,
    is_retryable,
    retry_after_s,
)
from realtime.agent.claude.history import to_messages
from realtime.agent.claude.prompt import CACHED, system_blocks
from realtime.agent.protocol import AgentEvent, Conversation, TextDelta, ToolCall
from realtime.agent.tools import TOOL_SPECS

log = logging.getLogger(__name__)

# The tools never change: the cache breakpoint on the last one caches all of them.
TOOLS: list[dict[str, Any]] = [*TOOL_SPECS[:-1], {**TOOL_SPECS[-1], "cache_control": CACHED}]
MIN_ATTEMPT_S = 0.4  # a retry with less time than this left cannot produce a first token


@dataclass(frozen=True)
class ClaudeOptions:
    model: str
    max_tokens: int
    turn_budget_s: float = 1.8  # request start → first token, retry included
    first_token_timeout_s: float = 1.2  # per attempt
    max_retry_after_s: float = 0.6  # a longer retry-after is not worth the caller's wait
    stall_s: float = 2.0  # silence between events once the response is streaming


class ClaudeAgent:
    """One per call (it holds no call state; the conversation is passed in each time)."""

    # ``respond`` has no side effects: it may start on words the caller has not finished.
    speculative = True

    def __init__(
        self,
        client: AsyncAnthropic,
        options: ClaudeOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._options = options
        self._clock = clock

    def request(self, conversation: Conversation) -> dict[str, Any]:
        """The Messages API request for the conversation's next response."""
        messages = to_messages(conversation)
        last = messages[-1]["content"][-1]
        # Cache the history too: the next turn's request extends this one.
        messages[-1]["content"][-1] = {**last, "cache_control": CACHED}
        return {
            "model": self._options.model,
            "max_tokens": self._options.max_tokens,
            "system": system_blocks(conversation.clinic, conversation),
            "tools": TOOLS,
            "messages": messages,
        }

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        if not conversation.messages or conversation.messages[-1].role == "agent":
            return  # nothing new to answer
        request = self.request(conversation)
        started = self._clock()
        budget_end = started + self._options.turn_budget_s
        for attempt in (1, 2):
            first_by = min(budget_end, self._clock() + self._options.first_token_timeout_s)
            produced = False
            try:
                async for event in self._attempt(request, first_by):
                    produced = True
                    yield event
                return
            except Exception as exc:  # classified below, never swallowed
                kind = failure_kind(exc)
                if produced or attempt == 2 or not is_retryable(exc):
                    log.warning("claude failed", extra={"kind": kind, "attempt": attempt})
                    raise ClaudeUnavailable(kind) from exc
                wait = retry_after_s(exc)
                left = budget_end - self._clock()
                if wait > self._options.max_retry_after_s or wait + MIN_ATTEMPT_S > left:
                    log.warning("claude failed, no time to retry", extra={"kind": kind})
                    raise ClaudeUnavailable(kind) from exc
                log.info("claude retry", extra={"kind": kind, "wait_s": round(wait, 3)})
                await asyncio.sleep(wait)

    async def _attempt(self, request: dict[str, Any], first_by: float) -> AsyncIterator[AgentEvent]:
        calls: list[ToolCall] = []
        async with contextlib.AsyncExitStack() as stack:
            # No timeout context spans a ``yield``: it would cancel the consumer's work instead.
            async with asyncio.timeout(max(0.0, first_by - self._clock())):
                stream = await stack.enter_async_context(self._client.messages.stream(**request))
            events = stream.__aiter__()
            content_started = False
            while True:
                wait = (
                    self._options.stall_s if content_started else max(0.0, first_by - self._clock())
                )
                try:
                    async with asyncio.timeout(wait):
                        event = await events.__anext__()
                except StopAsyncIteration:
                    break
                if event.type == "text":
                    content_started = True
                    if event.text:
                        yield TextDelta(event.text)
                elif event.type == "content_block_start":
                    content_started = True
                elif event.type == "content_block_stop" and event.content_block.type == "tool_use":
                    block = event.content_block
                    arguments = block.input if isinstance(block.input, dict) else {}
                    calls.append(ToolCall(block.id, block.name, dict(arguments)))
        for call in calls:
            yield call
