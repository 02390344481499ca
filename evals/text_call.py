"""Text-only calls: the real agent, tool loop and ToolBox on a real database and Temporal,
without audio. The voice session runs the same loop with speech around it; tests and the
conversation evals drive calls through this."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from core.db import Database
from durable.booking import Bookings
from durable.calls import CallEvents
from realtime.agent.loop import answered_message, run_agent_turn
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import Agent, Conversation, Message
from realtime.agent.tools import ToolBox, ToolContext


@dataclass
class RecordingControl:
    """Stands in for the session's call control: notes what the tools asked for."""

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
        """For the ToolBox: the message the caller last answered, and whether it was cut off
        (a text call hears every message whole unless a barge-in cut it)."""
        text = answered_message(self.conversation)
        message = next(
            (m for m in reversed(self.conversation.messages) if m.role == "agent" and m.text),
            None,
        )
        return text, bool(message and message.text == text and message.interrupted)

    async def say(self, text: str, confidence: float = 1.0) -> str:
        """The caller says ``text``; returns everything the agent said in reply."""
        self.conversation.add_caller(text, confidence)

        async def ignore(_: str) -> None:
            return None

        turn = await run_agent_turn(self.agent, self.conversation, self.tools, ignore)
        return turn.text

    def cut_last_reply(self, words_heard: int) -> None:
        """The caller talked over our last reply after ``words_heard`` words: truncate it to
        what was heard, as the voice session does on a barge-in."""
        message = next(
            (m for m in reversed(self.conversation.messages) if m.role == "agent" and m.text),
            None,
        )
        if message is None:
            return
        words = message.text.split()
        if words_heard < len(words):
            message.text, message.interrupted = " ".join(words[:words_heard]), True

    @property
    def agent_messages(self) -> list[Message]:
        return [m for m in self.conversation.messages if m.role == "agent"]

    @property
    def started(self) -> datetime:
        return self.conversation.now


async def open_text_call(
    agent: Agent,
    db: Database,
    client: Client,
    clinic_id: str,
    task_queue_prefix: str,
    *,
    caller_phone: str | None = None,
) -> TextCall:
    """A call to ``clinic_id`` whose tools start workflows on ``task_queue_prefix``."""
    profile = await load_clinic_profile(db, clinic_id)
    control = RecordingControl()
    calls: list[TextCall] = []
    tools = ToolBox(
        ToolContext(
            db=db,
            bookings=Bookings(client, db, task_queue_prefix=task_queue_prefix),
            events=CallEvents(client, task_queue_prefix=task_queue_prefix),
            clinic=profile,
            call_sid=f"CA{uuid.uuid4().hex}",
            caller_phone=caller_phone,
            control=control,
            heard=lambda: calls[0].heard(),
            # No audio to keep in time with: wait for the answer rather than say "pending".
            booking_answer_within=timedelta(seconds=15),
        )
    )
    conversation = Conversation(clinic=profile, now=datetime.now(UTC), caller_phone=caller_phone)
    call = TextCall(agent, conversation, tools, control)
    calls.append(call)
    return call
