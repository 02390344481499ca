"""A booking runs only after a read-back the caller heard whole and said yes to."""

import uuid

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment
from durable.booking import Bookings
from durable.calls import CallEvents
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import ToolCall
from realtime.agent.tools import ToolBox, ToolContext
from tests.support.conversation import RecordingControl
from tests.support.workers import running_worker


@pytest.mark.parametrize(
    ("heard", "interrupted", "refusal"),
    [
        (
            "Just to confirm, a cleaning with Jenna Lee on {day} at {time}. Shall I book that?",
            True,
            "confirmation_interrupted",
        ),
        ("Great, shall I book that?", False, "not_read_back"),
        (
            "Just to confirm, a cleaning with Jenna Lee on {day} at {time}. Shall I book that?",
            False,
            None,
        ),
    ],
)
async def test_commit_needs_an_uninterrupted_read_back(
    heard: str,
    interrupted: bool,
    refusal: str | None,
    db: Database,
    demo: SeedReport,
    temporal_client: Client,
) -> None:
    state = {"heard": ""}
    async with running_worker(temporal_client, db) as prefix:
        tools = ToolBox(
            ToolContext(
                db=db, bookings=Bookings(temporal_client, db, task_queue_prefix=prefix),
                events=CallEvents(temporal_client, task_queue_prefix=prefix),
                clinic=await load_clinic_profile(db, demo.clinic_id), call_sid=f"CA{uuid.uuid4().hex}",
                caller_phone="+12075550111", control=RecordingControl(),
                heard=lambda: (state["heard"], interrupted),
            )
        )  # fmt: skip
        found = await tools.run(ToolCall("t1", "find_slots", {"appointment_type": "cleaning"}))
        option = found.content["options"][0]
        local = option["start"]
        from datetime import datetime

        start = datetime.fromisoformat(local)
        state["heard"] = heard.format(
            day=start.strftime("%A, %B %d"), time=start.strftime("%I:%M %p")
        )
        patient = await tools.run(ToolCall("t2", "lookup_patient", {"use_caller_phone": True}))
        result = await tools.run(
            ToolCall(
                "t3",
                "book_appointment",
                {"option_id": option["option_id"], "patient_id": patient.content["patient_id"]},
            )
        )
    async with db.read() as session:
        booked = (
            await session.exec(select(Appointment).where(Appointment.starts_at == start))
        ).all()
    if refusal is None:
        assert not result.is_error and result.content["status"] == "booked"
        assert len(booked) == 1
    else:
        assert result.is_error and result.content["error"].startswith(refusal)
        assert booked == []
