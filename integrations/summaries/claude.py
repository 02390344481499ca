"""Claude writes a structured call summary, forced through a tool's JSON schema.

``tool_choice`` names the ``record_call_summary`` tool, so the reply is one ``tool_use`` block
whose input follows the schema: intent, outcome, booking details, follow-ups. The transcript
is sent to Anthropic (PHI under the clinic's agreement with them) and never logged.
"""

from __future__ import annotations

from typing import Any

from anthropic import AsyncAnthropic

from integrations.errors import PermanentError
from integrations.summaries.protocol import BookingDetails, StructuredSummary, SummaryRequest

TOOL: dict[str, Any] = {
    "name": "record_call_summary",
    "description": "Record the summary of a phone call for the clinic's staff.",
    "input_schema": {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "description": "why the caller called, a short phrase"},
            "outcome": {"type": "string", "description": "what the call achieved"},
            "booking": {
                "type": "object",
                "description": "only when an appointment was booked, moved or cancelled",
                "properties": {
                    "action": {"type": "string", "enum": ["booked", "rescheduled", "cancelled"]},
                    "appointment_type": {"type": "string"},
                    "provider": {"type": "string"},
                    "when": {"type": "string"},
                },
                "required": ["action"],
            },
            "follow_ups": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what staff must still do; empty when nothing",
            },
            "notes": {"type": "string"},
        },
        "required": ["intent", "outcome", "follow_ups"],
    },
}

INSTRUCTIONS = (
    "You summarise phone calls answered by the AI receptionist of {clinic} for its front-desk "
    "staff. Be factual and brief; use only what the transcript and the call facts say. Never "
    "add clinical advice. Record the summary with the record_call_summary tool."
)


def _facts(request: SummaryRequest) -> str:
    facts = request.facts
    lines = [
        f"Direction: {facts.direction}",
        f"Recorded outcome: {facts.outcome}",
        f"Tools used: {', '.join(dict.fromkeys(facts.tools_used)) or 'none'}",
    ]
    if facts.transfer_reason:
        lines.append(f"Transfer reason: {facts.transfer_reason}")
    if facts.failovers:
        lines.append(f"Provider failovers: {', '.join(facts.failovers)}")
    transcript = "\n".join(f"{role}: {text}" for role, text in request.transcript)
    return "\n".join(lines) + f"\n\nTranscript:\n{transcript or '(nothing was said)'}"


def parse(arguments: dict[str, Any]) -> StructuredSummary:
    """The tool input as a summary; a reply that breaks the schema is refused."""
    try:
        booking = arguments.get("booking")
        return StructuredSummary(
            intent=str(arguments["intent"]).strip().rstrip("."),
            outcome=str(arguments["outcome"]).strip().rstrip("."),
            booking=BookingDetails(
                action=str(booking["action"]),
                appointment_type=str(booking.get("appointment_type") or ""),
                provider=str(booking.get("provider") or ""),
                when=str(booking.get("when") or ""),
            )
            if isinstance(booking, dict)
            else None,
            follow_ups=[str(f).strip().rstrip(".") for f in arguments.get("follow_ups") or []],
            notes=str(arguments.get("notes") or "").strip(),
        )
    except (KeyError, TypeError) as exc:
        raise PermanentError("summary reply broke the schema", code="bad_summary") from exc


class ClaudeSummarizer:
    def __init__(self, client: AsyncAnthropic, model: str, max_tokens: int = 600) -> None:
        self._client = client
        self._model = model
        self._max_tokens = max_tokens

    async def summarize(self, call: SummaryRequest) -> str:
        request: dict[str, Any] = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "system": INSTRUCTIONS.format(clinic=call.clinic_name),
            "tools": [TOOL],
            "tool_choice": {"type": "tool", "name": TOOL["name"]},
            "messages": [{"role": "user", "content": _facts(call)}],
        }
        reply = await self._client.messages.create(**request)
        for block in reply.content:
            if block.type == "tool_use" and block.name == TOOL["name"]:
                arguments = block.input if isinstance(block.input, dict) else {}
                return parse(arguments).render()
        raise PermanentError("summary reply without the summary tool", code="bad_summary")
