"""Outcome checks of one finished call against its scenario's expectations.

They read the conversation (messages, tool calls and results), the call's record (outcome,
transfer reason) and the database (what was really booked), so a check passes only when the
booking exists, not when the agent merely said so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from core.db import Database
from core.models import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentType,
    Provider,
)
from evals.scenario import DAY_PARTS, Scenario
from realtime.agent.protocol import ClinicProfile, Conversation, ToolResult
from realtime.agent.tools import CallRecord

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


def tool_results(conversation: Conversation, name: str | None = None) -> list[ToolResult]:
    return [
        result
        for message in conversation.messages
        if message.role == "tool"
        for result in message.tool_results
        if name is None or result.name == name
    ]


def tool_names(conversation: Conversation) -> list[str]:
    return [call.name for m in conversation.messages for call in m.tool_calls]


def invented_times(conversation: Conversation) -> list[str]:
    """Clock times the agent spoke that no ``find_slots`` result gave it (must be none).

    Existing appointments (``lookup_patient``) may be read back, and an answer about opening
    hours may name the configured hours; nothing else.
    """
    offered: set[str] = set()
    existing: set[str] = set()
    stray: list[str] = []
    hours = _hours_clocks(conversation.clinic)
    for message in conversation.messages:
        if message.role == "tool":
            for result in message.tool_results:
                if result.name == "find_slots":
                    for option in result.content.get("options", []):
                        offered |= clock_times(option["spoken"])
                elif result.name == "lookup_patient":
                    for visit in result.content.get("upcoming", []):
                        existing |= clock_times(visit["spoken"])
                elif result.name in ("book_appointment", "reschedule_appointment"):
                    # What was committed must have been offered, whatever was said about it.
                    stray.extend(sorted(clock_times(result.content.get("spoken") or "") - offered))
        elif message.role == "agent" and message.text:
            allowed = offered | existing
            lowered = message.text.lower()
            if "we're open" in lowered or "we're closed" in lowered:
                allowed |= hours
            stray.extend(sorted(clock_times(message.text) - allowed))
    return stray


def commits_without_read_back(conversation: Conversation) -> list[str]:
    """Committing tool calls not preceded by a "yes" to a read-back naming day and time."""
    problems = []
    messages = conversation.messages
    for index, message in enumerate(messages):
        for call in message.tool_calls:
            if call.name not in ("book_appointment", "reschedule_appointment"):
                continue
            callers = [i for i in range(index) if messages[i].role == "caller"]
            read_back = next(
                (m for m in reversed(messages[: callers[-1]]) if m.role == "agent" and m.text),
                None,
            ) if callers else None  # fmt: skip
            text = read_back.text if read_back else ""
            if not (
                re.search(r"\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b", text)
                and clock_times(text)
            ):
                problems.append(f"{call.name} without a read-back of day and time")
    return problems


@dataclass(frozen=True)
class MadeAppointment:
    starts_at: datetime
    provider: str
    type_code: str
    rescheduled: bool


async def appointments_made(
    db: Database, clinic_id: str, patient_id: str | None, since: datetime
) -> list[MadeAppointment]:
    """Active appointments of the patient created at or after ``since``."""
    if patient_id is None:
        return []
    async with db.read() as session:
        rows = await session.exec(
            select(Appointment, Provider.name, AppointmentType.code)
            .join(Provider, col(Provider.id) == Appointment.provider_id)
            .join(AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id)
            .where(
                Appointment.clinic_id == clinic_id,
                Appointment.patient_id == patient_id,
                col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                col(Appointment.created_at) >= since,
            )
        )
        return [
            MadeAppointment(a.starts_at, p, c, a.rescheduled_from_id is not None)
            for a, p, c in rows.all()
        ]


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    booked: MadeAppointment | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def _is_subsequence(wanted: tuple[str, ...], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(any(name == step for step in remaining) for name in wanted)


def judge(
    scenario: Scenario,
    conversation: Conversation,
    record: CallRecord,
    made: list[MadeAppointment],
    cancelled: bool | None,
) -> Verdict:
    """Every expectation of ``scenario`` checked; ``cancelled``: whether the scenario's
    upcoming appointment is now cancelled (None when it has none)."""
    expect = scenario.expect
    verdict = Verdict(invented=invented_times(conversation))
    fail = verdict.failures.append
    if verdict.invented:
        fail(f"offered times find_slots did not return: {verdict.invented}")
    for problem in commits_without_read_back(conversation):
        fail(problem)
    outcome = record.outcome or "answered"
    if outcome != expect.outcome:
        fail(f"outcome {outcome!r}, expected {expect.outcome!r}")
    names = tool_names(conversation)
    if not _is_subsequence(expect.tools, names):
        fail(f"tools {names}, expected in order {list(expect.tools)}")
    for name in expect.no_tools:
        if name in names:
            fail(f"called {name}, which it must not")
    spoken = " ".join(m.text for m in conversation.messages if m.role == "agent").lower()
    for phrase in expect.said:
        if phrase.lower() not in spoken:
            fail(f"never said {phrase!r}")
    for phrase in expect.not_said:
        if phrase.lower() in spoken:
            fail(f"said {phrase!r}, which it must not")
    if expect.emergency_instructions:
        instructions = conversation.clinic.emergency_instructions.lower()
        if instructions not in spoken:
            fail("emergency instructions not given")
    if expect.transfer_reason is not None:
        reason = record.transfer_reason or ""
        if expect.transfer_reason.lower() not in reason.lower():
            fail(f"transfer reason {reason!r}, expected it to name {expect.transfer_reason!r}")
    elif record.transfer_reason:
        fail(f"transferred ({record.transfer_reason!r}) though it should not")
    if expect.hangup is not None and ("end_call" in names) != expect.hangup:
        fail("did not end the call" if expect.hangup else "ended the call early")
    _judge_booking(scenario, conversation.clinic.time_zone, made, cancelled, fail, verdict)
    return verdict


def _judge_booking(
    scenario: Scenario,
    time_zone: str,
    made: list[MadeAppointment],
    cancelled: bool | None,
    fail: Callable[[str], None],
    verdict: Verdict,
) -> None:
    expect = scenario.expect
    if expect.outcome == "cancelled" and cancelled is not True:
        fail("the appointment is not cancelled in the database")
    if expect.outcome not in ("cancelled", "rescheduled") and cancelled:
        fail("the existing appointment was cancelled")
    if expect.booked is None:
        if made:
            fail(f"booked {len(made)} appointment(s), expected none")
        return
    if len(made) != 1:
        fail(f"{len(made)} appointments made in the database, expected 1")
        return
    [appointment] = made
    verdict.booked = appointment
    want = expect.booked
    if appointment.type_code != want.type:
        fail(f"booked type {appointment.type_code!r}, expected {want.type!r}")
    if want.provider and appointment.provider != want.provider:
        fail(f"booked with {appointment.provider!r}, expected {want.provider!r}")
    local = appointment.starts_at.astimezone(ZoneInfo(time_zone))
    if want.day_part:
        low, high = DAY_PARTS[want.day_part]
        if not low <= local.hour < high:
            fail(f"booked at {local:%H:%M}, not in the {want.day_part}")
    if want.weekday and local.strftime("%A") != want.weekday:
        fail(f"booked on a {local:%A}, expected {want.weekday}")
    if (expect.outcome == "rescheduled") != appointment.rescheduled:
        fail("expected a reschedule" if appointment.rescheduled is False else "moved, not booked")
