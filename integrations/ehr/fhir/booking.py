"""Writing appointments: book, move and cancel, each safe to retry and safe under races.

Booking without server operations is one transaction Bundle (hl7.org/fhir/R4/http.html#trules):
``POST Appointment`` with ``ifNoneExist: identifier=<our system>|<booking key>`` and, for every
Slot the time needs, ``PUT Slot`` (status ``busy``) with ``ifMatch`` set to the version read just
before. Someone else booking one of those Slots meanwhile bumps its version, the server answers
412 (or 409) and applies nothing: ``SlotConflict``, which the saga turns into alternatives for
the caller. A rescheduled appointment is cancelled, and its Slots freed, in the same Bundle.

Where the CapabilityStatement declares ``Appointment/$find`` and ``Appointment/$book`` (IHE ITI
Scheduling), the proposed Appointment for the exact time is taken from ``$find`` and booked with
``$book``; the server then checks availability itself.

``$book`` is not idempotent, and a retried activity may follow an attempt whose answer was lost,
so every path first looks for an Appointment carrying our booking key — and looks again after a
conflict, since the "someone else" may have been our own earlier attempt.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.slot import Slot

from integrations.ehr.fhir.client import FhirClient, Versioned
from integrations.ehr.fhir.config import BOOKING_KEY_SYSTEM, LOCAL_APPOINTMENT_SYSTEM, Coding
from integrations.ehr.fhir.resources import parse, reference_id, to_json
from integrations.ehr.fhir.slots import (
    TimedSlot,
    covering,
    find_operation,
    schedule_ids,
    slots_between,
)
from integrations.ehr.protocol import EhrBooking
from integrations.errors import PermanentError, SlotConflict, TransientError

log = logging.getLogger("integrations.ehr.fhir")

BOOK = "Appointment/$book"
CANCEL_ATTEMPTS = 3


async def find_ours(client: FhirClient, booking_key: str) -> Versioned[Appointment] | None:
    """The Appointment an earlier attempt made for ``booking_key``, if any."""
    found = await client.search(
        Appointment, [("identifier", f"{BOOKING_KEY_SYSTEM}|{booking_key}")], limit=2
    )
    if len(found) > 1:
        raise PermanentError("two EHR appointments carry one booking key", code="fhir_duplicate")
    return found[0] if found else None


def new_appointment(
    booking: EhrBooking,
    patient_id: str,
    practitioner_id: str,
    slot_ids: Sequence[str],
    service_type: Coding | None,
    status: str = "booked",
) -> Appointment:
    data: dict[str, Any] = {
        "identifier": [
            {"system": BOOKING_KEY_SYSTEM, "value": booking.booking_key},
            # Our own appointment id: the schedule sync recognises the booking as ours.
            {"system": LOCAL_APPOINTMENT_SYSTEM, "value": booking.appointment_id},
        ],
        "status": status,
        "start": booking.starts_at,
        "end": booking.ends_at,
        "created": datetime.now(UTC).date(),
        "slot": [{"reference": f"Slot/{sid}"} for sid in slot_ids],
        "participant": [
            {"actor": {"reference": ref}, "status": "accepted", "required": "required"}
            for ref in (f"Patient/{patient_id}", f"Practitioner/{practitioner_id}")
        ],
    }
    if service_type:
        data["serviceType"] = [{"coding": [service_type.model_dump(exclude_none=True)]}]
    return Appointment.model_validate(data)


def _update(resource: Slot | Appointment, etag: str) -> dict[str, Any]:
    """A transaction entry replacing ``resource`` only if it is still at version ``etag``."""
    url = f"{resource.get_resource_type()}/{resource.id}"
    request: dict[str, Any] = {"method": "PUT", "url": url}
    if etag:
        request["ifMatch"] = etag
    return {"resource": to_json(resource), "request": request}


def _slot_update(slot: Slot, status: str, etag: str) -> dict[str, Any]:
    return _update(slot.model_copy(update={"status": status, "meta": None}), etag)


def _cancelled(appointment: Appointment, reason: str) -> Appointment:
    return appointment.model_copy(
        update={
            "status": "cancelled",
            "cancelationReason": _reason(reason),
            "meta": None,
        }
    )


def _reason(reason: str) -> CodeableConcept:
    return CodeableConcept.model_validate({"text": reason[:200]})


async def _own_slots(client: FhirClient, appointment: Appointment) -> list[TimedSlot]:
    ids = [sid for ref in appointment.slot or [] if (sid := reference_id(ref.reference, "Slot"))]
    return [TimedSlot.of(await client.read(Slot, sid)) for sid in ids]


def _created_id(result: dict[str, Any]) -> str:
    """The Appointment id from the first response entry (entries answer in request order)."""
    resource = result.get("resource") or {}
    found = resource.get("id") if resource.get("resourceType") == "Appointment" else None
    found = found or reference_id((result.get("response") or {}).get("location"), "Appointment")
    if not found:
        raise PermanentError("the transaction answer names no Appointment", code="fhir_invalid")
    return str(found)


async def book_by_transaction(
    client: FhirClient,
    booking: EhrBooking,
    patient_id: str,
    practitioner_id: str,
    *,
    service_type: Coding | None,
    lookback: timedelta,
    moving: Versioned[Appointment] | None = None,
    reason: str = "rescheduled",
) -> str:
    """Book (and, when ``moving``, cancel the old appointment) in one transaction."""
    schedules = await schedule_ids(client, practitioner_id)
    found = await slots_between(
        client, schedules, booking.starts_at, booking.ends_at, lookback=lookback
    )
    old_slots = await _own_slots(client, moving.resource) if moving else []
    own = frozenset(s.id for s in old_slots)
    needed = covering(found, booking.starts_at, booking.ends_at, own=own)
    needed_ids = [s.id for s in needed]
    appointment = new_appointment(booking, patient_id, practitioner_id, needed_ids, service_type)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": to_json(appointment),
            "request": {
                "method": "POST",
                "url": "Appointment",
                "ifNoneExist": f"identifier={BOOKING_KEY_SYSTEM}|{booking.booking_key}",
            },
        }
    ]
    entries += [_slot_update(s.resource, "busy", s.etag) for s in needed if s.id not in own]
    if moving is not None:
        entries.append(_update(_cancelled(moving.resource, reason), moving.etag))
        entries += [
            _slot_update(s.resource, "free", s.etag) for s in old_slots if s.id not in needed_ids
        ]
    try:
        results = await client.transaction(entries)
    except SlotConflict:
        ours = await find_ours(client, booking.booking_key)
        if ours is not None and ours.resource.id:
            return ours.resource.id  # our own earlier attempt got there first
        raise
    return _created_id(results[0]) if results else _created_id({})


async def book_by_operation(
    client: FhirClient,
    booking: EhrBooking,
    patient_id: str,
    practitioner_id: str,
    *,
    service_type: Coding | None,
) -> str:
    """``$find`` the exact time, then ``$book`` it."""
    proposals = await find_operation(
        client, practitioner_id, booking.starts_at, booking.ends_at, service_type
    )
    match = next(
        (p for p in proposals if (p.starts_at, p.ends_at) == (booking.starts_at, booking.ends_at)),
        None,
    )
    if match is None:
        raise SlotConflict("the EHR does not offer this time any more", code="slot_taken")
    appointment = new_appointment(
        booking, patient_id, practitioner_id, match.slot_ids, service_type, status="proposed"
    )
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "appointment-resource", "resource": to_json(appointment)}],
    }
    try:
        answer = await client.operation(BOOK, parameters)
    except SlotConflict:
        ours = await find_ours(client, booking.booking_key)
        if ours is not None and ours.resource.id:
            return ours.resource.id
        raise
    # IHE: a Bundle with exactly one Appointment; some servers answer the Appointment itself.
    candidates = [answer] + [e.get("resource") or {} for e in answer.get("entry") or []]
    for data in candidates:
        if data.get("resourceType") == "Appointment":
            booked = parse(Appointment, data)
            if booked.id:
                return booked.id
    raise PermanentError("$book answered without an Appointment", code="fhir_invalid")


async def cancel(client: FhirClient, appointment_id: str, reason: str) -> Appointment:
    """Cancel with a reason and free its Slots; already cancelled is success.

    A 412 here means the appointment or a Slot changed between our read and write (staff
    edited it): read again and retry a few times, then leave it to the activity's retries.
    """
    for _ in range(CANCEL_ATTEMPTS):
        current = await client.read(Appointment, appointment_id)
        if current.resource.status == "cancelled":
            return current.resource
        slots = await _own_slots(client, current.resource)
        entries = [_update(_cancelled(current.resource, reason), current.etag)]
        entries += [_slot_update(s.resource, "free", s.etag) for s in slots if s.status != "free"]
        try:
            await client.transaction(entries)
        except SlotConflict:
            log.info("fhir cancel raced an update; retrying", extra={"fhir_id": appointment_id})
            continue
        return (await client.read(Appointment, appointment_id)).resource
    raise TransientError("the appointment kept changing while being cancelled", code="fhir_busy")
