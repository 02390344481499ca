"""A head start for the agent: its first response to words the caller may not have finished.

When the caller pauses on an interim transcript that has stopped changing, the session starts
the agent on it at once, against a copy of the conversation, and buffers what it streams.
Nothing is spoken and no tool runs: when the final transcript arrives with the same words, the
buffered (and still streaming) response becomes the turn's first response; if the caller goes
on, or the final differs, it is cancelled and the turn starts as usual. Only agents whose
``respond`` has no side effects may be run this way (``Agent`` implementations say so with
``speculative = True``): the RuleAgent updates its dialogue state as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

from realtime.agent.protocol import Agent, AgentEvent, Conversation, Message

_WORD = re.compile(r"[a-z0-9']+")


def same_words(a: str, b: str) -> bool:
    """Equal once case and punctuation are ignored (finals are formatted, interims may not be)."""
    return _WORD.findall(a.lower()) == _WORD.findall(b.lower())


def can_speculate(agent: Agent) -> bool:
    return bool(getattr(agent, "speculative", False))


class _Done:
    pass


class Speculation:
    def __init__(
        self,
        agent: Agent,
        conversation: Conversation,
        text: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.text = text
        self.started_at = clock()
        self._clock = clock
        self.first_event_at: float | None = None
        self._events: asyncio.Queue[AgentEvent | _Done | BaseException] = asyncio.Queue()
        caller = Message("caller", text, at=datetime.now(UTC))
        snapshot = replace(conversation, messages=[*conversation.messages, caller])
        self._task = asyncio.create_task(self._run(agent, snapshot))

    async def _run(self, agent: Agent, conversation: Conversation) -> None:
        try:
            async for event in agent.respond(conversation):
                if self.first_event_at is None:
                    self.first_event_at = self._clock()
                self._events.put_nowait(event)
        except Exception as exc:  # handed to the turn that adopts this response
            self._events.put_nowait(exc)
            return
        self._events.put_nowait(_Done())

    def matches(self, final_text: str) -> bool:
        return same_words(self.text, final_text)

    async def cancel(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def events(self) -> AsyncIterator[AgentEvent]:
        """The response: what was buffered, then the rest as it streams."""
        while True:
            item = await self._events.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def head_start(self, agent: Agent) -> Agent:
        """``agent`` whose next ``respond`` is this response."""
        return _HeadStart(self, agent)


class _HeadStart:
    def __init__(self, speculation: Speculation, agent: Agent) -> None:
        self._speculation: Speculation | None = speculation
        self._agent = agent

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        speculation, self._speculation = self._speculation, None
        source = speculation.events() if speculation else self._agent.respond(conversation)
        async for event in source:
            yield event
