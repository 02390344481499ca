"""Call wrap-up: one per call whatever the order and number of end-of-call events."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Call, CallOutcome, CrmNote, StaffTask, TranscriptTurn
from durable import ids
from durable.calls import CallEvents
from tests.support.workers import running_worker
from workflows.contracts import (
    CallStatusUpdate,
    SessionReport,
    TranscriptLine,
    WrapUpInput,
    WrapUpOutcome,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def report(outcome: str = "booked", **kwargs) -> SessionReport:
    return SessionReport(
        ended_at=NOW + timedelta(minutes=3),
        outcome=outcome,
        transcript=[
            TranscriptLine("agent", "Thanks for calling Bright Smile Dental, this is Ava.", NOW),
            TranscriptLine(
                "caller", "Hi, I'd like to book a cleaning next week.", NOW + timedelta(seconds=4)
            ),
            TranscriptLine(
                "agent",
                "I have Tuesday at 9:15 with Jenna Lee. Shall I book it?",
                NOW + timedelta(seconds=9),
            ),
            TranscriptLine("caller", "Yes please.", NOW + timedelta(seconds=14)),
        ],
        tools_used=["find_slots", "book_appointment"],
        **kwargs,
    )


def call_for(demo: SeedReport, **kwargs) -> WrapUpInput:
    return WrapUpInput(
        clinic_id=demo.clinic_id,
        call_sid=f"CA{uuid.uuid4().hex}",
        from_number="+12075550111",
        to_number="+12075550100",
        started_at=NOW,
        **kwargs,
    )


async def result(client: Client, call: WrapUpInput) -> WrapUpOutcome:
    return await client.get_workflow_handle(
        ids.call(call.call_sid), result_type=WrapUpOutcome
    ).result()


async def test_report_and_status_in_any_order_make_one_wrap_up(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    call = call_for(demo)
    status = CallStatusUpdate("completed", NOW + timedelta(minutes=3), duration_seconds=180)
    async with running_worker(temporal_client, db) as prefix:
        events = CallEvents(temporal_client, task_queue_prefix=prefix)
        await asyncio.gather(
            events.call_status(call, status),
            events.session_ended(call, report()),
            events.call_status(call, status),  # Twilio retries its webhook
        )
        outcome = await result(temporal_client, call)
        await events.session_ended(call, report())  # late duplicate: nothing happens
    async with db.read() as session:
        calls = (await session.exec(select(Call).where(Call.call_sid == call.call_sid))).all()
        turns = (
            await session.exec(
                select(TranscriptTurn).where(TranscriptTurn.call_id == outcome.call_id)
            )
        ).all()
        notes = (await session.exec(select(CrmNote).where(CrmNote.call_sid == call.call_sid))).all()
    [stored] = calls
    assert stored.outcome == CallOutcome.BOOKED and stored.tools_used == [
        "find_slots",
        "book_appointment",
    ]
    assert stored.ended_at == NOW + timedelta(minutes=3)
    assert [t.role for t in sorted(turns, key=lambda t: t.seq)] == [
        "agent",
        "caller",
        "agent",
        "caller",
    ]
    assert "booked an appointment" in outcome.summary and "book a cleaning" in outcome.summary
    assert stored.summary == outcome.summary
    [note] = notes
    assert note.id == outcome.crm_note_id and note.body == outcome.summary
    assert outcome.staff_tasks == 0


async def test_transfer_opens_a_staff_task(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    call = call_for(demo)
    async with running_worker(temporal_client, db) as prefix:
        events = CallEvents(temporal_client, task_queue_prefix=prefix)
        await events.session_ended(call, report("transferred", transfer_reason="billing question"))
        outcome = await result(temporal_client, call)
    assert outcome.staff_tasks == 1
    async with db.read() as session:
        [task] = (
            await session.exec(select(StaffTask).where(StaffTask.call_id == outcome.call_id))
        ).all()
    assert task.kind == "transfer" and "billing question" in task.title


async def test_call_that_never_reached_the_stream_is_recorded_from_status(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    call = call_for(demo, report_grace_seconds=0.5)
    async with running_worker(temporal_client, db) as prefix:
        events = CallEvents(temporal_client, task_queue_prefix=prefix)
        await events.call_status(call, CallStatusUpdate("no-answer", NOW + timedelta(seconds=20)))
        outcome = await result(temporal_client, call)
    async with db.read() as session:
        stored = await session.get(Call, outcome.call_id)
    assert stored.outcome == CallOutcome.ABANDONED
    assert "hung up before anything was done" in outcome.summary
