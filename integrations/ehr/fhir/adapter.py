"""``FhirEhr``: the EHR adapter (and schedule source) for FHIR R4 servers.

Settings: ``integrations/ehr/fhir/config.py``. Booking paths: ``booking.py``. Patients:
``patients.py``. Every answer is read back from the server before it is returned, so the saga
confirms what the EHR stored, never what we asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from fhir.resources.R4B.appointment import Appointment

from core.scheduling.external import ExternalAppointment, ExternalPatient, ExternalStatus
from integrations.ehr.fhir import booking as writes
from integrations.ehr.fhir.auth import credentials_for
from integrations.ehr.fhir.client import FhirClient, Versioned
from integrations.ehr.fhir.config import LOCAL_APPOINTMENT_SYSTEM, Coding, parse_settings
from integrations.ehr.fhir.patients import resolve_patient
from integrations.ehr.fhir.resources import reference_id
from integrations.ehr.fhir.slots import FIND, schedule_ids, slots_between
from integrations.ehr.protocol import EhrAppointment, EhrBooking
from integrations.errors import PermanentError
from integrations.registry import AdapterContext

log = logging.getLogger("integrations.ehr.fhir")

SOURCE = "fhir"
# R4 Appointment.status -> the protocol's statuses. Arrived / checked-in still hold the time.
_STATUS = {
    "proposed": "pending",
    "pending": "pending",
    "waitlist": "pending",
    "booked": "booked",
    "arrived": "booked",
    "checked-in": "booked",
    "fulfilled": "fulfilled",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
    "noshow": "noshow",
}
_EXTERNAL = {
    "pending": ExternalStatus.BOOKED,
    "booked": ExternalStatus.BOOKED,
    "arrived": ExternalStatus.BOOKED,
    "checked-in": ExternalStatus.BOOKED,
    "fulfilled": ExternalStatus.BOOKED,
    "cancelled": ExternalStatus.CANCELLED,
    "entered-in-error": ExternalStatus.CANCELLED,
    "noshow": ExternalStatus.NOSHOW,
}  # proposed and waitlist hold no time
_BUSY_SLOTS = {"busy", "busy-unavailable", "busy-tentative"}


def view(appointment: Appointment) -> EhrAppointment:
    if not appointment.id or appointment.start is None or appointment.end is None:
        raise PermanentError("the EHR appointment has no id, start or end", code="fhir_invalid")
    return EhrAppointment(
        external_id=appointment.id,
        status=_STATUS[str(appointment.status)],
        starts_at=appointment.start,
        ends_at=appointment.end,
    )


def _actor(appointment: Appointment, resource_type: str) -> str | None:
    for participant in appointment.participant or []:
        actor = participant.actor
        found = reference_id(actor.reference if actor else None, resource_type)
        if found:
            return found
    return None


class FhirEhr:
    """Books, moves and cancels appointments on a FHIR R4 server; see the package modules."""

    source = SOURCE

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self._config = parse_settings(settings, context.settings)
        self._http = httpx.AsyncClient(timeout=self._config.timeout_seconds)
        credentials = credentials_for(self._config, context.settings, self._http)
        self.client = FhirClient(self._config.base_url, credentials, self._http)
        self.sync_interval = timedelta(minutes=self._config.sync_every_minutes)
        self.sync_horizon = timedelta(days=self._config.sync_days)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _practitioner(self, booking: EhrBooking) -> str:
        if not booking.provider_external_id:
            raise PermanentError(
                "the provider has no EHR id (set external_ehr_id in the clinic configuration)",
                code="fhir_provider_unmapped",
            )
        return booking.provider_external_id

    def _service_type(self, code: str) -> Coding | None:
        return self._config.service_types.get(code)

    async def _uses_operations(self) -> bool:
        if not self._config.use_operations:
            return False
        capabilities = await self.client.capabilities()
        return capabilities.supports(FIND) and capabilities.supports(writes.BOOK)

    async def _book(
        self,
        booking: EhrBooking,
        patient_id: str,
        practitioner_id: str,
        moving: Versioned[Appointment] | None = None,
    ) -> str:
        """Book ``booking``; when ``moving``, the old appointment is cancelled too (in the
        same transaction on plain servers, right after ``$book`` otherwise)."""
        service_type = self._service_type(booking.appointment_type_code)
        if await self._uses_operations():
            new_id = await writes.book_by_operation(
                self.client, booking, patient_id, practitioner_id, service_type=service_type
            )
            if moving is not None and moving.resource.id:
                await writes.cancel(self.client, moving.resource.id, "rescheduled")
            return new_id
        return await writes.book_by_transaction(
            self.client,
            booking,
            patient_id,
            practitioner_id,
            service_type=service_type,
            lookback=timedelta(hours=self._config.max_slot_hours),
            moving=moving,
        )

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        practitioner_id = self._practitioner(booking)
        ours = await writes.find_ours(self.client, booking.booking_key)
        if ours is not None:
            return view(ours.resource)
        patient_id = await resolve_patient(self.client, booking.patient)
        appointment_id = await self._book(booking, patient_id, practitioner_id)
        ids = {"clinic_id": booking.clinic_id, "appointment_id": booking.appointment_id}
        log.info("fhir appointment booked", extra={**ids, "fhir_id": appointment_id})
        return await self.read(appointment_id)

    async def read(self, external_id: str) -> EhrAppointment:
        return view((await self.client.read(Appointment, external_id)).resource)

    async def reschedule(self, external_id: str, booking: EhrBooking) -> EhrAppointment:
        practitioner_id = self._practitioner(booking)
        ours = await writes.find_ours(self.client, booking.booking_key)
        if ours is not None and ours.resource.id:
            # A retry after the move went through; make sure the old time is released.
            if ours.resource.id != external_id:
                await writes.cancel(self.client, external_id, "rescheduled")
            return view(ours.resource)
        old = await self.client.read(Appointment, external_id)
        if old.resource.status in ("cancelled", "entered-in-error", "noshow", "fulfilled"):
            raise PermanentError(
                f"the appointment to move is {old.resource.status} in the EHR",
                code="appointment_not_movable",
            )
        patient_id = _actor(old.resource, "Patient") or await resolve_patient(
            self.client, booking.patient
        )
        new_id = await self._book(booking, patient_id, practitioner_id, moving=old)
        return await self.read(new_id)

    async def cancel(self, external_id: str, reason: str) -> EhrAppointment:
        return view(await writes.cancel(self.client, external_id, reason))

    # ---- ScheduleSource ----------------------------------------------------------------

    def _our_code(self, appointment: Appointment) -> str | None:
        codings = {
            (c.system, c.code)
            for concept in appointment.serviceType or []
            for c in concept.coding or []
        }
        for code, coding in self._config.service_types.items():
            if (coding.system, coding.code) in codings:
                return code
        return None

    def _external(self, appointment: Appointment, practitioner_id: str) -> ExternalAppointment:
        local = next(
            (i.value for i in appointment.identifier or [] if i.system == LOCAL_APPOINTMENT_SYSTEM),
            None,
        )
        patient = _actor(appointment, "Patient")
        assert appointment.id and appointment.start and appointment.end
        return ExternalAppointment(
            external_id=appointment.id,
            source=SOURCE,
            provider_ref=practitioner_id,
            starts_at=appointment.start,
            ends_at=appointment.end,
            status=_EXTERNAL[str(appointment.status)],
            appointment_type=self._our_code(appointment),
            patient=ExternalPatient(external_id=patient) if patient else None,
            local_appointment_id=local,
            reason="cancelled in the EHR" if appointment.status == "cancelled" else None,
        )

    async def pull_schedule(
        self, provider_refs: Sequence[str], start: datetime, end: datetime
    ) -> list[ExternalAppointment]:
        pulled: list[ExternalAppointment] = []
        for practitioner_id in provider_refs:
            appointments = await self.client.search(
                Appointment,
                [
                    ("practitioner", f"Practitioner/{practitioner_id}"),
                    ("date", f"ge{start.isoformat()}"),
                    ("date", f"lt{end.isoformat()}"),
                    ("_count", "200"),
                ],
                limit=5000,
            )
            booked_slots: set[str] = set()
            for found in appointments:
                appointment = found.resource
                if appointment.status not in _EXTERNAL or not appointment.id:
                    continue
                if appointment.start is None or appointment.end is None:
                    continue
                pulled.append(self._external(appointment, practitioner_id))
                booked_slots.update(
                    sid
                    for ref in appointment.slot or []
                    if (sid := reference_id(ref.reference, "Slot"))
                )
            # Time blocked without an appointment we can see (meetings, leave, other systems).
            schedules = await schedule_ids(self.client, practitioner_id)
            for slot in await slots_between(self.client, schedules, start, end):
                if slot.status in _BUSY_SLOTS and slot.id not in booked_slots:
                    pulled.append(
                        ExternalAppointment(
                            external_id=f"Slot/{slot.id}",
                            source=SOURCE,
                            provider_ref=practitioner_id,
                            starts_at=slot.start,
                            ends_at=slot.end,
                        )
                    )
        return pulled
