"""The inbound SMS webhook: patients' replies to reminders and campaigns, and SMS delivery
status callbacks. Signed like every Twilio webhook (``X-Twilio-Signature``).

``POST /twilio/sms``: STOP (and the other opt-out words) is recorded at once, before anything
else, and stops every outreach for that number at this clinic; START opts back in; C and R go
to the newest outreach that texted this number as a ``reply`` signal. Replies are stored
(body encrypted) and deduplicated by ``MessageSid``, so Twilio's retries are harmless.
``POST /twilio/sms/status``: delivered / undelivered / failed update the attempt and outbox.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError
from twilio.twiml.messaging_response import MessagingResponse

from core.campaigns.phones import phone_key
from core.campaigns.replies import classify
from core.campaigns.store import clear_opt_out, record_opt_out
from core.db import Database
from core.models import (
    AttemptStatus,
    ClinicPhoneNumber,
    InboundReply,
    OutboxMessage,
    OutboxStatus,
    OutreachAttempt,
)
from core.settings import Settings
from realtime import twilio_security as security
from realtime.twilio_edge import _signed_form
from workflows.outreach_types import Reply

log = logging.getLogger(__name__)
# How far back a reply may still answer an outreach (the longest reply window allowed).
REPLY_HORIZON = timedelta(days=14)
DELIVERY = {
    "delivered": (AttemptStatus.DELIVERED, OutboxStatus.DELIVERED),
    "undelivered": (AttemptStatus.FAILED, OutboxStatus.FAILED),
    "failed": (AttemptStatus.FAILED, OutboxStatus.FAILED),
}


class ReplyServices(Protocol):
    settings: Settings
    db: Database

    async def temporal(self) -> Client: ...


def empty_reply() -> Response:
    return Response(str(MessagingResponse()), media_type="application/xml")


async def recent_outreach(db: Database, clinic_id: str, index: str) -> list[str]:
    """Workflow ids that texted or called this number lately, newest first."""
    since = datetime.now(UTC) - REPLY_HORIZON
    async with db.read() as session:
        rows = await session.exec(
            select(OutreachAttempt.workflow_id, OutreachAttempt.created_at)
            .where(
                OutreachAttempt.clinic_id == clinic_id,
                OutreachAttempt.phone_index == index,
                OutreachAttempt.created_at >= since,
            )
            .order_by(col(OutreachAttempt.created_at).desc())
        )
        ordered: list[str] = []
        for workflow_id, _ in rows.all():
            if workflow_id not in ordered:
                ordered.append(workflow_id)
        return ordered


async def _signal(client: Client, workflow_id: str, reply: Reply) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).signal("reply", reply)
    except RPCError:  # finished or gone: nothing waits for this reply any more
        return False
    return True


def build_sms_router(services: ReplyServices) -> APIRouter:
    router = APIRouter(
        prefix="/twilio/sms",
        tags=["twilio"],
        dependencies=security.webhook_limiter(services.settings),
    )

    @router.post("")
    async def inbound(request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        sid, sender, to = form.get("MessageSid", ""), form.get("From", ""), form.get("To", "")
        if not sid.startswith(("SM", "MM")) or not sender:
            return Response("missing MessageSid or From", status_code=400)
        async with services.db.read() as session:
            clinic_id = (
                await session.exec(
                    select(ClinicPhoneNumber.clinic_id).where(ClinicPhoneNumber.e164 == to)
                )
            ).first()
        if clinic_id is None:
            log.warning("sms to an unknown number", extra={"message_sid": sid})
            return empty_reply()
        body = form.get("Body", "")
        meaning = classify(body)
        index = phone_key(sender)
        try:
            async with services.db.write() as session:
                session.add(
                    InboundReply(
                        clinic_id=clinic_id, message_sid=sid, phone_index=index,
                        body=body[:2000], meaning=meaning,
                    )
                )  # fmt: skip
        except IntegrityError:
            return empty_reply()  # a retried webhook: handled the first time
        # The opt-out is recorded before any workflow hears of it: it holds even if Temporal
        # is down, and every send path checks it right before sending.
        if meaning == "stop":
            await record_opt_out(services.db, clinic_id, sender, body.strip().upper())
        elif meaning == "start":
            await clear_opt_out(services.db, clinic_id, sender)
        targets = await recent_outreach(services.db, clinic_id, index)
        if meaning != "stop":
            targets = targets[:1]  # C / R answer the newest message only
        client = await services.temporal()
        routed = [w for w in targets if await _signal(client, w, Reply(meaning, sid))]
        async with services.db.write() as session:
            await session.exec(
                update(InboundReply)
                .where(col(InboundReply.message_sid) == sid)
                .values(routed_to=routed[0] if routed else None)
            )
        log.info(
            "sms reply",
            extra={"message_sid": sid, "clinic_id": clinic_id, "meaning": meaning,
                   "routed": len(routed)},
        )  # fmt: skip
        return empty_reply()

    @router.post("/status")
    async def delivery_status(request: Request) -> Response:
        form = await _signed_form(request, services.settings)
        if form is None:
            return Response("invalid signature", status_code=403)
        sid = form.get("MessageSid", "")
        mapped = DELIVERY.get(form.get("MessageStatus", ""))
        if not sid or mapped is None:
            return Response(status_code=204)  # queued / sent / sending: nothing final yet
        attempt_status, outbox_status = mapped
        now = datetime.now(UTC)
        async with services.db.write() as session:
            await session.exec(
                update(OutreachAttempt)
                .where(col(OutreachAttempt.provider_id) == sid)
                .values(
                    status=attempt_status,
                    reason=form.get("ErrorCode") or None,
                    updated_at=now,
                )
            )
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.provider_message_id) == sid)
                .values(status=outbox_status)
            )
        return Response(status_code=204)

    return router
