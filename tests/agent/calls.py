"""Text-only calls with the RuleAgent on the real tool loop, ToolBox, database and Temporal,
and the invariant every such call must keep: only offer times ``find_slots`` returned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Patient,
    Provider,
)
from core.security.crypto import blind_index
from evals import checks
from evals.runner import existing_visit, transcript_lines
from evals.scenario import Upcoming
from evals.text_call import open_text_call
from realtime.agent.protocol import ToolResult
from realtime.agent.rule import RuleAgent
from tests.support.conversation import TextCall
from tests.support.workers import running_worker


def tool_results(call: TextCall, name: str | None = None) -> list[ToolResult]:
    return checks.tool_results(call.conversation, name)


def transcript(call: TextCall) -> str:
    return "\n".join(transcript_lines(call.conversation))


@asynccontextmanager
async def text_call(
    db: Database, demo: SeedReport, client: Client, *, caller_phone: str | None = None
) -> AsyncIterator[TextCall]:
    """A call to the demo clinic with the RuleAgent; on a clean exit, the invariants the
    conversation evals check are asserted: only times ``find_slots`` gave, and every commit
    after a read-back of day and time."""
    async with running_worker(client, db) as prefix:
        call = await open_text_call(
            RuleAgent(), db, client, demo.clinic_id, prefix, caller_phone=caller_phone
        )
        yield call
        invented = checks.invented_times(call.conversation)
        assert not invented, f"agent said {invented} not from find_slots:\n{transcript(call)}"
        unconfirmed = checks.commits_without_read_back(call.conversation)
        assert not unconfirmed, f"{unconfirmed}:\n{transcript(call)}"


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
    appointment_id = await existing_visit(db, clinic_id, Upcoming(last_name, code, days_ahead))
    async with db.read() as session:
        appointment = await session.get(Appointment, appointment_id)
    assert appointment is not None
    return appointment


async def appointment_status(db: Database, appointment_id: str) -> AppointmentStatus:
    async with db.read() as session:
        found = await session.get(Appointment, appointment_id)
    assert found is not None
    return found.status
