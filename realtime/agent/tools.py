"""The receptionist's tools: the only way an agent touches the schedule or the world.

One ``ToolBox`` per call. Slots are offered as opaque option ids that ``find_slots`` returned in
this call, so an agent cannot book a time it made up; committing tools refuse unless the
caller heard an uninterrupted read-back naming the day and the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlmodel import col, select

from core.db import Database
from core.messages import speakable_time
from core.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, AppointmentType, Patient, Provider
from core.scheduling import DAY_PARTS, SchedulingError, Slot, SlotQuery, find_slots
from core.security import audit
from core.security.crypto import blind_index, identity_index
from durable.booking import BookingDecision, BookingRequest, Bookings
from durable.calls import CallEvents
from realtime.agent.protocol import ClinicProfile, ToolCall, ToolResult
from workflows.contracts import CancelInput, EligibilityInput, PatientDetails

log = logging.getLogger(__name__)

COMMITTING = {"book_appointment", "reschedule_appointment", "cancel_appointment"}

# JSON schemas, in the shape tool-use LLM APIs take.
TOOL_SPECS: list[dict[str, Any]] = [
    {
        "name": "find_slots",
        "description": "Find bookable appointment times. The only source of availability.",
        "input_schema": {
            "type": "object",
            "properties": {
                "appointment_type": {"type": "string", "description": "appointment type code"},
                "provider": {
                    "type": "string",
                    "description": "provider name, if the caller has a preference",
                },
                "date_from": {"type": "string", "format": "date"},
                "date_to": {"type": "string", "format": "date"},
                "day_part": {"type": "string", "enum": list(DAY_PARTS)},
                "earliest": {"type": "string", "description": "HH:MM, clinic time"},
                "latest": {"type": "string", "description": "HH:MM, clinic time"},
                "weekday": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 6,
                    "description": "0 = Monday",
                },
                "patient_is_new": {"type": "boolean"},
            },
            "required": ["appointment_type"],
        },
    },
    {
        "name": "lookup_patient",
        "description": (
            "Find the caller's patient record by name and date of birth, "
            "or by the number they call from."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "first_name": {"type": "string"},
                "last_name": {"type": "string"},
                "date_of_birth": {"type": "string", "format": "date"},
                "use_caller_phone": {"type": "boolean"},
            },
        },
    },
    {
        "name": "book_appointment",
        "description": (
            "Book an option returned by find_slots, after reading it back and hearing yes."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "option_id": {"type": "string"},
                "patient_id": {"type": "string"},
                "new_patient": {
                    "type": "object",
                    "properties": {
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "date_of_birth": {"type": "string", "format": "date"},
                        "phone": {"type": "string"},
                    },
                    "required": ["first_name", "last_name", "date_of_birth"],
                },
            },
            "required": ["option_id"],
        },
    },
    {
        "name": "reschedule_appointment",
        "description": (
            "Move an upcoming appointment (from lookup_patient) to an option from find_slots."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"appointment_ref": {"type": "string"}, "option_id": {"type": "string"}},
            "required": ["appointment_ref", "option_id"],
        },
    },
    {
        "name": "cancel_appointment",
        "description": (
            "Cancel an upcoming appointment (from lookup_patient) after the caller confirms."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"appointment_ref": {"type": "string"}, "reason": {"type": "string"}},
            "required": ["appointment_ref"],
        },
    },
    {
        "name": "verify_insurance",
        "description": "Check the caller's insurance coverage with the payer.",
        "input_schema": {
            "type": "object",
            "properties": {
                "payer": {"type": "string"},
                "member_id": {"type": "string"},
                "patient_id": {"type": "string"},
                "first_name": {"type": "string"},
                "last_name": {"type": "string"},
                "date_of_birth": {"type": "string", "format": "date"},
            },
            "required": ["payer", "member_id"],
        },
    },
    {
        "name": "transfer_to_human",
        "description": (
            "Hand the call to the front desk "
            "(billing, unsure, caller asks for a person, emergencies)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"reason": {"type": "string"}},
            "required": ["reason"],
        },
    },
    {
        "name": "end_call",
        "description": "End the call politely once the caller is done.",
        "input_schema": {"type": "object", "properties": {"reason": {"type": "string"}}},
    },
]


class CallControl(Protocol):
    """What tools may ask of the call itself; the session acts after the current speech."""

    def request_transfer(self, reason: str) -> None: ...

    def request_hangup(self, reason: str) -> None: ...


@dataclass
class CallRecord:
    """What the call did, for the wrap-up report."""

    tools_used: list[str] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    outcome: str | None = None
    patient_id: str | None = None
    transfer_reason: str | None = None
    insurance_unverified: bool = False


@dataclass(frozen=True)
class ToolContext:
    db: Database
    bookings: Bookings
    events: CallEvents
    clinic: ClinicProfile
    call_sid: str
    caller_phone: str | None
    control: CallControl
    # The agent's last message as the caller heard it, and whether it was cut off.
    heard: Callable[[], tuple[str, bool]]
    booking_answer_within: timedelta = timedelta(milliseconds=800)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def _mentions(text: str, *needles: str) -> bool:
    lowered = text.lower()
    return all(n.lower() in lowered for n in needles)


class ToolBox:
    def __init__(self, context: ToolContext) -> None:
        self.ctx = context
        self.record = CallRecord()
        self._options: dict[str, Slot] = {}
        self._appointments: dict[str, str] = {}  # "A1" -> appointment id
        self._checks = 0

    async def run(self, call: ToolCall) -> ToolResult:
        self.record.tools_used.append(call.name)
        handler = getattr(self, f"_{call.name}", None)
        if handler is None or call.name not in {spec["name"] for spec in TOOL_SPECS}:
            return ToolResult(
                call.id, call.name, {"error": f"unknown tool {call.name}"}, is_error=True
            )
        if call.name in COMMITTING:
            refusal = self._commit_refusal(call)
            if refusal:
                return ToolResult(call.id, call.name, {"error": refusal}, is_error=True)
        try:
            content: dict[str, Any] = await handler(**call.arguments)
        except SchedulingError as exc:
            return ToolResult(
                call.id, call.name, {"error": exc.code, "message": str(exc)}, is_error=True
            )
        except (TypeError, ValueError) as exc:  # malformed arguments from the agent
            log.info(
                "tool arguments refused", extra={"tool": call.name, "error": type(exc).__name__}
            )
            return ToolResult(call.id, call.name, {"error": "bad_arguments"}, is_error=True)
        return ToolResult(call.id, call.name, content, is_error="error" in content)

    def _commit_refusal(self, call: ToolCall) -> str | None:
        heard, interrupted = self.ctx.heard()
        if interrupted:
            return "confirmation_interrupted: read the details back again and ask for a yes"
        option = self._options.get(str(call.arguments.get("option_id", "")))
        if call.name != "cancel_appointment":
            if option is None:
                return "unknown_option: offer only times returned by find_slots"
            weekday = option.local_start.strftime("%A")
            last_name = option.provider_name.split()[-1]
            if not _mentions(heard, weekday, last_name):
                return "not_read_back: read back the day, date, time and provider first"
        return None

    # --- tools -----------------------------------------------------------------------------

    async def _find_slots(
        self,
        appointment_type: str,
        provider: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        day_part: str | None = None,
        weekday: int | None = None,
        patient_is_new: bool | None = None,
        earliest: str | None = None,
        latest: str | None = None,
    ) -> dict[str, Any]:
        provider_id = None
        if provider:
            match = [
                p
                for p in self.ctx.clinic.providers
                if provider.lower() in p.name.lower() or p.id == provider
            ]
            if not match:
                return {
                    "error": "unknown_provider",
                    "providers": [p.name for p in self.ctx.clinic.providers],
                }
            provider_id = match[0].id
        part_start, part_end = DAY_PARTS[day_part] if day_part else (None, None)
        query = SlotQuery(
            appointment_type,
            provider_id=provider_id,
            first_day=date.fromisoformat(date_from) if date_from else None,
            last_day=date.fromisoformat(date_to) if date_to else None,
            earliest=time.fromisoformat(earliest) if earliest else part_start,
            latest=time.fromisoformat(latest) if latest else part_end,
            weekdays=frozenset({weekday}) if weekday is not None else None,
            patient_is_new=patient_is_new,
            limit=3,
        )
        async with self.ctx.db.read() as session:
            slots = await find_slots(session, self.ctx.clinic.clinic_id, query)
        options = []
        for slot in slots:
            option_id = f"S{len(self._options) + 1}"
            self._options[option_id] = slot
            options.append(
                {
                    "option_id": option_id,
                    "provider": slot.provider_name,
                    "start": slot.local_start.isoformat(),
                    "spoken": speakable_time(slot.starts_at, self.ctx.clinic.time_zone),
                }
            )
        return {"options": options}

    async def _lookup_patient(
        self,
        first_name: str | None = None,
        last_name: str | None = None,
        date_of_birth: str | None = None,
        use_caller_phone: bool = False,
    ) -> dict[str, Any]:
        query = select(Patient).where(Patient.clinic_id == self.ctx.clinic.clinic_id)
        if first_name and last_name and date_of_birth:
            query = query.where(
                Patient.identity_index
                == identity_index(
                    first_name, last_name, date.fromisoformat(date_of_birth).isoformat()
                )
            )
        elif use_caller_phone and self.ctx.caller_phone:
            query = query.where(Patient.phone_index == blind_index("phone", self.ctx.caller_phone))
        else:
            return {"error": "need_name_and_date_of_birth"}
        async with self.ctx.db.read() as session:
            patient = (await session.exec(query)).first()
            if patient is None:
                return {"found": False}
            audit.system_access_soon(
                self.ctx.db, "voice-agent", clinic_id=patient.clinic_id, record_type="patient",
                record_id=patient.id, detail={"call_sid": self.ctx.call_sid},
            )  # fmt: skip
            rows = (
                await session.exec(
                    select(Appointment, Provider.name, AppointmentType.name)
                    .join(Provider, col(Provider.id) == Appointment.provider_id)
                    .join(
                        AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id
                    )
                    .where(
                        Appointment.patient_id == patient.id,
                        col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                        col(Appointment.starts_at) > self.ctx.now(),
                    )
                    .order_by(col(Appointment.starts_at))
                )
            ).all()
        self.record.patient_id = patient.id
        upcoming = []
        for appointment, provider_name, type_name in rows:
            ref = f"A{len(self._appointments) + 1}"
            self._appointments[ref] = appointment.id
            upcoming.append(
                {
                    "appointment_ref": ref,
                    "provider": provider_name,
                    "type": type_name,
                    "spoken": speakable_time(appointment.starts_at, self.ctx.clinic.time_zone),
                }
            )
        return {
            "found": True,
            "patient_id": patient.id,
            "first_name": patient.first_name,
            "upcoming": upcoming,
        }

    def _decision(self, decision: BookingDecision, kind: str) -> dict[str, Any]:
        self.record.workflow_ids.append(decision.workflow_id)
        if decision.status == "rejected":
            return {"status": "rejected", "error": decision.reason or "rejected"}
        self.record.outcome = kind
        if decision.accepted is not None:
            self.record.patient_id = decision.accepted.patient_id
            return {
                "status": "booked",
                "spoken": speakable_time(decision.accepted.starts_at, decision.accepted.time_zone),
                "provider": decision.accepted.provider_name,
            }
        return {"status": "pending"}  # durable, but not confirmed within the turn

    async def _book_appointment(
        self,
        option_id: str,
        patient_id: str | None = None,
        new_patient: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        slot = self._options[option_id]
        if patient_id is None and new_patient is None:
            return {"error": "need_patient"}
        details = None
        if new_patient is not None:
            details = PatientDetails(
                first_name=new_patient["first_name"],
                last_name=new_patient["last_name"],
                date_of_birth=date.fromisoformat(new_patient["date_of_birth"]).isoformat(),
                phone=new_patient.get("phone") or self.ctx.caller_phone,
            )
        decision = await self.ctx.bookings.book(
            BookingRequest(
                clinic_id=self.ctx.clinic.clinic_id,
                request_id=f"{self.ctx.call_sid}-{option_id}",
                provider_id=slot.provider_id,
                appointment_type=slot.appointment_type_id,
                starts_at=slot.starts_at,
                patient_id=patient_id,
                new_patient=details,
                call_sid=self.ctx.call_sid,
            ),
            answer_within=self.ctx.booking_answer_within,
        )
        return self._decision(decision, "booked")

    async def _reschedule_appointment(self, appointment_ref: str, option_id: str) -> dict[str, Any]:
        appointment_id = self._appointments.get(appointment_ref)
        if appointment_id is None:
            return {"error": "unknown_appointment"}
        slot = self._options[option_id]
        async with self.ctx.db.read() as session:
            current = await session.get(Appointment, appointment_id)
        assert current is not None
        decision = await self.ctx.bookings.book(
            BookingRequest(
                clinic_id=self.ctx.clinic.clinic_id,
                request_id=f"{self.ctx.call_sid}-{option_id}-moves-{appointment_ref}",
                provider_id=slot.provider_id,
                appointment_type=slot.appointment_type_id,
                starts_at=slot.starts_at,
                patient_id=current.patient_id,
                reschedule_of=appointment_id,
                call_sid=self.ctx.call_sid,
            ),
            answer_within=self.ctx.booking_answer_within,
        )
        return self._decision(decision, "rescheduled")

    async def _cancel_appointment(
        self, appointment_ref: str, reason: str = "patient request"
    ) -> dict[str, Any]:
        appointment_id = self._appointments.get(appointment_ref)
        if appointment_id is None:
            return {"error": "unknown_appointment"}
        status, accepted, why = await self.ctx.bookings.cancel(
            CancelInput(self.ctx.clinic.clinic_id, appointment_id, reason, self.ctx.call_sid),
            answer_within=self.ctx.booking_answer_within,
        )
        self.record.workflow_ids.append(f"cancel-{self.ctx.clinic.clinic_id}-{appointment_id}")
        if status == "rejected":
            return {"status": "rejected", "error": why}
        self.record.outcome = "cancelled"
        spoken = speakable_time(accepted.starts_at, accepted.time_zone) if accepted else None
        return {
            "status": "cancelled" if status in ("accepted", "done") else "pending",
            "spoken": spoken,
        }

    async def _verify_insurance(
        self,
        payer: str,
        member_id: str,
        patient_id: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        date_of_birth: str | None = None,
    ) -> dict[str, Any]:
        if patient_id:
            async with self.ctx.db.read() as session:
                patient = await session.get(Patient, patient_id)
            if patient is None:
                return {"error": "unknown_patient"}
            first_name, last_name, date_of_birth = (
                patient.first_name,
                patient.last_name,
                patient.date_of_birth,
            )
        if not (first_name and last_name and date_of_birth):
            return {"error": "need_name_and_date_of_birth"}
        self._checks += 1
        outcome = await self.ctx.events.verify_insurance(
            EligibilityInput(
                clinic_id=self.ctx.clinic.clinic_id,
                request_id=f"{self.ctx.call_sid}-ins{self._checks}",
                payer=payer,
                member_id=member_id,
                first_name=first_name,
                last_name=last_name,
                date_of_birth=date_of_birth,
                patient_id=patient_id,
                call_sid=self.ctx.call_sid,
            )
        )
        if outcome is None or outcome.status == "unverified":
            self.record.insurance_unverified = True
            return {"status": "unverified" if outcome else "pending"}
        return {"status": outcome.status, "plan": outcome.plan_name}

    async def _transfer_to_human(self, reason: str) -> dict[str, Any]:
        self.record.outcome = "emergency" if "emergency" in reason.lower() else "transferred"
        self.record.transfer_reason = reason[:200]
        self.ctx.control.request_transfer(reason)
        return {"status": "transferring"}

    async def _end_call(self, reason: str = "caller done") -> dict[str, Any]:
        self.ctx.control.request_hangup(reason)
        return {"status": "ending"}
