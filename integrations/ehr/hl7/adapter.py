"""``Hl7Ehr``: booking into an EHR / practice-management system over an HL7 v2 SIU interface.

Each write is one SIU message on a persistent MLLP connection:

- book → S12; reschedule → S13 (S14 when only the details change); cancel → S15; no-show → S26.
- SCH-1 (placer id) is our appointment id and stays the appointment's external id for life.
- MSH-10 is derived from the booking key and event, so a retried activity re-sends the *same*
  control id and the EHR can de-duplicate it; a message the EHR already accepted is not re-sent.
- AA → done. AE → ``PermanentError`` (``SlotConflict`` when ERR carries a conflict code); never
  re-sent, the saga compensates and opens a staff task. AR, timeouts and dropped connections →
  up to ``max_attempts`` sends with backoff, then ``TransientError`` (Temporal retries later,
  again with the same control id). ``on_ae`` / ``on_ar`` swap the policy for inverted vendors.
- ``read`` answers from what the EHR last acknowledged, kept locally: SIU has no query.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from core.db import Database
from core.models import AppointmentType, Clinic, Hl7Message, Patient, Provider
from core.security import audit
from integrations.ehr.hl7 import store
from integrations.ehr.hl7.ack import Ack, AckUnreadable, parse_ack
from integrations.ehr.hl7.messages import Header, SiuAppointment, SiuEvent, build_siu
from integrations.ehr.hl7.mllp import ConnectionLost, MllpConnection
from integrations.ehr.hl7.settings import Hl7Settings
from integrations.ehr.protocol import EhrAppointment, EhrBooking, EhrPatient
from integrations.errors import NotFoundError, PermanentError, SlotConflict, TransientError
from integrations.registry import AdapterContext

log = logging.getLogger(__name__)

STATUS = {
    SiuEvent.NEW: "booked",
    SiuEvent.RESCHEDULE: "booked",
    SiuEvent.MODIFY: "booked",
    SiuEvent.CANCEL: "cancelled",
    SiuEvent.NOSHOW: "noshow",
}
# Enhanced-mode commit ACKs, should a peer send them, mean the same as the original codes.
_ORIGINAL = {"CA": "AA", "CE": "AE", "CR": "AR"}


@dataclass(frozen=True)
class _Facts:
    """What an SIU message says, before the clinic's details are looked up."""

    clinic_id: str
    placer_id: str
    starts_at: datetime
    ends_at: datetime
    provider_ref: str
    service_code: str
    patient: EhrPatient | None
    cancel_reason: str | None = None


def _view(row: Hl7Message) -> EhrAppointment:
    assert row.placer_id and row.starts_at and row.ends_at
    return EhrAppointment(row.placer_id, row.status, row.starts_at, row.ends_at)


