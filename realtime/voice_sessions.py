"""Running a media stream: build the call's session from the clinic's configuration and feed
it every frame until the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import WebSocket, WebSocketDisconnect
from temporalio.client import Client

from core.db import Database
from core.models import Call, Clinic
from core.settings import Settings
from durable.booking import Bookings
from durable.calls import CallEvents
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import Conversation
from realtime.agent.tools import ToolBox, ToolContext
from realtime.engines import EngineChoice
from realtime.outbound_calls import OUTREACH_PARAMETER, outbound_context
from realtime.session import CallInfo, CallSession
from realtime.telephony import Telephony
from realtime.transcript_log import TranscriptLog
from realtime.turns import TurnSettings
from realtime.twilio_protocol import ProtocolError, Start, parse_frame
from workflows.contracts import SessionReport, WrapUpInput

log = logging.getLogger(__name__)


class VoiceSessions:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        temporal: Callable[[], Awaitable[Client]],
        engines: EngineChoice,
        telephony: Telephony,
        turn_settings: TurnSettings | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._temporal = temporal
        self._engines = engines
        self._telephony = telephony
        self._turns = turn_settings or TurnSettings()
        self.active: dict[str, CallSession] = {}

    async def run(self, websocket: WebSocket, call: Call, start: Start) -> None:
        session = await self._open(websocket, call, start)
        self.active[call.call_sid] = session
        closer = asyncio.create_task(self._close_socket_when_done(session, websocket))
        try:
            await session.start()
            while not session.ended.is_set():
                try:
                    message = await websocket.receive()
                except (WebSocketDisconnect, RuntimeError):
                    break
                if message["type"] == "websocket.disconnect":
                    break
                try:
                    event = parse_frame(message.get("text") or message.get("bytes") or b"")
                except ProtocolError as exc:
                    log.warning("malformed frame skipped", extra={"reason": str(exc)})
                    continue
                await session.handle(event)
        finally:
            await session.close("stream closed")
            self.active.pop(call.call_sid, None)
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    @staticmethod
    async def _close_socket_when_done(session: CallSession, websocket: WebSocket) -> None:
        await session.ended.wait()
        with contextlib.suppress(Exception):
            await websocket.close()

    async def _open(self, websocket: WebSocket, call: Call, start: Start) -> CallSession:
        client = await self._temporal()
        prefix = self._settings.task_queue_prefix
        bookings = Bookings(client, self._db, task_queue_prefix=prefix)
        events = CallEvents(client, task_queue_prefix=prefix)
        profile = await load_clinic_profile(self._db, call.clinic_id)
        purpose = None
        if outreach := start.custom_parameters.get(OUTREACH_PARAMETER):  # we placed this call
            profile, purpose = await outbound_context(self._db, outreach, profile)
        async with self._db.read() as session:
            clinic = await session.get(Clinic, call.clinic_id)
        assert clinic is not None
        engines = self._engines.for_clinic(clinic)
        info = CallInfo(
            clinic_id=call.clinic_id,
            call_sid=call.call_sid,
            stream_sid=start.stream_sid,
            from_number=call.from_number,
            to_number=call.to_number,
            transfer_number=clinic.transfer_number,
            direction=str(call.direction),
            started_at=call.started_at,
        )
        conversation = Conversation(
            clinic=profile,
            now=datetime.now(UTC),
            caller_phone=call.from_number,
            direction="outbound" if info.direction == "outbound" else "inbound",
            purpose=purpose,
        )
        failovers: list[str] = []  # engines note each failover here; the call report keeps them
        stt = await engines.open_stt(self._db, profile, on_failover=failovers.append)
        transcript = TranscriptLog(self._db, call.id)

        async def report(info: CallInfo, result: SessionReport) -> None:
            await transcript.sync(result.transcript)
            await events.session_ended(
                WrapUpInput(
                    info.clinic_id,
                    info.call_sid,
                    info.from_number,
                    info.to_number,
                    info.direction,
                    info.started_at,
                ),
                result,
            )

        def tools(owner: CallSession) -> ToolBox:
            return ToolBox(
                ToolContext(
                    db=self._db, bookings=bookings, events=events, clinic=profile,
                    call_sid=call.call_sid, caller_phone=call.from_number, control=owner,
                    heard=owner.heard,
                )
            )  # fmt: skip

        call_session = CallSession(
            info,
            conversation,
            settings=replace(
                self._turns,
                max_call_s=float(clinic.max_call_seconds),
                endpointing_ms=engines.endpointing_ms or self._turns.endpointing_ms,
            ),
            send=websocket.send_text,
            stt=stt,
            tts=engines.tts,
            tts_fallback=engines.tts_fallback,
            voice=clinic.voice,
            agent=engines.agent(profile, on_failover=failovers.append),
            failovers=failovers,
            tools=tools,
            telephony=self._telephony,
            report=report,
            confidence_floor=engines.stt_confidence_floor,
        )
        call_session.on_transcript = transcript.sync
        return call_session
