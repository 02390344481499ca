"""The retention purge, run as the scheduled workflow on the real worker: expired recordings and
transcripts go, recent ones stay, and the purge is audited with counts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Call, Clinic, CrmNote, TranscriptTurn
from core.security import audit, recordings
from core.settings import get_settings
from tests.security.phi import PHONE
from tests.support.workers import running_worker
from workflows import queues
from workflows.retention import RetentionPurgeWorkflow


async def _call(db: Database, clinic_id: str, sid: str, age: timedelta) -> Call:
    async with db.write() as session:
        call = Call(
            clinic_id=clinic_id, call_sid=sid, from_number=PHONE,
            started_at=datetime.now(UTC) - age, summary="Booked a cleaning.",
        )  # fmt: skip
        session.add(call)
        await session.flush()
        session.add(TranscriptTurn(call_id=call.id, seq=0, role="caller", text="Hello"))
        session.add(
            CrmNote(
                clinic_id=clinic_id, external_key=f"crm-{sid}", call_sid=sid, subject="Call",
                body="Booked a cleaning.", occurred_at=call.started_at,
            )
        )  # fmt: skip
    return call


async def test_purge_deletes_only_what_has_expired_and_records_it(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    data_dir = get_settings().data_dir  # where the worker's activities keep recordings
    async with db.write() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.recording_retention_days, clinic.transcript_retention_days = 30, 365
        session.add(clinic)
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    ancient = await _call(db, demo.clinic_id, f"CAancient{suffix}", timedelta(days=400))
    middle = await _call(db, demo.clinic_id, f"CAmiddle{suffix}", timedelta(days=60))
    fresh = await _call(db, demo.clinic_id, f"CAfresh{suffix}", timedelta(days=1))
    for call in (ancient, middle, fresh):
        recordings.store(data_dir, call.call_sid, b"RIFF....WAVE")
    started = datetime.now(UTC)
    try:
        async with running_worker(temporal_client, db) as prefix:
            report = await temporal_client.execute_workflow(
                RetentionPurgeWorkflow.run,
                id=f"retention-{suffix}",
                task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
            )
        assert [c.clinic_id for c in report.clinics if c.recordings] == [demo.clinic_id]
        purged = next(c for c in report.clinics if c.clinic_id == demo.clinic_id)
        assert (purged.recordings, purged.calls, purged.transcript_turns, purged.crm_notes) == (
            2, 1, 1, 1,
        )  # fmt: skip
        assert recordings.find(data_dir, ancient.call_sid) is None
        assert recordings.find(data_dir, middle.call_sid) is None
        assert recordings.find(data_dir, fresh.call_sid) is not None
        async with db.read() as session:
            calls = {
                c.call_sid: c
                for c in (
                    await session.exec(
                        select(Call).where(
                            col(Call.call_sid).in_(
                                [ancient.call_sid, middle.call_sid, fresh.call_sid]
                            )
                        )
                    )
                ).all()
            }
            turns = (await session.exec(select(TranscriptTurn.call_id))).all()
            notes = (await session.exec(select(CrmNote.call_sid))).all()
        assert (
            calls[ancient.call_sid].summary is None and calls[ancient.call_sid].from_number is None
        )
        assert calls[middle.call_sid].summary and calls[fresh.call_sid].from_number == PHONE
        assert ancient.id not in turns and {middle.id, fresh.id} <= set(turns)
        assert ancient.call_sid not in notes and middle.call_sid in notes

        events = await audit.export(db, started, datetime.now(UTC), demo.clinic_id)
        [purge] = [e for e in events if e["action"] == "purge"]
        assert purge["actor"] == "system:retention"
        assert purge["detail"]["recordings"] == 2 and purge["detail"]["calls"] == 1
        assert PHONE not in str(purge)
    finally:
        recordings.delete(data_dir, fresh.call_sid)
