"""Call wrap-up: persist the call and transcript, summarise, note it in the CRM."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select
from temporalio import activity

from activities.adapters import ClinicAdapters
from activities.errors import classified
from activities.keys import workflow_key
from core.clinic_config import clinic_engines
from core.models import Call, CallDirection, CallOutcome, Clinic, Patient, TranscriptTurn
from core.scheduling import NotFound
from core.security import audit
from core.summary import CallFacts
from integrations.crm.protocol import CrmNote
from integrations.summaries.choice import CallSummaries
from integrations.summaries.protocol import SummaryRequest
from workflows.contracts import CallStatusUpdate, SessionReport, WrapUpInput

# Twilio's terminal statuses for calls that never reached the receptionist.
UNANSWERED = {
    "busy": CallOutcome.ABANDONED,
    "no-answer": CallOutcome.ABANDONED,
    "canceled": CallOutcome.ABANDONED,
    "failed": CallOutcome.FAILED,
}


@dataclass(frozen=True)
class PersistCallInput:
    call: WrapUpInput
    report: SessionReport | None = None
    status: CallStatusUpdate | None = None


class WrapUpActivities:
    def __init__(self, adapters: ClinicAdapters, summaries: CallSummaries) -> None:
        self._adapters = adapters
        self._db = adapters.db
        self._summaries = summaries

    @activity.defn(name="persist_call")
    @classified
    async def persist_call(self, request: PersistCallInput) -> str:
        """Upsert the call record and append missing transcript turns; returns the call id."""
        info, report, status = request.call, request.report, request.status
        async with self._db.write() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == info.call_sid))).first()
            if call is None:
                call = Call(
                    clinic_id=info.clinic_id,
                    call_sid=info.call_sid,
                    direction=CallDirection(info.direction),
                    from_number=info.from_number,
                    to_number=info.to_number,
                )
                if info.started_at:
                    call.started_at = info.started_at
            if report is not None:
                call.ended_at = report.ended_at
                call.outcome = CallOutcome(report.outcome)
                call.transfer_reason = report.transfer_reason
                call.patient_id = report.patient_id or call.patient_id
                call.tools_used = list(report.tools_used)
                call.workflow_ids = list(report.workflow_ids)
                call.turn_latencies = [dict(t) for t in report.turn_latencies]
                call.failovers = list(report.failovers)
            elif status is not None:
                call.ended_at = call.ended_at or status.at
                if call.outcome == CallOutcome.IN_PROGRESS:
                    call.outcome = UNANSWERED.get(status.status, CallOutcome.ABANDONED)
            session.add(call)
            await session.flush()
            if report is not None:
                # The voice loop may have written some turns live; the report is the final word.
                have = {
                    turn.seq: turn
                    for turn in (
                        await session.exec(
                            select(TranscriptTurn).where(TranscriptTurn.call_id == call.id)
                        )
                    ).all()
                }
                for seq, line in enumerate(report.transcript):
                    turn = have.get(seq) or TranscriptTurn(
                        call_id=call.id, seq=seq, role=line.role, text=line.text, at=line.at
                    )
                    turn.text, turn.interrupted = line.text, line.interrupted
                    session.add(turn)
        await audit.system_access(
            self._db, "wrapup", clinic_id=call.clinic_id, record_type="call", record_id=call.id,
            action=audit.Action.UPDATE,
            detail={"transcript_turns": len(report.transcript) if report else 0},
        )  # fmt: skip
        return call.id

    async def _call(self, call_id: str) -> Call:
        async with self._db.read() as session:
            call = await session.get(Call, call_id)
        if call is None:
            raise NotFound("unknown call")
        return call

    @activity.defn(name="summarize_call")
    @classified
    async def summarize_call(self, call_id: str) -> str:
        call = await self._call(call_id)
        async with self._db.read() as session:
            clinic = await session.get(Clinic, call.clinic_id)
            turns = list(
                (
                    await session.exec(
                        select(TranscriptTurn.role, TranscriptTurn.text)
                        .where(TranscriptTurn.call_id == call_id)
                        .order_by(TranscriptTurn.seq)  # type: ignore[arg-type]
                    )
                ).all()
            )
        if clinic is None:
            raise NotFound("unknown clinic")
        facts = CallFacts(
            direction=str(call.direction),
            started_at=call.started_at,
            ended_at=call.ended_at,
            outcome=str(call.outcome),
            caller_lines=[text for role, text in turns if role == "caller"],
            tools_used=call.tools_used,
            transfer_reason=call.transfer_reason,
            failovers=tuple(call.failovers),
        )
        spoken = [(role, text) for role, text in turns if role in ("caller", "agent")]
        summary, engine = await self._summaries.summarize(
            clinic_engines(clinic).summary,
            SummaryRequest(clinic.name, clinic.time_zone, facts, spoken),
        )
        if engine == "claude":
            await audit.system_access(
                self._db, "wrapup", clinic_id=call.clinic_id, record_type="call",
                record_id=call_id, action=audit.Action.DISCLOSE, detail={"to": "claude"},
            )  # fmt: skip
        async with self._db.write() as session:
            stored = await session.get(Call, call_id)
            assert stored is not None
            stored.summary = summary
            session.add(stored)
        return summary

    @activity.defn(name="write_crm_note")
    @classified
    async def write_crm_note(self, call_id: str) -> str:
        call = await self._call(call_id)
        patient = None
        if call.patient_id:
            async with self._db.read() as session:
                patient = await session.get(Patient, call.patient_id)
            if patient is not None:
                await audit.system_access(
                    self._db, "wrapup", clinic_id=call.clinic_id, record_type="patient",
                    record_id=patient.id, action=audit.Action.DISCLOSE, detail={"to": "crm"},
                )  # fmt: skip
        crm = await self._adapters.crm(call.clinic_id)
        return await crm.write_note(
            CrmNote(
                clinic_id=call.clinic_id,
                external_key=workflow_key("/crm"),
                subject=f"Phone call: {call.outcome}",
                body=call.summary or "",
                occurred_at=call.ended_at or call.started_at,
                patient_id=call.patient_id,
                patient_phone=(patient.phone if patient else None) or call.from_number,
                patient_email=patient.email if patient else None,
                call_sid=call.call_sid,
            )
        )
