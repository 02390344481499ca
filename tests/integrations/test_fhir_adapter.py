"""The FHIR adapter against a real FHIR server (Medplum's router on Node, tests/peers/fhir_server):
patients, booking by transaction, retries, races, cancel, reschedule, errors, and the
EHR conformance suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.slot import Slot

from core.db import Database
from core.settings import Settings
from integrations.ehr.conformance import (
    AppointmentCounter,
    BookingFactory,
    EhrConformance,
    SlotTaker,
)
from integrations.ehr.fhir import FhirEhr
from integrations.ehr.fhir.config import BOOKING_KEY_SYSTEM, PATIENT_ID_SYSTEM
from integrations.ehr.protocol import EhrAdapter, EhrBooking
from integrations.errors import NotFoundError, PermanentError, SlotConflict
from integrations.registry import AdapterContext, AdapterRegistry
from tests.conftest import unavailable
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import DAY, FhirCalendar, caller, iso


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[FhirServer]:
    problem = node_ready()
    if problem:
        unavailable(problem)
    with running() as server:
        yield server


@pytest.fixture
def server(fhir_server: FhirServer) -> FhirServer:
    fhir_server.reset()
    return fhir_server


@pytest.fixture
async def context(sqlite_url: str) -> AsyncIterator[AdapterContext]:
    db = Database(sqlite_url)
    yield AdapterContext(db=db, settings=Settings())
    await db.dispose()


@pytest.fixture
async def ehr(server: FhirServer, context: AdapterContext) -> AsyncIterator[FhirEhr]:
    adapter = AdapterRegistry().create(
        "ehr", {"name": "fhir", "settings": {"base_url": server.base_url}}, context
    )
    assert isinstance(adapter, FhirEhr)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def calendar(server: FhirServer) -> FhirCalendar:
    return FhirCalendar(server)


def ours(server: FhirServer, booking: EhrBooking) -> list[dict[str, Any]]:
    return server.search("Appointment", identifier=f"{BOOKING_KEY_SYSTEM}|{booking.booking_key}")


# ---- patients ---------------------------------------------------------------------------


async def test_existing_patient_is_matched_by_name_and_birth_date(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    chart = server.create(
        {
            "resourceType": "Patient",
            "name": [{"family": "RIVERA", "given": ["ana", "Maria"]}],
            "birthDate": "1990-04-12",
        }
    )
    server.create({"resourceType": "Patient", "name": [{"family": "Rivera", "given": ["Ana"]}],
                   "birthDate": "1991-04-12"})  # fmt: skip
    calendar.slot(DAY)
    stored = await ehr.book(calendar.booking(DAY))
    appointment = server.read(f"Appointment/{stored.external_id}")
    actors = [p["actor"]["reference"] for p in appointment["participant"]]
    assert f"Patient/{chart['id']}" in actors
    assert len(server.search("Patient")) == 2  # nobody registered twice


async def test_new_patient_is_registered_once(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    person = caller(first="Noor", last="Haddad", dob="1984-11-02")
    calendar.slot(DAY)
    calendar.slot(DAY + timedelta(hours=1))
    await ehr.book(calendar.booking(DAY, patient=person))
    await ehr.book(calendar.booking(DAY + timedelta(hours=1), patient=person))
    charts = server.search("Patient", identifier=f"{PATIENT_ID_SYSTEM}|{person.local_id}")
    assert len(charts) == 1
    assert charts[0]["birthDate"] == "1984-11-02"
    assert charts[0]["name"][0]["family"] == "Haddad"
    assert charts[0]["telecom"][0]["value"] == person.phone


async def test_ambiguous_patient_is_refused_unless_the_phone_tells(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    twin = {"resourceType": "Patient", "name": [{"family": "Lee", "given": ["Sam"]}],
            "birthDate": "2001-01-01"}  # fmt: skip
    server.create({**twin, "telecom": [{"system": "phone", "value": "(555) 010-0001"}]})
    second = server.create({**twin, "telecom": [{"system": "phone", "value": "555-010-0002"}]})
    calendar.slot(DAY)
    unknown_phone = caller(first="Sam", last="Lee", dob="2001-01-01", phone="+15550109999")
    with pytest.raises(PermanentError) as refused:
        await ehr.book(calendar.booking(DAY, patient=unknown_phone))
    assert refused.value.code == "patient_ambiguous"
    assert server.search("Appointment") == []
    known_phone = caller(first="Sam", last="Lee", dob="2001-01-01", phone="+1 555 010 0002")
    stored = await ehr.book(calendar.booking(DAY, patient=known_phone))
    actors = [p["actor"]["reference"] for p in server.read(f"Appointment/{stored.external_id}")
              ["participant"]]  # fmt: skip
    assert f"Patient/{second['id']}" in actors


# ---- booking ------------------------------------------------------------------------------


async def test_booking_takes_the_slots_and_reads_back(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    first = calendar.slot(DAY, minutes=15)
    second = calendar.slot(DAY + timedelta(minutes=15), minutes=15)
    untouched = calendar.slot(DAY + timedelta(minutes=30), minutes=15)
    booking = calendar.booking(DAY, minutes=30)
    stored = await ehr.book(booking)
    assert (stored.status, stored.starts_at, stored.ends_at) == (
        "booked",
        booking.starts_at,
        booking.ends_at,
    )
    appointment = server.read(f"Appointment/{stored.external_id}")
    assert appointment["status"] == "booked"
    assert {"system": BOOKING_KEY_SYSTEM, "value": booking.booking_key} in appointment["identifier"]
    assert sorted(r["reference"] for r in appointment["slot"]) == sorted(
        [f"Slot/{first['id']}", f"Slot/{second['id']}"]
    )
    assert server.read(f"Slot/{first['id']}")["status"] == "busy"
    assert server.read(f"Slot/{second['id']}")["status"] == "busy"
    assert server.read(f"Slot/{untouched['id']}")["status"] == "free"


async def test_retried_booking_creates_one_appointment(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    calendar.slot(DAY)
    booking = calendar.booking(DAY)
    first = await ehr.book(booking)
    again = await ehr.book(booking)
    assert again == first
    assert len(ours(server, booking)) == 1


async def test_time_without_a_published_slot_is_a_conflict(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    calendar.slot(DAY, minutes=15)  # only half of the visit is offered
    with pytest.raises(SlotConflict):
        await ehr.book(calendar.booking(DAY, minutes=30))
    assert server.search("Appointment") == []


async def test_another_client_booking_first_wins_and_nothing_is_half_done(
    server: FhirServer, context: AdapterContext, calendar: FhirCalendar
) -> None:
    """Five clients book the same slot at once: one appointment, four slot conflicts (the
    losers fail on the Slot's If-Match or find it busy), and no orphan appointment."""
    slot = calendar.slot(DAY)
    clients = [FhirEhr({"base_url": server.base_url}, context) for _ in range(5)]
    bookings = [calendar.booking(DAY) for _ in clients]
    results = await asyncio.gather(
        *(c.book(b) for c, b in zip(clients, bookings, strict=True)), return_exceptions=True
    )
    for c in clients:
        await c.aclose()
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, SlotConflict) for r in lost), lost
    assert len(server.search("Appointment")) == 1
    assert server.read(f"Slot/{slot['id']}")["status"] == "busy"


