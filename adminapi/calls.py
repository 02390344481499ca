"""The call log: list with outcome, duration and transfer reason; one call's transcript, turn
latencies, tools and workflows; its recording; and the calls in progress, live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlmodel import col, select

from adminapi import roles
from adminapi.auth import Principal, clinic_access, not_found
from adminapi.deps import Limit, Offset, Services, as_utc, owned
from adminapi.phi import audit
from core.db import Database
from core.models import Call, CallDirection, CallOutcome, Patient, TranscriptTurn, utcnow
from core.security import recordings
from core.settings import Settings

LIVE_POLL_S = 1.0
LIVE_HEARTBEAT_S = 15.0
# A stream is closed after this long; the browser's EventSource reconnects through the
# authentication again, so a logged-out or demoted user stops receiving within this bound.
LIVE_STREAM_S = 300.0


class CallSummary(BaseModel):
    id: str
    call_sid: str
    direction: CallDirection
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    outcome: CallOutcome
    transfer_reason: str | None
    tools_used: list[str]
    has_recording: bool


class TranscriptLineOut(BaseModel):
    seq: int
    role: str
    text: str
    at: datetime
    interrupted: bool


class CallDetail(CallSummary):
    from_number: str | None
    to_number: str | None
    patient_id: str | None
    patient_name: str | None
    summary: str | None
    transcript: list[TranscriptLineOut]
    turn_latencies: list[dict[str, Any]]
    workflow_ids: list[str]
    failovers: list[str]


def recording_path(settings: Settings, call_sid: str) -> Path | None:
    """Where a call's recording is kept (encrypted: core.security.recordings), if it is."""
    return recordings.find(settings.data_dir, call_sid)


def _summary(call: Call, settings: Settings) -> CallSummary:
    duration = (call.ended_at - call.started_at).total_seconds() if call.ended_at else None
    return CallSummary(
        id=call.id, call_sid=call.call_sid, direction=call.direction, started_at=call.started_at,
        ended_at=call.ended_at, duration_seconds=duration, outcome=call.outcome,
        transfer_reason=call.transfer_reason, tools_used=list(call.tools_used),
        has_recording=recording_path(settings, call.call_sid) is not None,
    )  # fmt: skip


async def _transcript(db: Database, call_ids: list[str]) -> dict[str, list[TranscriptLineOut]]:
    lines: dict[str, list[TranscriptLineOut]] = {call_id: [] for call_id in call_ids}
    async with db.read() as session:
        rows = await session.exec(
            select(TranscriptTurn)
            .where(col(TranscriptTurn.call_id).in_(call_ids))
            .order_by(col(TranscriptTurn.seq))
        )
        for turn in rows:
            lines[turn.call_id].append(TranscriptLineOut.model_validate(turn, from_attributes=True))
    return lines


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


