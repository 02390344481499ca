"""The Twilio edge: the voice webhook, the status callback and the media WebSocket.

``POST /twilio/voice`` finds the clinic by the dialled number, records the call, mints a
one-time stream token and answers ``<Connect><Stream>`` (the token rides in the URL path, since
``<Stream url>`` carries no query string and the WebSocket must be authenticated before it is
accepted). ``WS /twilio/media/{token}`` checks the upgrade's signature and the token, then
feeds frames to a ``CallSession``. Bad input is answered, logged and survived: a forged
signature is refused, an unknown number hears a polite message, a malformed frame is skipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from sqlmodel import select
from starlette.websockets import WebSocketState
from twilio.twiml.voice_response import Connect, VoiceResponse

from core.db import Database
from core.logging import call_id_var
from core.models import Call, CallDirection, ClinicPhoneNumber
from core.settings import Settings
from durable.calls import CallEvents
from realtime import twilio_security as security
from realtime.twilio_protocol import Connected, ProtocolError, Start, Stop, parse_frame
from workflows.contracts import CallStatusUpdate, WrapUpInput

log = logging.getLogger(__name__)
STREAM_TOKEN_TTL = timedelta(minutes=2)
TERMINAL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
UNKNOWN_NUMBER = (
    "Sorry, this number is not set up with our answering service yet. "
    "Please try again later. Goodbye."
)


class SessionRunner(Protocol):
    """Runs one media stream once it is authenticated; provided by the application."""

    async def run(self, websocket: WebSocket, call: Call, start: Start) -> None: ...


class EdgeServices(Protocol):
    settings: Settings
    db: Database

    async def call_events(self) -> CallEvents: ...

    @property
    def sessions(self) -> SessionRunner: ...


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


async def _signed_form(request: Request, settings: Settings) -> dict[str, str] | None:
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = security.public_url(
        settings, request.url.path, request.url.query,
        host_header=request.headers.get("x-forwarded-host") or request.headers.get("host"),
        forwarded_proto=request.headers.get("x-forwarded-proto") or request.url.scheme,
    )  # fmt: skip
    if not security.valid_signature(settings, url, form, request.headers.get("x-twilio-signature")):
        log.warning("twilio signature rejected", extra={"path": request.url.path})
        return None
    return form


def build_router(services: EdgeServices) -> APIRouter:
    router = APIRouter(prefix="/twilio", tags=["twilio"])

    @router.post("/voice")
    async def voice(request: Request) -> Response:
        settings = services.settings
        form = await _signed_form(request, settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        call_sid, dialled = form.get("CallSid", ""), form.get("To", "")
        if not call_sid.startswith("CA"):
            return Response("missing CallSid", status_code=400)
        call_id_var.set(call_sid)
        async with services.db.write() as session:
            number = (
                await session.exec(
                    select(ClinicPhoneNumber).where(ClinicPhoneNumber.e164 == dialled)
                )
            ).first()
            if number is None:
                log.warning("call to an unknown number", extra={"call_sid": call_sid})
                response = VoiceResponse()
                response.say(UNKNOWN_NUMBER)
                response.hangup()
                return twiml(response)
            call = (await session.exec(select(Call).where(Call.call_sid == call_sid))).first()
            if call is None:
                call = Call(
                    clinic_id=number.clinic_id,
                    call_sid=call_sid,
                    direction=CallDirection.OUTBOUND
                    if form.get("Direction", "inbound").startswith("outbound")
                    else CallDirection.INBOUND,
                    from_number=form.get("From"),
                    to_number=dialled,
                )
            token, token_hash = security.new_stream_token()
            call.stream_token_hash = token_hash
            call.stream_token_expires_at = datetime.now(UTC) + STREAM_TOKEN_TTL
            session.add(call)
        response = VoiceResponse()
        connect = Connect()
        stream = connect.stream(url=security.stream_url(settings, token))
        stream.parameter(name="clinic_id", value=call.clinic_id)  # ids only: no PHI in TwiML
        response.append(connect)
        log.info("call answered", extra={"call_sid": call_sid, "clinic_id": call.clinic_id})
        return twiml(response)

    @router.post("/status")
    async def status(request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        call_sid, state = form.get("CallSid", ""), form.get("CallStatus", "")
        if state not in TERMINAL_STATUSES:
            return Response(status_code=204)
        async with services.db.read() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == call_sid))).first()
        if call is None:
            return Response(status_code=204)  # never reached us: nothing to wrap up
        duration = form.get("CallDuration", "")
        events = await services.call_events()
        await events.call_status(
            WrapUpInput(
                call.clinic_id,
                call.call_sid,
                call.from_number,
                call.to_number,
                str(call.direction),
                call.started_at,
            ),
            CallStatusUpdate(
                state, datetime.now(UTC), int(duration) if duration.isdigit() else None
            ),
        )
        return Response(status_code=204)

    @router.websocket("/media/{token}")
    async def media(websocket: WebSocket, token: str) -> None:
        settings = services.settings
        url = security.public_url(
            settings, websocket.url.path, websocket.url.query, websocket=True,
            host_header=websocket.headers.get("x-forwarded-host") or websocket.headers.get("host"),
            forwarded_proto=websocket.headers.get("x-forwarded-proto")
            or ("https" if websocket.url.scheme == "wss" else "http"),
        )  # fmt: skip
        if not security.valid_signature(
            settings, url, {}, websocket.headers.get("x-twilio-signature")
        ):
            log.warning("media stream signature rejected")
            await websocket.close(code=1008)
            return
        call = await _consume_token(services.db, token)
        if call is None:
            log.warning("media stream token rejected")
            await websocket.close(code=1008)
            return
        call_id_var.set(call.call_sid)
        await websocket.accept()
        start = await _await_start(websocket)
        if start is None:
            await websocket.close()
            return
        try:
            await services.sessions.run(websocket, call, start)
        finally:
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close()

    return router


async def _consume_token(db: Database, token: str) -> Call | None:
    """The call this token was minted for, if it is unused and unexpired; it is used up."""
    async with db.write() as session:
        call = (
            await session.exec(
                select(Call).where(Call.stream_token_hash == security.hash_token(token))
            )
        ).first()
        if call is None or call.stream_token_expires_at is None:
            return None
        if call.stream_token_expires_at < datetime.now(UTC):
            return None
        call.stream_token_hash = None
        call.stream_token_expires_at = None
        session.add(call)
        return call


async def _await_start(websocket: WebSocket) -> Start | None:
    """Read until ``start`` (after ``connected``); a stream that stops first has no call."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            try:
                event = parse_frame(message.get("text") or message.get("bytes") or b"")
            except ProtocolError as exc:
                log.warning("malformed frame before start", extra={"reason": str(exc)})
                continue
            if isinstance(event, Start):
                return event
            if isinstance(event, Stop):
                return None
            if not isinstance(event, Connected):
                log.warning("frame before start ignored", extra={"event": type(event).__name__})
    except (WebSocketDisconnect, RuntimeError):
        return None
