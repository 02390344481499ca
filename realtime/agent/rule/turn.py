"""One response being built: what to say, which tool to call, and the state after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from realtime.agent.protocol import ClinicProfile, ToolCall
from realtime.agent.rule.state import Awaiting, DialogueState


@dataclass(frozen=True)
class Env:
    """What the dialogue may know besides the caller's words."""

    clinic: ClinicProfile
    today: date  # clinic-local date of the call
    caller_phone_known: bool
    # Whether the caller heard our last message whole; a "yes" to a cut-off read-back is
    # not a yes to the details.
    heard_whole: bool = True


@dataclass
class Reply:
    speech: list[str]
    calls: list[ToolCall]
    state: DialogueState

    @property
    def text(self) -> str:
        return " ".join(p for p in self.speech if p).strip()


@dataclass
class Turn:
    state: DialogueState
    env: Env
    speech: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    asked: bool = False  # a question (or the next step) is already in this response

    @property
    def clinic(self) -> ClinicProfile:
        return self.env.clinic

    @property
    def done(self) -> bool:
        """A tool call ends the response: the next step depends on its result."""
        return bool(self.calls) or self.state.ended

    def say(self, text: str) -> None:
        if text:
            self.speech.append(text)

    def ask(self, text: str, awaiting: Awaiting) -> None:
        """Ask a question; it is repeated when the caller's answer is not understood."""
        self.speech.append(text)
        self.asked = True
        self.state.last_prompt = text
        self.state.awaiting = awaiting

    def call(self, name: str, arguments: dict[str, Any]) -> None:
        self.state.tool_calls += 1
        self.calls.append(ToolCall(f"rule-{self.state.tool_calls}", name, dict(arguments)))
        self.state.pending_tool = name
        self.state.pending = dict(arguments)

    def reply(self) -> Reply:
        return Reply(self.speech, self.calls, self.state)