CallsReader = Annotated[Principal, Depends(clinic_access(*roles.CALLS))]
AudioListener = Annotated[Principal, Depends(clinic_access(*roles.AUDIO_AND_LIVE))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}/calls", tags=["calls"])

    @router.get("", response_model=list[CallSummary])
    async def list_calls(
        clinic_id: str,
        services: Services,
        _: CallsReader,
        outcome: CallOutcome | None = None,
        started_from: Annotated[datetime | None, Query(alias="from")] = None,
        started_before: Annotated[datetime | None, Query(alias="to")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> list[CallSummary]:
        """Newest first. Carries no patient details (the detail view does, audited)."""
        query = select(Call).where(Call.clinic_id == clinic_id)
        if outcome is not None:
            query = query.where(Call.outcome == outcome)
        if started_from is not None:
            query = query.where(Call.started_at >= as_utc(started_from))
        if started_before is not None:
            query = query.where(Call.started_at < as_utc(started_before))
        query = query.order_by(col(Call.started_at).desc()).offset(offset).limit(limit)
        async with services.db.read() as session:
            return [_summary(c, services.settings) for c in await session.exec(query)]

    @router.get(
        "/live",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
    )
    async def live(
        clinic_id: str,
        request: Request,
        services: Services,
        principal: AudioListener,
        once: Annotated[bool, Query(description="send the current state, then close")] = False,
    ) -> StreamingResponse:
        """Calls in progress with their transcript so far, as server-sent events: a ``calls``
        event (a list of calls, each with its ``transcript``) whenever anything changes."""
        return StreamingResponse(
            _live_events(request, services.db, services.settings, principal, clinic_id, once),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/{call_id}", response_model=CallDetail)
    async def call_detail(
        clinic_id: str, call_id: str, services: Services, principal: CallsReader
    ) -> CallDetail:
        """One call with its transcript, per-turn latencies, tools and workflows."""
        async with services.db.read() as session:
            call = await owned(session, Call, call_id, clinic_id)
            patient = await session.get(Patient, call.patient_id) if call.patient_id else None
        transcript = (await _transcript(services.db, [call.id]))[call.id]
        await audit(services.db, principal, "read", "call", call.id)
        if patient is not None:
            await audit(services.db, principal, "read", "patient", patient.id, {"via": "call"})
        return CallDetail(
            **_summary(call, services.settings).model_dump(),
            from_number=call.from_number, to_number=call.to_number, patient_id=call.patient_id,
            patient_name=f"{patient.first_name} {patient.last_name}" if patient else None,
            summary=call.summary, transcript=transcript,
            turn_latencies=list(call.turn_latencies), workflow_ids=list(call.workflow_ids),
            failovers=list(call.failovers),
        )  # fmt: skip

    @router.get(
        "/{call_id}/recording",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}}, "description": "stereo WAV"}},
    )
    async def recording(
        clinic_id: str, call_id: str, services: Services, principal: AudioListener
    ) -> Response:
        """The call's recording (caller left, receptionist right), if one was kept."""
        async with services.db.read() as session:
            call = await owned(session, Call, call_id, clinic_id)
        path = recording_path(services.settings, call.call_sid)
        if path is None:
            raise not_found("no recording for this call")
        await audit(services.db, principal, "read", "call_recording", call.id)
        return Response(  # decrypted in memory: the file at rest is sealed
            recordings.read(path),
            media_type="audio/wav",
            headers={"Cache-Control": "private, no-store"},
        )

    return router


async def _live_events(
    request: Request,
    db: Database,
    settings: Settings,
    principal: Principal,
    clinic_id: str,
    once: bool,
) -> AsyncIterator[str]:
    audited: set[str] = set()
    last = ""
    quiet_since = loop_started = asyncio.get_running_loop().time()
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        now = asyncio.get_running_loop().time()
        if now - loop_started > LIVE_STREAM_S:
            return
        snapshot = await _live_snapshot(db, settings, clinic_id)
        new = [c["id"] for c in snapshot if c["id"] not in audited]
        if new:
            await audit(db, principal, "read", "call", new, {"via": "live"})
            audited.update(new)
        encoded = json.dumps(snapshot, default=str, sort_keys=True)
        if encoded != last:
            last, quiet_since = encoded, now
            yield _sse("calls", snapshot)
        if once:
            return
        elif now - quiet_since >= LIVE_HEARTBEAT_S:
            quiet_since = now
            yield ": keep-alive\n\n"
        await asyncio.sleep(LIVE_POLL_S)


async def _live_snapshot(db: Database, settings: Settings, clinic_id: str) -> list[dict[str, Any]]:
    # A call left "in progress" by a crashed process is not live for ever: calls are capped at
    # max_call_seconds (at most 4 h), so older ones are not shown.
    since = utcnow() - timedelta(hours=4)
    async with db.read() as session:
        calls = (
            await session.exec(
                select(Call)
                .where(
                    Call.clinic_id == clinic_id,
                    Call.outcome == CallOutcome.IN_PROGRESS,
                    Call.started_at >= since,
                )
                .order_by(col(Call.started_at))
            )
        ).all()
    transcripts = await _transcript(db, [c.id for c in calls])
    return [
        {
            **_summary(call, settings).model_dump(mode="json"),
            "transcript": [line.model_dump(mode="json") for line in transcripts[call.id]],
        }
        for call in calls
    ]