async def test_a_slot_changed_after_it_was_read_fails_the_transaction_whole(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    """The optimistic lock itself: a transaction carrying a Slot version that is no longer
    current is refused with 412 and applies nothing, including its Appointment."""
    slot = calendar.slot(DAY)
    stale = f'W/"{slot["meta"]["versionId"]}"'
    server.update({**slot, "comment": "edited at the front desk"})
    appointment = {
        "resourceType": "Appointment", "status": "booked", "start": iso(DAY),
        "end": iso(DAY + timedelta(minutes=30)),
        "participant": [{"actor": {"reference": f"Practitioner/{calendar.practitioner_id}"},
                         "status": "accepted"}],
    }  # fmt: skip
    with pytest.raises(SlotConflict):
        await ehr.client.transaction(
            [
                {"resource": appointment, "request": {"method": "POST", "url": "Appointment"}},
                {
                    "resource": {**slot, "status": "busy"},
                    "request": {"method": "PUT", "url": f"Slot/{slot['id']}", "ifMatch": stale},
                },
            ]
        )
    assert server.search("Appointment") == []
    assert server.read(f"Slot/{slot['id']}")["status"] == "free"


async def test_search_follows_next_pages_and_pull_sees_every_appointment(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    for i in range(25):
        calendar.slot(DAY + timedelta(minutes=30 * i))
    pages = await ehr.client.search(Slot, [("_count", "10")])
    assert len({p.resource.id for p in pages}) == 25
    for i in range(3):
        calendar.book_elsewhere(DAY + timedelta(minutes=30 * i))
    pulled = await ehr.pull_schedule(
        [calendar.practitioner_id], DAY - timedelta(hours=1), DAY + timedelta(days=1)
    )
    assert sorted(p.starts_at for p in pulled) == [
        DAY + timedelta(minutes=30 * i) for i in range(3)
    ]
    assert {p.provider_ref for p in pulled} == {calendar.practitioner_id}


# ---- cancel, reschedule, no-show --------------------------------------------------------


async def test_cancel_frees_the_slot_with_a_reason(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    slot = calendar.slot(DAY)
    stored = await ehr.book(calendar.booking(DAY))
    cancelled = await ehr.cancel(stored.external_id, "patient request")
    assert cancelled.status == "cancelled"
    appointment = server.read(f"Appointment/{stored.external_id}")
    assert appointment["cancelationReason"] == {"text": "patient request"}
    assert server.read(f"Slot/{slot['id']}")["status"] == "free"
    assert (await ehr.cancel(stored.external_id, "patient request")).status == "cancelled"


async def test_reschedule_moves_in_one_transaction(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    old_slot = calendar.slot(DAY)
    new_slot = calendar.slot(DAY + timedelta(days=1))
    original = await ehr.book(calendar.booking(DAY))
    move = calendar.booking(DAY + timedelta(days=1))
    moved = await ehr.reschedule(original.external_id, move)
    assert (moved.status, moved.starts_at) == ("booked", move.starts_at)
    old = server.read(f"Appointment/{original.external_id}")
    assert old["status"] == "cancelled"
    assert server.read(f"Slot/{old_slot['id']}")["status"] == "free"
    assert server.read(f"Slot/{new_slot['id']}")["status"] == "busy"
    # Same patient chart as the original appointment.
    patients = {
        p["actor"]["reference"]
        for a in (old, server.read(f"Appointment/{moved.external_id}"))
        for p in a["participant"]
        if p["actor"]["reference"].startswith("Patient/")
    }
    assert len(patients) == 1
    assert (await ehr.reschedule(original.external_id, move)) == moved


async def test_reschedule_to_a_taken_time_keeps_the_original(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    calendar.slot(DAY)
    calendar.slot(DAY + timedelta(days=1))
    original = await ehr.book(calendar.booking(DAY))
    calendar.book_elsewhere(DAY + timedelta(days=1))
    with pytest.raises(SlotConflict):
        await ehr.reschedule(original.external_id, calendar.booking(DAY + timedelta(days=1)))
    assert (await ehr.read(original.external_id)).status == "booked"


async def test_no_show_is_read_as_such(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    calendar.slot(DAY)
    stored = await ehr.book(calendar.booking(DAY))
    appointment = server.read(f"Appointment/{stored.external_id}")
    server.update({**appointment, "status": "noshow"})
    assert (await ehr.read(stored.external_id)).status == "noshow"


# ---- errors -------------------------------------------------------------------------------


async def test_operation_outcome_errors_are_classified(
    ehr: FhirEhr, server: FhirServer, calendar: FhirCalendar
) -> None:
    with pytest.raises(NotFoundError):
        await ehr.read("no-such-appointment")
    # The server refuses an invalid resource with a 400 OperationOutcome (invariant app-3).
    with pytest.raises(PermanentError) as invalid:
        await ehr.client.request(
            "POST",
            "Appointment",
            body={"resourceType": "Appointment", "status": "booked",
                  "participant": [{"status": "accepted"}]},
        )  # fmt: skip
    assert not isinstance(invalid.value, SlotConflict)
    assert invalid.value.code.startswith("fhir_")
    assert "HTTP 400" in str(invalid.value)


async def test_provider_without_an_ehr_id_is_a_clear_error(
    ehr: FhirEhr, calendar: FhirCalendar
) -> None:
    booking = calendar.booking(DAY)
    unmapped = EhrBooking(**{**booking.__dict__, "provider_external_id": None})
    with pytest.raises(PermanentError) as refused:
        await ehr.book(unmapped)
    assert refused.value.code == "fhir_provider_unmapped"


async def test_bad_settings_are_refused_by_name(context: AdapterContext) -> None:
    with pytest.raises(PermanentError) as refused:
        FhirEhr({"base_url": "ftp://nope", "auth": {"type": "smart"}}, context)
    assert "base_url" in str(refused.value)
    assert "auth.smart.client_id" in str(refused.value)


# ---- the conformance suite ---------------------------------------------------------------


class TestFhirConformance(EhrConformance):
    @pytest.fixture
    async def ehr(self, server: FhirServer, context: AdapterContext) -> AsyncIterator[EhrAdapter]:
        adapter = FhirEhr({"base_url": server.base_url}, context)
        yield adapter
        await adapter.aclose()

    @pytest.fixture
    def make_booking(self, calendar: FhirCalendar) -> BookingFactory:
        async def make(*, slot: int = 0, key: str | None = None) -> EhrBooking:
            start = DAY + timedelta(hours=slot)
            if not calendar.server.search(
                "Slot", schedule=f"Schedule/{calendar.schedule_id}", start=iso(start)
            ):
                calendar.slot(start)
            return calendar.booking(start, key=key)

        return make

    @pytest.fixture
    def take_slot(self, calendar: FhirCalendar) -> SlotTaker:
        async def take(booking: EhrBooking) -> None:
            calendar.book_elsewhere(booking.starts_at)

        return take

    @pytest.fixture
    def count_appointments(self, server: FhirServer) -> AppointmentCounter:
        async def count(booking: EhrBooking) -> int:
            return sum(a["status"] != "cancelled" for a in ours(server, booking))

        return count
