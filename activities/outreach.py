"""Activities of patient outreach: check the rules, send, handle replies, call, leave voicemail.

Every message or call is recorded as an ``OutreachAttempt`` under an idempotency key derived
from the workflow id and the step, so a retried activity finds what it already did: a message
is delivered at most once (the outbox dedupes on the same key) and every skip has its reason.
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.twiml.voice_response import VoiceResponse

from activities.adapters import ClinicAdapters
from activities.errors import classified
from activities.keys import workflow_key
from activities.messaging import MessagingActivities
from core.campaigns import rules
from core.campaigns.config import OutreachConfig, load_outreach_config
from core.campaigns.phones import phone_key
from core.campaigns.store import (
    attempt_by_key,
    is_opted_out,
    save_attempt,
    sent_times,
    take_send_slot,
)
from core.campaigns.templates import BUILTIN, TemplateContext, TemplateError, render
from core.models import (
    Appointment,
    AttemptStatus,
    Call,
    Campaign,
    CampaignStatus,
    Clinic,
    ClinicPhoneNumber,
    OutboxMessage,
    OutboxStatus,
    OutreachAttempt,
    OutreachTarget,
    Patient,
    Provider,
    StaffTask,
    TargetStatus,
)
from core.scheduling import NotFound
from core.settings import Settings
from integrations.messaging.protocol import OutgoingMessage
from integrations.outbound.protocol import OutboundCall
from realtime.twilio_security import public_url
from workflows.outreach_types import (
    CallInput,
    CallPlaced,
    Contact,
    ReplyAction,
    SendInput,
    SendResult,
    TargetUpdate,
    Verdict,
    VerdictInput,
    Window,
)

TEMPLATE_ERROR = "template"
RATE_LIMITED = "rate_limited"
CAMPAIGN_CANCELLED = "campaign_cancelled"  # the skip reason once a campaign is cancelled
CLINIC_TTL = 30.0  # seconds a clinic's outreach settings are reused
MAX_VOICEMAIL_CHARS = 600  # about 40 seconds spoken: voicemails stay under a minute


@dataclass(frozen=True)
class _Recipient:
    patient: Patient
    clinic: Clinic
    config: OutreachConfig
    clinic_phone: str
    appointment: Appointment | None
    provider_name: str


def send_window(
    config: OutreachConfig, clinic: Clinic, override: Window | None
) -> rules.SendWindow:
    if override is None:
        return rules.SendWindow(clinic.time_zone, config.send_from, config.send_until)
    return rules.SendWindow(
        override.time_zone or clinic.time_zone,
        time.fromisoformat(override.send_from),
        time.fromisoformat(override.send_until),
    )


class OutreachActivities:
    def __init__(
        self, adapters: ClinicAdapters, messaging: MessagingActivities, settings: Settings
    ):
        self._adapters = adapters
        self._messaging = messaging
        self._settings = settings
        self._db = adapters.db
        self._clinics: dict[str, tuple[float, tuple[Clinic, str, OutreachConfig]]] = {}

    async def _clinic(self, clinic_id: str) -> tuple[Clinic, str, OutreachConfig]:
        """The clinic, its number and outreach settings, cached briefly: every message of a
        campaign needs them, and a settings change takes effect within ``CLINIC_TTL``."""
        cached = self._clinics.get(clinic_id)
        if cached is not None and cached[0] > time_module.monotonic():
            return cached[1]
        async with self._db.read() as session:
            clinic = await session.get(Clinic, clinic_id)
            if clinic is None:
                raise NotFound("unknown clinic")
            number = (
                await session.exec(
                    select(ClinicPhoneNumber.e164).where(ClinicPhoneNumber.clinic_id == clinic.id)
                )
            ).first()
            config = await load_outreach_config(session, clinic.id)
        value = (clinic, number or "", config)
        self._clinics[clinic_id] = (time_module.monotonic() + CLINIC_TTL, value)
        return value

    async def _recipient(self, contact: Contact) -> _Recipient:
        clinic, number, config = await self._clinic(contact.clinic_id)
        async with self._db.read() as session:
            patient = await session.get(Patient, contact.patient_id)
            if patient is None or patient.clinic_id != clinic.id:
                raise NotFound("unknown patient")
            appointment = (
                await session.get(Appointment, contact.appointment_id)
                if contact.appointment_id
                else None
            )
            provider = await session.get(Provider, appointment.provider_id) if appointment else None
        return _Recipient(
            patient, clinic, config, number, appointment, provider.name if provider else ""
        )

    def _render(self, text: str, who: _Recipient, *, sms: bool = True) -> str:
        try:
            return render(
                text,
                TemplateContext(
                    clinic_name=who.clinic.name,
                    clinic_phone=who.clinic_phone,
                    time_zone=who.clinic.time_zone,
                    first_name=who.patient.first_name,
                    appointment_at=who.appointment.starts_at if who.appointment else None,
                    provider=who.provider_name,
                    reschedule_link=who.config.reschedule_link,
                ),
                sms=sms,
            )
        except TemplateError as exc:
            raise ApplicationError(str(exc), type=TEMPLATE_ERROR, non_retryable=True) from None

    def _attempt(
        self, contact: Contact, channel: str, status: AttemptStatus, key: str, **fields: object
    ) -> OutreachAttempt:
        return OutreachAttempt(
            clinic_id=contact.clinic_id,
            patient_id=contact.patient_id,
            kind=contact.kind,
            channel=channel,
            status=status,
            campaign_id=contact.campaign_id,
            target_id=contact.target_id,
            appointment_id=contact.appointment_id,
            workflow_id=activity.info().workflow_id or "",
            idempotency_key=key,
            **fields,  # type: ignore[arg-type]
        )

    async def _set_target(
        self, target_id: str | None, status: TargetStatus, outcome: str | None
    ) -> None:
        if target_id is None:
            return
        async with self._db.write() as session:
            target = await session.get(OutreachTarget, target_id)
            if target is None:
                return
            target.status, target.outcome = status, outcome
            target.updated_at = datetime.now(UTC)
            session.add(target)

    # --- rules --------------------------------------------------------------------------------

    async def _judge(
        self, contact: Contact, who: _Recipient, channel: str, key: str
    ) -> rules.Verdict:
        """Send now, defer (quiet hours, daily cap) or skip (opted out, weekly cap, no phone,
        campaign cancelled). Deferrals and skips are recorded with their reason (a deferral once
        per wake-up time, so a retried activity does not record it twice).

        A cancelled campaign contacts nobody more: its run stops only the children still
        contacting, so a child that texted and waits for a reply (its follow-up call due when
        the reply window ends) learns of the cancel here."""
        now = datetime.now(UTC)
        phone = who.patient.phone
        async with self._db.read() as session:
            opted_out = bool(phone) and await is_opted_out(session, contact.clinic_id, phone or "")
            sent = await sent_times(session, contact.patient_id, now - rules.WEEK)
            campaign = (
                await session.get(Campaign, contact.campaign_id) if contact.campaign_id else None
            )
        if campaign is not None and campaign.status == CampaignStatus.CANCELLED:
            verdict = rules.Verdict("skip", CAMPAIGN_CANCELLED)
        else:
            verdict = rules.decide(
                now=now,
                window=send_window(who.config, who.clinic, contact.window),
                caps=rules.Caps(who.config.max_per_day, who.config.max_per_week),
                sent=sent,
                opted_out=opted_out or who.patient.sms_opt_out,
                has_phone=bool(phone),
                deadline=contact.deadline,
            )
        if verdict.action == "skip":
            await save_attempt(
                self._db,
                self._attempt(contact, channel, AttemptStatus.SKIPPED, key, reason=verdict.reason),
            )
            cancelled = verdict.reason == CAMPAIGN_CANCELLED
            await self._set_target(
                contact.target_id,
                TargetStatus.CANCELLED if cancelled else TargetStatus.SKIPPED,
                verdict.reason,
            )
        elif verdict.action == "defer":
            assert verdict.until is not None
            await save_attempt(
                self._db,
                self._attempt(
                    contact, channel, AttemptStatus.DEFERRED,
                    f"{key}/deferred@{verdict.until.isoformat()}", reason=verdict.reason,
                ),
            )  # fmt: skip
        return verdict

    @activity.defn(name="outreach_verdict")
    @classified
    async def outreach_verdict(self, request: VerdictInput) -> Verdict:
        """The rules' verdict for a call (texts check the rules as they send)."""
        who = await self._recipient(request.contact)
        verdict = await self._judge(
            request.contact, who, request.channel, workflow_key(f"/{request.step}")
        )
        return Verdict(verdict.action, verdict.reason, verdict.until)

    async def _rate_slot(self, contact: Contact, channel: str, per_minute: int) -> None:
        wait = await take_send_slot(
            self._db, contact.clinic_id, channel, datetime.now(UTC), per_minute
        )
        if wait is not None:
            raise ApplicationError(
                "clinic send rate reached", type=RATE_LIMITED, next_retry_delay=wait
            )

    # --- SMS ----------------------------------------------------------------------------------

    @activity.defn(name="send_outreach_sms")
    @classified
    async def send_outreach_sms(self, request: SendInput) -> SendResult:
        contact = request.contact
        key = workflow_key(f"/{request.step}")
        async with self._db.read() as session:
            done = await attempt_by_key(session, key)
        if done is not None:
            skipped = done.status == AttemptStatus.SKIPPED
            return SendResult("skipped" if skipped else "sent", done.reason or "", done.id)
        who = await self._recipient(contact)
        # The rules are checked as the message goes: a STOP may have come in while it waited.
        verdict = await self._judge(contact, who, "sms", key)
        if verdict.action != "send":
            if verdict.action == "skip":
                return SendResult("skipped", verdict.reason)
            return SendResult("defer", verdict.reason, until=verdict.until)
        phone = who.patient.phone
        assert phone is not None
        body = self._render(contact.template, who)
        await self._rate_slot(contact, "sms", who.config.sms_per_minute)
        outbox = await self._messaging.deliver(
            OutgoingMessage(
                clinic_id=contact.clinic_id, channel="sms", recipient=phone, body=body,
                purpose=contact.kind, idempotency_key=key, patient_id=contact.patient_id,
                sender=who.clinic_phone or None,
            )
        )  # fmt: skip
        row = await save_attempt(
            self._db,
            self._attempt(
                contact, "sms", AttemptStatus.SENT, key, outbox_id=outbox.id,
                provider_id=(outbox.provider_message_id or "")[:64] or None,
                phone_index=phone_key(phone),
            ),
        )  # fmt: skip
        await self._set_target(contact.target_id, TargetStatus.CONTACTED, None)
        return SendResult("sent", "", row.id)

    async def _acknowledge(
        self, contact: Contact, who: _Recipient, template: str, key: str
    ) -> None:
        """Answer the reply by SMS, recorded as a "reply" attempt whose reason is what the
        patient asked for ("confirmed" marks the appointment confirmed for later campaigns)."""
        phone = who.patient.phone
        async with self._db.read() as session:
            stopped = not phone or await is_opted_out(session, contact.clinic_id, phone or "")
        reply = replace(contact, kind="reply")
        if stopped:
            await save_attempt(
                self._db, self._attempt(reply, "sms", AttemptStatus.SKIPPED, key, reason=template)
            )
            return
        assert phone is not None
        outbox = await self._messaging.deliver(
            OutgoingMessage(
                clinic_id=contact.clinic_id, channel="sms", recipient=phone,
                body=self._render(BUILTIN[template], who, sms=False),
                purpose=f"{contact.kind}_reply",
                idempotency_key=key, patient_id=contact.patient_id,
                sender=who.clinic_phone or None,
            )
        )  # fmt: skip
        await save_attempt(
            self._db,
            self._attempt(
                reply, "sms", AttemptStatus.SENT, key, reason=template, outbox_id=outbox.id,
                phone_index=phone_key(phone),
            ),
        )  # fmt: skip

    @activity.defn(name="handle_outreach_reply")
    @classified
    async def handle_outreach_reply(self, request: ReplyAction) -> str:
        """C: the appointment is confirmed. R: the reschedule link, or a staff call-back."""
        contact = request.contact
        who = await self._recipient(contact)
        key = workflow_key(f"/{request.step}")
        if request.meaning == "confirm":
            await self._set_target(contact.target_id, TargetStatus.CONFIRMED, "sms_reply")
            await self._acknowledge(contact, who, "confirmed", key)
            return "confirmed"
        await self._set_target(contact.target_id, TargetStatus.REBOOKED, "reschedule_requested")
        if who.config.reschedule_link:
            await self._acknowledge(contact, who, "reschedule_link", key)
            return "link_sent"
        async with self._db.read() as session:
            existing = (
                await session.exec(select(StaffTask.id).where(StaffTask.idempotency_key == key))
            ).first()
        if existing is None:
            async with self._db.write() as session:
                session.add(
                    StaffTask(
                        clinic_id=contact.clinic_id, kind="call_back",
                        title="Patient asked to reschedule by SMS: call them back",
                        detail=f"Patient {contact.patient_id}", idempotency_key=key,
                        appointment_id=contact.appointment_id,
                    )
                )  # fmt: skip
        await self._acknowledge(contact, who, "call_back", f"{key}/ack")
        return "call_back"

    @activity.defn(name="update_outreach_target")
    @classified
    async def update_outreach_target(self, request: TargetUpdate) -> None:
        await self._set_target(request.target_id, TargetStatus(request.status), request.outcome)

    # --- voice --------------------------------------------------------------------------------

    @activity.defn(name="place_outreach_call")
    @classified
    async def place_outreach_call(self, request: CallInput) -> CallPlaced:
        """Dial the patient. The attempt row exists before the call, so its opaque id is what
        the answer URL and the media stream carry (never the number)."""
        contact = request.contact
        key = workflow_key(f"/{request.step}")
        who = await self._recipient(contact)
        phone = who.patient.phone
        async with self._db.read() as session:
            existing = await attempt_by_key(session, key)
            stopped = not phone or await is_opted_out(session, contact.clinic_id, phone)
        if existing is not None and existing.provider_id:
            return CallPlaced("calling", existing.provider_id)
        if stopped or not who.clinic_phone:
            reason = "opted_out" if phone else "no_phone"
            reason = reason if who.clinic_phone else "no_clinic_number"
            await save_attempt(
                self._db, self._attempt(contact, "voice", AttemptStatus.SKIPPED, key, reason=reason)
            )
            return CallPlaced("skipped", reason=reason)
        assert phone is not None
        await self._rate_slot(contact, "voice", who.config.calls_per_minute)
        attempt = existing or await save_attempt(
            self._db,
            self._attempt(
                contact, "voice", AttemptStatus.CALLED, key, phone_index=phone_key(phone)
            ),
        )
        dialer = await self._adapters.dialer(contact.clinic_id)

        def url(path: str) -> str:
            return public_url(self._settings, f"/twilio/outbound/{attempt.id}/{path}")

        placed = await dialer.place(
            OutboundCall(
                clinic_id=contact.clinic_id, to=phone, from_=who.clinic_phone,
                answer_url=url("answer"), status_callback_url=url("status"),
                amd_callback_url=url("amd"),
            )
        )  # fmt: skip
        async with self._db.write() as session:
            row = await session.get(OutreachAttempt, attempt.id)
            assert row is not None
            row.provider_id = placed.call_sid
            row.updated_at = datetime.now(UTC)
            session.add(row)
        await self._set_target(contact.target_id, TargetStatus.CONTACTED, "called")
        return CallPlaced("calling", placed.call_sid, simulated=placed.simulated)

    @activity.defn(name="leave_voicemail")
    @classified
    async def leave_voicemail(self, request: CallInput) -> None:
        """Answering machine: replace the call with a short <Say> and hang up."""
        contact = request.contact
        assert request.call_sid
        who = await self._recipient(contact)
        text = self._render(contact.template, who, sms=False)
        if len(text) > MAX_VOICEMAIL_CHARS:
            raise ApplicationError(
                f"voicemail renders to {len(text)} characters (at most {MAX_VOICEMAIL_CHARS})",
                type=TEMPLATE_ERROR, non_retryable=True,
            )  # fmt: skip
        response = VoiceResponse()
        response.say(text)
        response.hangup()
        dialer = await self._adapters.dialer(contact.clinic_id)
        await dialer.play(request.call_sid, str(response))
        key = workflow_key(f"/{request.step}")
        async with self._db.write() as session:
            if (
                await session.exec(
                    select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)
                )
            ).first() is None:
                # The outbox keeps every message we send, whatever the channel.
                session.add(
                    OutboxMessage(
                        clinic_id=contact.clinic_id, patient_id=contact.patient_id,
                        channel="voice", purpose=contact.kind,
                        recipient=who.patient.phone or "", body=text, idempotency_key=key,
                        status=OutboxStatus.SENT, provider_message_id=request.call_sid,
                        sent_at=datetime.now(UTC),
                    )
                )  # fmt: skip
            await self._call_status(session, request.call_sid, AttemptStatus.VOICEMAIL)

    @activity.defn(name="finish_outreach_call")
    @classified
    async def finish_outreach_call(self, request: CallInput) -> str:
        """The call is over: what it achieved, from the call record the voice loop wrote."""
        assert request.call_sid
        async with self._db.write() as session:
            call = (
                await session.exec(select(Call).where(Call.call_sid == request.call_sid))
            ).first()
            outcome = str(call.outcome) if call is not None else "no_answer"
            status = AttemptStatus.ANSWERED if call is not None else AttemptStatus.FAILED
            await self._call_status(session, request.call_sid, status, reason=outcome)
        return outcome

    @staticmethod
    async def _call_status(
        session: AsyncSession, call_sid: str, status: AttemptStatus, reason: str | None = None
    ) -> None:
        row = (
            await session.exec(
                select(OutreachAttempt).where(OutreachAttempt.provider_id == call_sid)
            )
        ).first()
        if row is not None and row.status != AttemptStatus.VOICEMAIL:
            row.status, row.reason, row.updated_at = status, reason, datetime.now(UTC)
            session.add(row)
