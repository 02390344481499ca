"""The agent protocol: given the conversation so far, stream what to say and which tools to call.

The session speaks ``TextDelta``s as they arrive (sentence by sentence into TTS), runs the
``ToolCall``s when the response ends, appends their results, and asks again until a response
calls no tool. Availability reaches the agent only through ``find_slots`` results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


AgentEvent = TextDelta | ToolCall


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    content: dict[str, Any]  # JSON-able; "error" key when the tool refused
    is_error: bool = False


@dataclass
class Message:
    role: Literal["caller", "agent", "tool"]
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    interrupted: bool = False  # agent text truncated to what the caller heard
    confidence: float = 1.0  # caller speech recognition confidence
    at: datetime | None = None


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    name: str


@dataclass(frozen=True)
class AppointmentTypeInfo:
    code: str
    name: str
    duration_minutes: int
    new_patients_only: bool
    synonyms: tuple[str, ...]
    provider_ids: tuple[str, ...]


@dataclass(frozen=True)
class ClinicProfile:
    """What an agent knows about the clinic: configuration only, never availability."""

    clinic_id: str
    name: str
    agent_name: str
    greeting: str
    time_zone: str
    address: str
    business_hours: dict[str, list[list[str]]]
    faq: dict[str, str]
    accepted_insurance: tuple[str, ...]
    providers: tuple[ProviderInfo, ...]
    appointment_types: tuple[AppointmentTypeInfo, ...]
    emergency_instructions: str
    transfer_number: str
    specialty: str = "dental"


@dataclass
class Conversation:
    clinic: ClinicProfile
    now: datetime  # aware; the call's start, for "tomorrow" and "next Tuesday"
    caller_phone: str | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    purpose: str | None = None  # outbound: why we called (e.g. "recall:cleaning")
    messages: list[Message] = field(default_factory=list)

    def add_caller(self, text: str, confidence: float = 1.0) -> None:
        self.messages.append(Message("caller", text, confidence=confidence, at=datetime.now(UTC)))

    def add_agent(self, text: str, tool_calls: list[ToolCall] | None = None) -> Message:
        message = Message("agent", text, tool_calls=list(tool_calls or []), at=datetime.now(UTC))
        self.messages.append(message)
        return message

    def add_tool_results(self, results: list[ToolResult]) -> None:
        self.messages.append(Message("tool", tool_results=list(results)))

    def last(self, role: str) -> Message | None:
        return next((m for m in reversed(self.messages) if m.role == role), None)


class Agent(Protocol):
    """Streams one response. Implementations must not call tools themselves; they yield
    ``ToolCall``s and read the ``ToolResult``s from the conversation on the next call."""

    def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]: ...
