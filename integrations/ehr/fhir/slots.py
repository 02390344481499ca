"""A practitioner's Schedules and Slots: finding the Slots a booking needs, and free time.

R4 has no Slot search by practitioner: the practitioner's Schedules come first
(``Schedule?actor=Practitioner/<id>``), then ``Slot?schedule=<ids>&start=ge..&start=lt..``.
The ``start`` window reaches back ``max_slot_hours`` so a Slot that begins before a booking
and covers it is found too. Where the CapabilityStatement declares ``Appointment/$find``
(IHE ITI-115 / Argonaut), the booking takes the proposed Appointment it returns instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from integrations.ehr.fhir.client import FhirClient, Versioned
from integrations.ehr.fhir.config import Coding
from integrations.ehr.fhir.resources import parse, reference_id
from integrations.errors import PermanentError, SlotConflict

FIND = "Appointment/$find"


def instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise PermanentError("FHIR instants need a UTC offset", code="naive_datetime")
    return moment.isoformat()


@dataclass(frozen=True)
class FreeTime:
    """A bookable interval offered by the EHR, with the Slots that make it up."""

    practitioner_id: str
    starts_at: datetime
    ends_at: datetime
    slot_ids: tuple[str, ...]


@dataclass(frozen=True)
class TimedSlot:
    """A Slot with the elements R4 requires (id, status, start, end) checked present."""

    id: str
    status: str
    start: datetime
    end: datetime
    etag: str  # for If-Match
    resource: Slot

    @classmethod
    def of(cls, found: Versioned[Slot]) -> TimedSlot:
        slot = found.resource
        if not (slot.id and slot.status and slot.start and slot.end):
            raise PermanentError("a FHIR Slot lacks id, status, start or end", code="fhir_invalid")
        return cls(slot.id, slot.status, slot.start, slot.end, found.etag, slot)


async def schedule_ids(client: FhirClient, practitioner_id: str) -> list[str]:
    schedules = await client.search(Schedule, [("actor", f"Practitioner/{practitioner_id}")])
    return [s.resource.id for s in schedules if s.resource.id and s.resource.active is not False]


async def slots_between(
    client: FhirClient,
    schedules: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    lookback: timedelta = timedelta(0),
) -> list[TimedSlot]:
    """Slots of ``schedules`` overlapping [start, end), oldest first."""
    if not schedules:
        return []
    params = [
        ("schedule", ",".join(f"Schedule/{s}" for s in schedules)),
        ("start", f"ge{instant(start - lookback)}"),
        ("start", f"lt{instant(end)}"),
        ("_count", "200"),
    ]
    found = [TimedSlot.of(s) for s in await client.search(Slot, params)]
    return sorted((s for s in found if s.start < end and s.end > start), key=lambda s: s.start)


def covering(
    slots: Sequence[TimedSlot],
    start: datetime,
    end: datetime,
    *,
    own: frozenset[str] = frozenset(),
) -> list[TimedSlot]:
    """The Slots that make [start, end) bookable; ``SlotConflict`` when any of the time is
    busy (except in ``own`` Slots, held by the appointment being moved) or not offered."""
    for slot in slots:
        if slot.status != "free" and slot.id not in own:
            raise SlotConflict("the EHR has already given this time away", code="slot_taken")
    cursor = start
    for slot in slots:
        if slot.start > cursor:
            break
        cursor = max(cursor, slot.end)
    if cursor < end:
        raise SlotConflict("the EHR offers no slot for this time", code="slot_taken")
    return list(slots)


async def find_operation(
    client: FhirClient,
    practitioner_id: str,
    start: datetime,
    end: datetime,
    service_type: Coding | None = None,
) -> list[FreeTime]:
    """Free time from ``Appointment/$find``: proposed Appointments with their Slots."""
    practitioner = {"reference": f"Practitioner/{practitioner_id}"}
    parameter: list[dict[str, Any]] = [
        {"name": "start", "valueDateTime": instant(start)},
        {"name": "end", "valueDateTime": instant(end)},
        {"name": "practitioner", "valueReference": practitioner},
    ]
    if service_type:
        parameter.append(
            {"name": "service-type", "valueCoding": service_type.model_dump(exclude_none=True)}
        )
    bundle = await client.operation(FIND, {"resourceType": "Parameters", "parameter": parameter})
    free: list[FreeTime] = []
    for entry in bundle.get("entry") or []:
        data = entry.get("resource") or {}
        if data.get("resourceType") != "Appointment":
            continue  # an OperationOutcome with warnings
        proposed = parse(Appointment, data)
        if proposed.start is None or proposed.end is None:
            continue
        slot_ids = tuple(
            sid for ref in proposed.slot or [] if (sid := reference_id(ref.reference, "Slot"))
        )
        free.append(FreeTime(practitioner_id, proposed.start, proposed.end, slot_ids))
    return free
