"""One agent turn: stream text out, run the tools the agent asks for, ask again.

Shared by the voice session (text goes to TTS) and text-only conversations (tests, evals), so
both exercise the same tool loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from realtime.agent.protocol import Agent, Conversation, Message, TextDelta, ToolCall, ToolResult


class ToolRunner(Protocol):
    async def run(self, call: ToolCall) -> ToolResult: ...


MAX_TOOL_ROUNDS = 5  # an agent that keeps calling tools is cut off rather than looping


@dataclass
class TurnResult:
    messages: list[Message] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(m.text for m in self.messages if m.text).strip()


def answered_message(conversation: Conversation) -> str:
    """The agent's words the caller last answered: what a "yes" is a yes to."""
    seen_caller = False
    for message in reversed(conversation.messages):
        if message.role == "caller":
            seen_caller = True
        elif message.role == "agent" and seen_caller and message.text:
            return message.text
    return ""


async def run_agent_turn(
    agent: Agent,
    conversation: Conversation,
    tools: ToolRunner,
    on_text: Callable[[str], Awaitable[None]],
    on_message_end: Callable[[Message], Awaitable[None]] | None = None,
    on_event: Callable[[], None] | None = None,
) -> TurnResult:
    """Run the agent until it answers without calling a tool.

    ``on_text`` receives each text delta as it streams; ``on_message_end`` is awaited after
    each agent message (the voice session waits there for the message to be heard before any
    committing tool runs, so it can refuse one whose read-back was interrupted).
    """
    result = TurnResult()
    for _ in range(MAX_TOOL_ROUNDS):
        parts: list[str] = []
        calls: list[ToolCall] = []
        async for event in agent.respond(conversation):
            if on_event is not None:
                on_event()
            if isinstance(event, TextDelta):
                parts.append(event.text)
                await on_text(event.text)
            else:
                calls.append(event)
        message = conversation.add_agent("".join(parts).strip(), calls)
        result.messages.append(message)
        if on_message_end is not None:
            await on_message_end(message)
        if not calls:
            return result
        results = [await tools.run(call) for call in calls]
        conversation.add_tool_results(results)
        result.tool_results.extend(results)
    return result
