"""Outbound outreach calls at the Twilio edge: the answer URL, answering-machine detection and
call status, each signed like every Twilio webhook.

The dialer places the call with URLs naming the outreach attempt (an opaque id). A person who
answers gets ``<Connect><Stream>`` with the attempt id as a ``<Parameter>`` (no PHI), so the
same ``CallSession`` runs in outbound mode and knows why it called; Twilio's asynchronous AMD
result and the final call status go to the outreach workflow as ``call_event`` signals (a
machine then gets the voicemail).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError
from twilio.twiml.voice_response import Connect, VoiceResponse

from core.campaigns.config import load_outreach_config
from core.db import Database
from core.logging import call_id_var
from core.models import Appointment, AppointmentType, Call, CallDirection, OutreachAttempt
from core.settings import Settings
from realtime import twilio_security as security
from realtime.agent.protocol import ClinicProfile
from realtime.agent.rule.outbound import opening, purpose_for
from realtime.twilio_edge import STREAM_TOKEN_TTL, TERMINAL_STATUSES, _signed_form, twiml
from workflows.outreach_types import CallEvent

log = logging.getLogger(__name__)
OUTREACH_PARAMETER = "outreach"


class OutboundServices(Protocol):
    settings: Settings
    db: Database

    async def temporal(self) -> Client: ...


async def outbound_context(
    db: Database, attempt_id: str, profile: ClinicProfile
) -> tuple[ClinicProfile, str | None]:
    """For a stream carrying an outreach id: the profile whose greeting is the outbound
    opening, and the conversation's purpose ("recall:cleaning", "confirm", ...)."""
    async with db.read() as session:
        attempt = await session.get(OutreachAttempt, attempt_id)
        if attempt is None or attempt.clinic_id != profile.clinic_id:
            return profile, None
        visit: str | None = None
        if attempt.appointment_id:
            appointment = await session.get(Appointment, attempt.appointment_id)
            kind = (
                await session.get(AppointmentType, appointment.appointment_type_id)
                if appointment
                else None
            )
            visit = kind.code if kind else None
        if visit is None and attempt.kind in ("recall", "no_show"):
            config = await load_outreach_config(session, attempt.clinic_id)
            visit = config.recall_types[0] if config.recall_types else None
    return replace(profile, greeting=opening(profile, attempt.kind)), purpose_for(
        attempt.kind, visit
    )


def build_outbound_router(services: OutboundServices) -> APIRouter:
    router = APIRouter(
        prefix="/twilio/outbound",
        tags=["twilio"],
        dependencies=security.webhook_limiter(services.settings),
    )

    async def attempt_of(attempt_id: str) -> OutreachAttempt | None:
        async with services.db.read() as session:
            attempt = await session.get(OutreachAttempt, attempt_id)
        return attempt if attempt is not None and attempt.channel == "voice" else None

    async def tell(attempt: OutreachAttempt, event: CallEvent) -> None:
        client = await services.temporal()
        try:
            await client.get_workflow_handle(attempt.workflow_id).signal("call_event", event)
        except RPCError:
            log.info("outreach already finished", extra={"workflow_id": attempt.workflow_id})

    @router.post("/{attempt_id}/answer")
    async def answer(attempt_id: str, request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        call_sid = form.get("CallSid", "")
        attempt = await attempt_of(attempt_id)
        if attempt is None or not call_sid.startswith("CA"):
            response = VoiceResponse()
            response.hangup()
            return twiml(response)
        call_id_var.set(call_sid)
        token, token_hash = security.new_stream_token()
        async with services.db.write() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == call_sid))).first()
            # The remote party's number goes in the PHI column ``from_number``: the session
            # looks the patient up by it, as it does for a caller.
            call = call or Call(
                clinic_id=attempt.clinic_id, call_sid=call_sid,
                direction=CallDirection.OUTBOUND, from_number=form.get("To"),
                to_number=form.get("From"), patient_id=attempt.patient_id,
            )  # fmt: skip
            call.stream_token_hash = token_hash
            call.stream_token_expires_at = datetime.now(UTC) + STREAM_TOKEN_TTL
            session.add(call)
        response = VoiceResponse()
        connect = Connect()
        stream = connect.stream(url=security.stream_url(services.settings, token))
        stream.parameter(name="clinic_id", value=attempt.clinic_id)
        stream.parameter(name=OUTREACH_PARAMETER, value=attempt.id)  # opaque: no PHI
        response.append(connect)
        log.info("outreach call answered", extra={"call_sid": call_sid})
        return twiml(response)

    @router.post("/{attempt_id}/amd")
    async def machine_detection(attempt_id: str, request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        attempt = await attempt_of(attempt_id)
        if attempt is not None and form.get("AnsweredBy"):
            await tell(attempt, CallEvent(form.get("CallSid", ""), answered_by=form["AnsweredBy"]))
        return Response(status_code=204)

    @router.post("/{attempt_id}/status")
    async def status(attempt_id: str, request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        attempt = await attempt_of(attempt_id)
        state = form.get("CallStatus", "")
        if attempt is not None and state in TERMINAL_STATUSES:
            await tell(attempt, CallEvent(form.get("CallSid", ""), status=state))
        return Response(status_code=204)

    return router
