"""Running one scenario as a text-only call and judging it.

The caller says each line in turn (stopping once the call is transferred or ended); then the
workflows the call started are awaited and the outcome is read back from the database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.models import Appointment, AppointmentSource, AppointmentStatus, Patient
from core.scheduling import ConfirmRequest, HoldRequest, SlotQuery, confirm_hold, find_slots
from core.scheduling import hold_slot as hold
from core.security.crypto import blind_index
from core.settings import Settings
from evals.checks import MadeAppointment, Verdict, appointments_made, judge
from evals.scenario import Scenario, Upcoming
from evals.text_call import open_text_call
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import Agent, ClinicProfile, Conversation
from realtime.agent.tools import CallRecord
from worker import build_workers

WORKFLOW_TIMEOUT_S = 60.0

AgentFactory = Callable[[ClinicProfile], Agent]


@dataclass
class ScenarioResult:
    scenario: Scenario
    mode: str  # "text" | "audio"
    agent: str
    verdict: Verdict
    caller_turns: int = 0
    turns_to_booking: int | None = None  # caller turns until the booking was accepted
    transcript: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and self.verdict.passed


@asynccontextmanager
async def running_workers(client: Client, db: Database) -> AsyncIterator[str]:
    """The real workers of ``worker.py`` on a task-queue prefix of their own."""
    prefix = f"eval{uuid.uuid4().hex[:8]}-"
    workers = build_workers(client, db, Settings(task_queue_prefix=prefix))
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield prefix
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)


async def existing_visit(db: Database, clinic_id: str, upcoming: Upcoming) -> str:
    """Book a seeded patient a visit ``days_ahead`` out (or the first later day with room), as
    staff would, outside any call; returns its id."""
    async with db.read() as session:
        patient = (
            await session.exec(
                select(Patient).where(
                    Patient.clinic_id == clinic_id,
                    Patient.last_name_index == blind_index("name", upcoming.patient),
                )
            )
        ).one()
        first_day = datetime.now(UTC).date() + timedelta(days=upcoming.days_ahead)
        [slot] = await find_slots(
            session, clinic_id, SlotQuery(upcoming.type, first_day=first_day, limit=1)
        )
    held = await hold(
        db, HoldRequest(clinic_id, slot.provider_id, upcoming.type, slot.starts_at, "eval")
    )
    async with db.write() as session:
        appointment = await confirm_hold(
            session,
            ConfirmRequest(
                held.id, patient.id, f"eval-{uuid.uuid4().hex}", AppointmentSource.STAFF
            ),
        )
        appointment.status = AppointmentStatus.BOOKED
        session.add(appointment)
        return appointment.id


def transcript_lines(conversation: Conversation) -> list[str]:
    lines: list[str] = []
    for message in conversation.messages:
        if message.role == "tool":
            lines.extend(f"    [{r.name}] {r.content}" for r in message.tool_results)
        else:
            calls = "".join(f" <{c.name} {c.arguments}>" for c in message.tool_calls)
            cut = " (cut off)" if message.interrupted else ""
            lines.append(f"  {message.role}: {message.text}{cut}{calls}")
    return lines


def turns_until_booked(conversation: Conversation) -> int | None:
    """Caller turns up to the one whose answer booked (or moved) the appointment."""
    turns = 0
    for message in conversation.messages:
        if message.role == "caller":
            turns += 1
        for result in message.tool_results:
            committing = result.name in ("book_appointment", "reschedule_appointment")
            if committing and result.content.get("status") in ("booked", "pending"):
                return turns
    return None


async def settle_workflows(client: Client, workflow_ids: list[str]) -> list[str]:
    """Await the sagas the call started (they finish after the caller hears "done")."""
    problems = []
    for workflow_id in workflow_ids:
        try:
            async with asyncio.timeout(WORKFLOW_TIMEOUT_S):
                await client.get_workflow_handle(workflow_id).result()
        except Exception as exc:
            problems.append(f"workflow {workflow_id}: {type(exc).__name__}")
    return problems


async def outcome_in_database(
    scenario: Scenario,
    db: Database,
    clinic_id: str,
    record: CallRecord,
    since: datetime,
    visit_id: str | None,
) -> tuple[list[MadeAppointment], bool | None]:
    made = await appointments_made(db, clinic_id, record.patient_id, since)
    cancelled = None
    if visit_id is not None:
        async with db.read() as session:
            visit = await session.get(Appointment, visit_id)
        cancelled = visit is not None and visit.status == AppointmentStatus.CANCELLED
    return made, cancelled


async def run_text_scenario(
    scenario: Scenario,
    agent_factory: AgentFactory,
    agent_name: str,
    db: Database,
    client: Client,
    clinic_id: str,
    task_queue_prefix: str,
) -> ScenarioResult:
    started = time.monotonic()
    result = ScenarioResult(scenario, "text", agent_name, Verdict())
    visit_id = await existing_visit(db, clinic_id, scenario.upcoming) if scenario.upcoming else None
    since = datetime.now(UTC)
    agent = agent_factory(await load_clinic_profile(db, clinic_id))
    call = await open_text_call(
        agent, db, client, clinic_id, task_queue_prefix, caller_phone=scenario.caller_phone
    )
    try:
        for step in scenario.steps:
            if call.control.transfers or call.control.hangups:
                break  # the call is over: the caller's other lines go unsaid
            if step.say is None:
                continue  # silence: a text call has no clock (audio runs exercise the timers)
            if step.barge_in_after_words is not None:
                call.cut_last_reply(step.barge_in_after_words)
            await call.say(step.say, step.confidence)
            result.caller_turns += 1
        result.turns_to_booking = turns_until_booked(call.conversation)
        problems = await settle_workflows(client, call.tools.record.workflow_ids)
        made, cancelled = await outcome_in_database(
            scenario, db, clinic_id, call.tools.record, since, visit_id
        )
        result.verdict = judge(scenario, call.conversation, call.tools.record, made, cancelled)
        result.verdict.failures.extend(problems)
    except Exception as exc:  # a crash in the agent or a tool is a failed scenario, not a stop
        result.error = f"{type(exc).__name__}: {exc}"
    result.transcript = transcript_lines(call.conversation)
    result.seconds = time.monotonic() - started
    return result
