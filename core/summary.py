"""Rule-based call summaries: the offline default (Claude writes them when configured)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OUTCOME_TEXT = {
    "booked": "booked an appointment",
    "rescheduled": "rescheduled an appointment",
    "cancelled": "cancelled an appointment",
    "answered": "had questions answered",
    "transferred": "was transferred to staff",
    "emergency": "reported an emergency and was given emergency instructions",
    "abandoned": "hung up before anything was done",
    "failed": "could not be helped by the receptionist",
    "in_progress": "ended without a recorded outcome",
}


@dataclass(frozen=True)
class CallFacts:
    direction: str
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str
    caller_lines: list[str]
    tools_used: list[str]
    transfer_reason: str | None = None
    failovers: tuple[str, ...] = ()


def summarize(facts: CallFacts) -> str:
    parts = []
    duration = ""
    if facts.started_at and facts.ended_at:
        seconds = int((facts.ended_at - facts.started_at).total_seconds())
        duration = f" ({seconds // 60} min {seconds % 60} s)"
    parts.append(
        f"{facts.direction.capitalize()} call{duration}: the caller "
        f"{OUTCOME_TEXT.get(facts.outcome, facts.outcome)}."
    )
    if facts.caller_lines:
        opening = facts.caller_lines[0].strip()
        parts.append(f'Caller opened with: "{opening[:200]}".')
    if facts.transfer_reason:
        parts.append(f"Transfer reason: {facts.transfer_reason}.")
    tools = [t for t in dict.fromkeys(facts.tools_used) if t]
    if tools:
        parts.append(f"Actions: {', '.join(tools)}.")
    if facts.failovers:
        parts.append(f"Provider failovers: {', '.join(facts.failovers)}.")
    return " ".join(parts)
