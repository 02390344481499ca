"""The retention purge: call data older than each clinic's retention periods is deleted.

Per clinic: recordings of calls older than ``recording_retention_days`` are deleted from the
store; transcripts, call summaries and the local CRM notes written from them go after
``transcript_retention_days``. The call rows stay (ids, times, outcome: no PHI once the caller's
number is cleared), so reports still count calls. Each clinic's purge leaves an audit event with
counts only. Deleting is idempotent: a retried activity finds less to delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import col, delete, select, update
from temporalio import activity

from core.db import Database
from core.models import Call, Clinic, CrmNote, TranscriptTurn
from core.security import audit, recordings

BATCH = 500  # calls per look-up of recordings to delete


@dataclass(frozen=True)
class PurgeInput:
    now: datetime  # the workflow's clock: a retry uses the same cut-offs


@dataclass
class ClinicPurge:
    clinic_id: str
    recordings: int = 0
    calls: int = 0
    transcript_turns: int = 0
    crm_notes: int = 0


@dataclass
class PurgeReport:
    clinics: list[ClinicPurge] = field(default_factory=list)


class RetentionActivities:
    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._data_dir = data_dir

    @activity.defn(name="purge_expired")
    async def purge_expired(self, request: PurgeInput) -> PurgeReport:
        async with self._db.read() as session:
            clinics = (await session.exec(select(Clinic))).all()
        report = PurgeReport()
        for clinic in clinics:
            purge = ClinicPurge(clinic.id)
            await self._recordings(clinic, request.now, purge)
            await self._transcripts(clinic, request.now, purge)
            activity.heartbeat(clinic.id)
            if purge.recordings or purge.calls or purge.transcript_turns:
                await audit.system_access(
                    self._db, "retention", clinic_id=clinic.id, record_type="call_data",
                    record_id=clinic.id, action=audit.Action.PURGE,
                    detail={
                        "recordings": purge.recordings, "calls": purge.calls,
                        "transcript_turns": purge.transcript_turns, "crm_notes": purge.crm_notes,
                        "recording_retention_days": clinic.recording_retention_days,
                        "transcript_retention_days": clinic.transcript_retention_days,
                    },
                )  # fmt: skip
            report.clinics.append(purge)
        activity.logger.info(
            "retention purge done",
            extra={
                "recordings": sum(p.recordings for p in report.clinics),
                "calls": sum(p.calls for p in report.clinics),
            },
        )
        return report

    async def _recordings(self, clinic: Clinic, now: datetime, purge: ClinicPurge) -> None:
        before = now - timedelta(days=clinic.recording_retention_days)
        after = ""
        while True:
            async with self._db.read() as session:
                rows = (
                    await session.exec(
                        select(Call.id, Call.call_sid)
                        .where(
                            Call.clinic_id == clinic.id,
                            col(Call.started_at) < before,
                            col(Call.id) > after,
                        )
                        .order_by(col(Call.id))
                        .limit(BATCH)
                    )
                ).all()
            if not rows:
                return
            for _, call_sid in rows:
                purge.recordings += recordings.delete(self._data_dir, call_sid)
            after = rows[-1][0]

    async def _transcripts(self, clinic: Clinic, now: datetime, purge: ClinicPurge) -> None:
        before = now - timedelta(days=clinic.transcript_retention_days)
        expired = select(Call.id).where(Call.clinic_id == clinic.id, col(Call.started_at) < before)
        expired_sids = select(Call.call_sid).where(
            Call.clinic_id == clinic.id, col(Call.started_at) < before
        )
        async with self._db.write() as session:
            turns = await session.exec(
                delete(TranscriptTurn).where(col(TranscriptTurn.call_id).in_(expired))
            )
            notes = await session.exec(
                delete(CrmNote).where(
                    col(CrmNote.clinic_id) == clinic.id, col(CrmNote.call_sid).in_(expired_sids)
                )
            )
            calls = await session.exec(
                update(Call)
                .where(
                    col(Call.id).in_(expired),
                    col(Call.summary).is_not(None) | col(Call.from_number).is_not(None),
                )
                .values(summary=None, from_number=None)
            )
        purge.calls += calls.rowcount
        purge.transcript_turns += turns.rowcount
        purge.crm_notes += notes.rowcount
