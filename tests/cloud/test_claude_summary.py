"""Call summaries in the wrap-up workflow: Claude's structured summary (real anthropic SDK →
the local Messages API) when the clinic chooses it, the rule-based one otherwise and when
Claude fails."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Call, StaffTask
from durable import ids
from durable.calls import CallEvents
from tests.cloud.claude_support import use_engines
from tests.fakes.anthropic_api import API_KEY, FakeAnthropic, ToolUse
from tests.support.workers import running_worker
from workflows.contracts import SessionReport, TranscriptLine, WrapUpInput, WrapUpOutcome

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
LINES = [
    ("agent", "Thanks for calling Bright Smile Dental, this is Ava."),
    ("caller", "Hi, I'd like to book a cleaning next week."),
    ("agent", "I have Tuesday, November 24th at 9:15 AM with Jenna Lee. Would that work?"),
    ("caller", "Yes please. Also my crown feels loose, can someone call me?"),
    ("agent", "You're all set for Tuesday, November 24th at 9:15 AM."),
]


def report(outcome: str = "booked") -> SessionReport:
    return SessionReport(
        ended_at=NOW + timedelta(minutes=2),
        outcome=outcome,
        transcript=[
            TranscriptLine(role, text, NOW + timedelta(seconds=5 * i))
            for i, (role, text) in enumerate(LINES)
        ],
        tools_used=["lookup_patient", "find_slots", "book_appointment"],
        failovers=["agent:overloaded"] if outcome == "transferred" else [],
        transfer_reason="assistant down" if outcome == "transferred" else None,
    )


def summary_brain(body: dict) -> list:
    return [
        ToolUse(
            "record_call_summary",
            {
                "intent": "Book a cleaning",
                "outcome": "Cleaning booked",
                "booking": {
                    "action": "booked",
                    "appointment_type": "cleaning",
                    "provider": "Jenna Lee",
                    "when": "Tuesday, November 24th at 9:15 AM",
                },
                "follow_ups": ["Call the patient back about a loose crown"],
            },
        )
    ]


async def wrap_up(
    db: Database, demo: SeedReport, client: Client, outcome: str = "booked"
) -> tuple[WrapUpOutcome, Call]:
    call = WrapUpInput(
        clinic_id=demo.clinic_id, call_sid=f"CA{uuid.uuid4().hex}", from_number="+12075550111",
        to_number="+12075550100", started_at=NOW,
    )  # fmt: skip
    async with running_worker(client, db) as prefix:
        await CallEvents(client, task_queue_prefix=prefix).session_ended(call, report(outcome))
        result = await client.get_workflow_handle(
            ids.call(call.call_sid), result_type=WrapUpOutcome
        ).result()
    async with db.read() as session:
        stored = (await session.exec(select(Call).where(Call.call_sid == call.call_sid))).one()
    return result, stored


@pytest.fixture
def claude_env(monkeypatch: pytest.MonkeyPatch):
    """The worker's settings come from the environment, as in production."""

    def point_at(url: str) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)

    return point_at


async def test_claude_writes_a_structured_summary(
    db: Database, demo: SeedReport, temporal_client: Client, claude_env
) -> None:
    api = FakeAnthropic(summary_brain)
    with api.running() as url:
        claude_env(url)
        await use_engines(db, agent="claude", summary="claude")
        result, call = await wrap_up(db, demo, temporal_client)
    assert result.summary == call.summary
    assert call.summary == (
        "Intent: Book a cleaning. Outcome: Cleaning booked. Booking: booked cleaning with "
        "Jenna Lee on Tuesday, November 24th at 9:15 AM. Follow-ups: Call the patient back "
        "about a loose crown."
    )
    [request] = api.message_requests
    assert request["tool_choice"] == {"type": "tool", "name": "record_call_summary"}
    assert request["tools"][0]["input_schema"]["required"] == ["intent", "outcome", "follow_ups"]
    sent = request["messages"][0]["content"]
    assert "caller: Yes please. Also my crown feels loose" in sent
    assert "Recorded outcome: booked" in sent and "Bright Smile Dental" in request["system"]


@pytest.mark.parametrize("failure", ["overloaded", "bad_key", "schema"])
async def test_rule_summary_when_claude_fails(
    db: Database, demo: SeedReport, temporal_client: Client, claude_env, failure: str
) -> None:
    brain = summary_brain
    if failure == "schema":
        brain = lambda _body: [ToolUse("record_call_summary", {"intent": "x"})]  # noqa: E731
    api = FakeAnthropic(brain, api_key="sk-ant-other" if failure == "bad_key" else API_KEY)
    if failure == "overloaded":
        api.overload_next()
    with api.running() as url:
        claude_env(url)
        await use_engines(db, agent="claude", summary="claude")
        _, call = await wrap_up(db, demo, temporal_client, outcome="transferred")
    assert len(api.message_requests) == 1  # no retry storm: the rules answer at once
    assert call.summary and call.summary.startswith("Inbound call (2 min 0 s): the caller was")
    assert "Provider failovers: agent:overloaded." in call.summary
    async with db.read() as session:
        tasks = (await session.exec(select(StaffTask).where(StaffTask.call_id == call.id))).all()
    assert [t.detail for t in tasks] == [call.summary]  # the follow-up task carries it


async def test_rule_summary_unless_the_clinic_chose_claude(
    db: Database, demo: SeedReport, temporal_client: Client, claude_env
) -> None:
    api = FakeAnthropic(summary_brain)
    with api.running() as url:
        claude_env(url)
        await use_engines(db, agent="claude")  # summary stays "rule"
        _, call = await wrap_up(db, demo, temporal_client)
    assert api.received == []
    assert call.summary and "booked an appointment" in call.summary
    assert json.dumps(LINES[1][1])[1:-1] in call.summary  # the caller's opening line