class Hl7Ehr:
    """An ``EhrAdapter`` for one clinic's HL7 v2 interface (settings: ``Hl7Settings``)."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self.settings = Hl7Settings.load(settings)
        self._db: Database = context.db
        self.connection = MllpConnection(
            self.settings.host,
            self.settings.port,
            connect_timeout=self.settings.connect_timeout_seconds,
            reply_timeout=self.settings.ack_timeout_seconds,
        )
        self._header = Header(
            sending_application=self.settings.application,
            sending_facility=self.settings.facility,
            receiving_application=self.settings.remote_application,
            receiving_facility=self.settings.peer_facility,
            version=self.settings.version,
            processing_id=self.settings.processing_id,
        )

    # -- EhrAdapter -------------------------------------------------------------------------

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        facts = await self._facts_of(booking, booking.appointment_id)
        return await self._send(SiuEvent.NEW, booking.booking_key, facts)

    async def read(self, external_id: str) -> EhrAppointment:
        return _view(await self._current(external_id))

    async def reschedule(self, external_id: str, booking: EhrBooking) -> EhrAppointment:
        current = await self._current(external_id)
        facts = await self._facts_of(booking, external_id)
        same_time = (current.starts_at, current.ends_at) == (facts.starts_at, facts.ends_at)
        event = SiuEvent.MODIFY if same_time else SiuEvent.RESCHEDULE
        return await self._send(event, booking.booking_key, facts)

    async def cancel(self, external_id: str, reason: str) -> EhrAppointment:
        return await self._end(external_id, SiuEvent.CANCEL, reason)

    async def report_no_show(self, external_id: str) -> EhrAppointment:
        """Tell the EHR the patient did not come (S26)."""
        return await self._end(external_id, SiuEvent.NOSHOW, None)

    async def close(self) -> None:
        await self.connection.close()

    # -- internals --------------------------------------------------------------------------

    async def _current(self, external_id: str) -> Hl7Message:
        row = await store.last_accepted(self._db, external_id)
        if row is None:
            raise NotFoundError("the EHR has acknowledged no appointment with that id")
        return row

    async def _facts_of(self, booking: EhrBooking, placer_id: str) -> _Facts:
        provider_ref = booking.provider_external_id
        if not provider_ref:
            async with self._db.read() as session:
                provider = await session.get(Provider, booking.provider_id)
            if provider is None:
                raise NotFoundError("unknown provider")
            provider_ref = provider.key
        return _Facts(
            clinic_id=booking.clinic_id,
            placer_id=placer_id,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            provider_ref=provider_ref,
            service_code=booking.appointment_type_code,
            patient=booking.patient,
        )

    async def _end(self, external_id: str, event: SiuEvent, reason: str | None) -> EhrAppointment:
        current = await self._current(external_id)
        if current.status == STATUS[event]:
            return _view(current)  # already cancelled / reported: nothing to send
        patient = None
        if current.patient_id:
            async with self._db.read() as session:
                record = await session.get(Patient, current.patient_id)
            if record is not None:
                await audit.system_access(
                    self._db,
                    "hl7",
                    clinic_id=record.clinic_id,
                    record_type="patient",
                    record_id=record.id,
                    action=audit.Action.DISCLOSE,
                    detail={"to": "ehr", "event": event.value},
                )
                patient = EhrPatient(
                    local_id=record.id,
                    first_name=record.first_name,
                    last_name=record.last_name,
                    date_of_birth=record.date_of_birth,
                    phone=record.phone,
                    external_id=record.external_ehr_id,
                )
        assert current.starts_at and current.ends_at
        facts = _Facts(
            clinic_id=current.clinic_id,
            placer_id=external_id,
            starts_at=current.starts_at,
            ends_at=current.ends_at,
            provider_ref=current.provider_ref or "",
            service_code=current.service_code or "",
            patient=patient,
            cancel_reason=reason,
        )
        return await self._send(event, external_id, facts)

    async def _message(self, event: SiuEvent, facts: _Facts, control: str) -> str:
        async with self._db.read() as session:
            clinic = await session.get(Clinic, facts.clinic_id)
            kind = (
                await session.exec(
                    select(AppointmentType).where(
                        AppointmentType.clinic_id == facts.clinic_id,
                        AppointmentType.code == facts.service_code,
                    )
                )
            ).first()
        if clinic is None:
            raise NotFoundError("unknown clinic")
        filler = await store.filler_id(self._db, facts.placer_id)
        appointment = SiuAppointment(
            placer_id=facts.placer_id,
            filler_id=filler or facts.placer_id,
            starts_at=facts.starts_at,
            ends_at=facts.ends_at,
            time_zone=clinic.time_zone,
            service_code=facts.service_code,
            service_name=kind.name if kind else facts.service_code,
            provider_ref=facts.provider_ref,
            location=self.settings.location,
            contact=self.settings.contact_id,
            appointment_reason=self.settings.appointment_reasons.get(facts.service_code, "ROUTINE"),
            cancel_reason=facts.cancel_reason,
            patient=facts.patient,
        )
        # hl7apy spends tens of milliseconds building and validating a message: off the event
        # loop, which also serves the in-call activities.
        return await asyncio.to_thread(build_siu, event, appointment, self._header, control)

    def _refusal(self, ack: Ack) -> PermanentError:
        codes = set(ack.error_codes)
        if codes & set(self.settings.conflict_codes):
            return SlotConflict("the EHR already gave that time away")
        code = ack.application_error or ack.hl7_error or ack.code
        return PermanentError(f"the EHR refused the message ({ack.code})", code=f"hl7_{code}")

    def _stored_refusal(self, row: Hl7Message) -> PermanentError:
        if row.error_code == SlotConflict.code:
            return SlotConflict("the EHR already gave that time away")
        return PermanentError(
            f"the EHR refused this message earlier ({row.ack_code})",
            code=row.error_code or "hl7_refused",
        )

    async def _send(self, event: SiuEvent, key: str, facts: _Facts) -> EhrAppointment:
        control = store.control_id(key, event.value)
        prior = await store.sent(self._db, facts.clinic_id, control)
        if prior is not None and prior.ack_code == "AA":
            return _view(prior)
        if prior is not None and prior.ack_code is not None and prior.error_code is not None:
            raise self._stored_refusal(prior)  # refused for good: no blind resend
        text = await self._message(event, facts, control)
        outbound = store.Outbound(
            clinic_id=facts.clinic_id,
            control_id=control,
            event=event.value,
            placer_id=facts.placer_id,
            status=STATUS[event],
            starts_at=facts.starts_at,
            ends_at=facts.ends_at,
            patient_id=facts.patient.local_id if facts.patient else None,
            provider_ref=facts.provider_ref,
            service_code=facts.service_code,
        )
        context = {"clinic_id": facts.clinic_id, "event": event.value, "control_id": control}
        outcome = "no answer"
        for attempt in range(1, self.settings.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.settings.retry_backoff_seconds * 2 ** (attempt - 2))
            await store.record_attempt(self._db, outbound)
            try:
                ack = parse_ack(await self.connection.exchange(text), control)
            except (ConnectionLost, AckUnreadable) as exc:
                outcome = "no answer"
                log.warning(
                    "hl7 send unanswered",
                    extra={**context, "attempt": attempt, "reason": type(exc).__name__},
                )
                continue
            code = _ORIGINAL.get(ack.code, ack.code)
            log.info("hl7 ack", extra={**context, "attempt": attempt, "ack": code})
            if code == "AA":
                await store.record_answer(self._db, facts.clinic_id, control, "AA")
                return EhrAppointment(
                    facts.placer_id, STATUS[event], facts.starts_at, facts.ends_at
                )
            policy = self.settings.on_ae if code == "AE" else self.settings.on_ar
            if policy == "permanent":
                refusal = self._refusal(ack)
                await store.record_answer(self._db, facts.clinic_id, control, code, refusal.code)
                raise refusal
            outcome = code
        raise TransientError(
            f"the EHR did not accept the message after {self.settings.max_attempts} attempts "
            f"({outcome})",
            code="hl7_no_ack" if outcome == "no answer" else f"hl7_{outcome}",
        )
