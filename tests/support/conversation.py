"""Text-only calls: the real agent, tool loop and ToolBox on a real database and Temporal,
without audio. The voice session runs the same loop with speech around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from realtime.agent.loop import answered_message, run_agent_turn
from realtime.agent.protocol import Agent, Conversation, Message
from realtime.agent.tools import ToolBox


@dataclass
class RecordingControl:
    transfers: list[str] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)

    def request_transfer(self, reason: str) -> None:
        self.transfers.append(reason)

    def request_hangup(self, reason: str) -> None:
        self.hangups.append(reason)


@dataclass
class TextCall:
    agent: Agent
    conversation: Conversation
    tools: ToolBox
    control: RecordingControl

    def heard(self) -> tuple[str, bool]:
        """For the ToolBox: in a text call every agent message is heard whole."""
        return answered_message(self.conversation), False

    async def say(self, text: str, confidence: float = 1.0) -> str:
        """The caller says ``text``; returns everything the agent said in reply."""
        self.conversation.add_caller(text, confidence)

        async def ignore(_: str) -> None:
            return None

        turn = await run_agent_turn(self.agent, self.conversation, self.tools, ignore)
        return turn.text

    @property
    def agent_messages(self) -> list[Message]:
        return [m for m in self.conversation.messages if m.role == "agent"]

    @property
    def started(self) -> datetime:
        return self.conversation.now
