"""Text-only calls with the RuleAgent on the real tool loop, ToolBox, database and Temporal,
and the invariant every such call must keep: only offer times ``find_slots`` returned."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    AppointmentType,
    Patient,
    Provider,
)
from core.scheduling import (
    ConfirmRequest,
    HoldRequest,
    SlotQuery,
    confirm_hold,
    find_slots,
    hold_slot,
)
from core.security.crypto import blind_index
from durable.booking import Bookings
from durable.calls import CallEvents
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import ClinicProfile, Conversation, ToolResult
from realtime.agent.rule import RuleAgent
from realtime.agent.tools import ToolBox, ToolContext
from tests.support.booking import seeded_patient
from tests.support.conversation import RecordingControl, TextCall
from tests.support.workers import running_worker

CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([AP]M)\b")


def clock_times(text: str) -> set[str]:
    """Clock times spoken in ``text``, as "9:15 AM"."""
    return {f"{int(h)}:{m or '00'} {ampm}" for h, m, ampm in CLOCK.findall(text)}


def _hours_clocks(clinic: ClinicProfile) -> set[str]:
    found: set[str] = set()
    for spans in clinic.business_hours.values():
        for span in spans:
            for hhmm in span:
                hour, minute = (int(x) for x in hhmm.split(":"))
                found.add(f"{hour % 12 or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}")
    return found


def _is_hours_answer(text: str) -> bool:
    return "we're open" in text.lower() or "we're closed" in text.lower()


def tool_results(call: TextCall, name: str | None = None) -> list[ToolResult]:
    return [
        result
        for message in call.conversation.messages
        if message.role == "tool"
        for result in message.tool_results
        if name is None or result.name == name
    ]


def transcript(call: TextCall) -> str:
    lines = []
    for message in call.conversation.messages:
        if message.role == "tool":
            lines.extend(f"  [{r.name}] {r.content}" for r in message.tool_results)
        else:
            calls = "".join(f" <{c.name} {c.arguments}>" for c in message.tool_calls)
            lines.append(f"{message.role}: {message.text}{calls}")
    return "\n".join(lines)


def assert_only_offered_times(call: TextCall) -> None:
    """No agent message mentions a clock time that no ``find_slots`` result gave it.

    Existing appointments (``lookup_patient``) may be read back, and an answer about opening
    hours may name the configured hours; nothing else.
    """
    clinic = call.conversation.clinic
    offered: set[str] = set()
    existing: set[str] = set()
    for message in call.conversation.messages:
        if message.role == "tool":
            for result in message.tool_results:
                if result.name == "find_slots":
                    for option in result.content.get("options", []):
                        offered |= clock_times(option["spoken"])
                elif result.name == "lookup_patient":
                    for visit in result.content.get("upcoming", []):
                        existing |= clock_times(visit["spoken"])
                elif result.name in ("book_appointment", "reschedule_appointment"):
                    spoken = result.content.get("spoken") or ""
                    assert clock_times(spoken) <= offered, transcript(call)
        elif message.role == "agent" and message.text:
            allowed = offered | existing
            if _is_hours_answer(message.text):
                allowed |= _hours_clocks(clinic)
            stray = clock_times(message.text) - allowed
            assert not stray, f"agent said {stray} not from find_slots:\n{transcript(call)}"


def assert_committed_after_read_back(call: TextCall) -> None:
    """Each committing call follows a "yes" to a message naming weekday, date and provider."""
    messages = call.conversation.messages
    for index, message in enumerate(messages):
        for tool_call in message.tool_calls:
            if tool_call.name not in ("book_appointment", "reschedule_appointment"):
                continue
            caller = max(i for i in range(index) if messages[i].role == "caller")
            read_back = next(m for m in reversed(messages[:caller]) if m.role == "agent" and m.text)
            assert "Just to confirm" in read_back.text, transcript(call)
            assert re.search(r"\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b", read_back.text)
            assert clock_times(read_back.text), transcript(call)


@asynccontextmanager
async def text_call(
    db: Database, demo: SeedReport, client: Client, *, caller_phone: str | None = None
) -> AsyncIterator[TextCall]:
    """A call to the demo clinic; on a clean exit, the invariants are checked."""
    async with running_worker(client, db) as prefix:
        profile = await load_clinic_profile(db, demo.clinic_id)
        control = RecordingControl()
        calls: list[TextCall] = []
        tools = ToolBox(
            ToolContext(
                db=db,
                bookings=Bookings(client, db, task_queue_prefix=prefix),
                events=CallEvents(client, task_queue_prefix=prefix),
                clinic=profile,
                call_sid=f"CA{uuid.uuid4().hex}",
                caller_phone=caller_phone,
                control=control,
                heard=lambda: calls[0].heard(),
                booking_answer_within=timedelta(seconds=15),
            )
        )
        conversation = Conversation(
            clinic=profile, now=datetime.now(UTC), caller_phone=caller_phone
        )
        call = TextCall(RuleAgent(), conversation, tools, control)
        calls.append(call)
        yield call
        assert_only_offered_times(call)
        assert_committed_after_read_back(call)


async def finish_workflows(call: TextCall, client: Client) -> None:
    """Wait for the sagas this call started (they finish after the caller hears "done")."""
    for workflow_id in call.tools.record.workflow_ids:
        await client.get_workflow_handle(workflow_id).result()


# --- database helpers ---------------------------------------------------------------------------


async def active_appointments(db: Database, last_name: str) -> list[tuple[Appointment, str, str]]:
    """(appointment, provider name, type code) of a patient's active appointments."""
    async with db.read() as session:
        rows = await session.exec(
            select(Appointment, Provider.name, AppointmentType.code)
            .join(Patient, col(Patient.id) == Appointment.patient_id)
            .join(Provider, col(Provider.id) == Appointment.provider_id)
            .join(AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id)
            .where(
                Patient.last_name_index == blind_index("name", last_name),
                col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                col(Appointment.starts_at) > datetime.now(UTC),
            )
            .order_by(col(Appointment.starts_at))
        )
        return [(a, p, c) for a, p, c in rows.all()]


async def upcoming_visit(
    db: Database, clinic_id: str, last_name: str, code: str = "cleaning", days_ahead: int = 3
) -> Appointment:
    """Book a seeded patient a visit a few days out, as staff would, outside any call."""
    patient = await seeded_patient(db, last_name)
    first_day = datetime.now(UTC).date() + timedelta(days=days_ahead)
    async with db.read() as session:
        [slot] = await find_slots(session, clinic_id, SlotQuery(code, first_day=first_day, limit=1))
    hold = await hold_slot(
        db, HoldRequest(clinic_id, slot.provider_id, code, slot.starts_at, "test")
    )
    key = f"test-{uuid.uuid4().hex}"
    async with db.write() as session:
        appointment = await confirm_hold(
            session, ConfirmRequest(hold.id, patient.id, key, AppointmentSource.STAFF)
        )
        appointment.status = AppointmentStatus.BOOKED
        session.add(appointment)
    return appointment


async def appointment_status(db: Database, appointment_id: str) -> AppointmentStatus:
    async with db.read() as session:
        found = await session.get(Appointment, appointment_id)
    assert found is not None
    return found.status
