"""Messages to patients: render, record in the outbox under an idempotency key, deliver once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from activities.adapters import ClinicAdapters
from activities.errors import classified
from activities.keys import workflow_key
from core.campaigns.store import is_opted_out
from core.messages import MessageContext, render
from core.models import (
    Appointment,
    Clinic,
    ClinicPhoneNumber,
    OutboxMessage,
    OutboxStatus,
    Patient,
    Provider,
)
from core.scheduling import NotFound
from core.security import audit
from integrations.messaging.protocol import OutgoingMessage


@dataclass(frozen=True)
class NotifyInput:
    appointment_id: str
    purpose: str  # one of core.messages.PURPOSES
    previous_appointment_id: str | None = None
    alternatives: tuple[str, ...] = ()  # open times to offer, spoken-style (core.messages)


@dataclass(frozen=True)
class NotifyResult:
    status: str  # "sent" | "skipped"
    channel: str | None = None
    outbox_id: str | None = None


class MessagingActivities:
    def __init__(self, adapters: ClinicAdapters) -> None:
        self._adapters = adapters
        self._db = adapters.db

    async def deliver(self, message: OutgoingMessage) -> OutboxMessage:
        """Record, then send unless already sent. Safe to call again with the same key."""
        async with self._db.read() as session:
            row = (
                await session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.idempotency_key == message.idempotency_key
                    )
                )
            ).first()
        if row is None:
            row = OutboxMessage(
                clinic_id=message.clinic_id,
                patient_id=message.patient_id,
                channel=message.channel,
                purpose=message.purpose,
                recipient=message.recipient,
                body=message.body,
                idempotency_key=message.idempotency_key,
            )
            try:
                async with self._db.write() as session:
                    session.add(row)
            except IntegrityError:  # a concurrent attempt recorded it; carry on with theirs
                return await self.deliver(message)
        if row.status == OutboxStatus.SENT:
            return row
        sender = await (
            self._adapters.sms(message.clinic_id)
            if message.channel == "sms"
            else self._adapters.email(message.clinic_id)
        )
        result = await sender.send(message)
        async with self._db.write() as session:
            stored = await session.get(OutboxMessage, row.id)
            assert stored is not None
            stored.status = OutboxStatus.SENT
            stored.provider_message_id = result.provider_message_id
            stored.sent_at = datetime.now(UTC)
            session.add(stored)
        return stored

    @activity.defn(name="notify_patient")
    @classified
    async def notify_patient(self, request: NotifyInput) -> NotifyResult:
        async with self._db.read() as session:
            appointment = await session.get(Appointment, request.appointment_id)
            if appointment is None:
                raise NotFound("unknown appointment")
            previous = (
                await session.get(Appointment, request.previous_appointment_id)
                if request.previous_appointment_id
                else None
            )
            patient = await session.get(Patient, appointment.patient_id)
            provider = await session.get(Provider, appointment.provider_id)
            clinic = await session.get(Clinic, appointment.clinic_id)
            clinic_number = (
                await session.exec(
                    select(ClinicPhoneNumber.e164).where(
                        ClinicPhoneNumber.clinic_id == appointment.clinic_id
                    )
                )
            ).first()
            # A STOP is honoured here too, even for a patient record created after it.
            opted_out = (
                patient is not None
                and patient.phone is not None
                and await is_opted_out(session, appointment.clinic_id, patient.phone)
            )
        assert patient and provider and clinic
        await audit.system_access(
            self._db, "messaging", clinic_id=clinic.id, record_type="patient",
            record_id=patient.id, action=audit.Action.DISCLOSE, detail={"to": request.purpose},
        )  # fmt: skip
        if patient.phone and not patient.sms_opt_out and not opted_out:
            channel, recipient = "sms", patient.phone
        elif patient.email:
            channel, recipient = "email", patient.email
        else:
            return NotifyResult(status="skipped")
        subject, body = render(
            request.purpose,
            MessageContext(
                clinic_name=clinic.name,
                clinic_phone=clinic_number or "",
                provider_name=provider.name,
                starts_at=appointment.starts_at,
                time_zone=clinic.time_zone,
                previous_starts_at=previous.starts_at if previous else None,
                alternatives=request.alternatives,
            ),
        )
        row = await self.deliver(
            OutgoingMessage(
                clinic_id=clinic.id,
                channel=channel,
                recipient=recipient,
                body=body,
                purpose=request.purpose,
                idempotency_key=workflow_key(f"/{request.purpose}"),
                patient_id=patient.id,
                subject=subject,
                sender=clinic_number,
            )
        )
        return NotifyResult(status="sent", channel=channel, outbox_id=row.id)
