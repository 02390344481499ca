"""A FHIR server that declares the IHE scheduling operations (Appointment/$find, $book) in its
CapabilityStatement: the adapter books through them, and stays idempotent and conflict-aware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from core.db import Database
from core.settings import Settings
from integrations.ehr.fhir import FhirEhr
from integrations.ehr.fhir.config import BOOKING_KEY_SYSTEM
from integrations.errors import SlotConflict
from integrations.registry import AdapterContext
from tests.conftest import unavailable
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import DAY, FhirCalendar


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[FhirServer]:
    problem = node_ready()
    if problem:
        unavailable(problem)
    with running("--operations") as server:
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
    adapter = FhirEhr({"base_url": server.base_url}, context)
    yield adapter
    await adapter.aclose()


async def test_capability_statement_is_read(ehr: FhirEhr) -> None:
    capabilities = await ehr.client.capabilities()
    assert capabilities.supports("Appointment/$find")
    assert capabilities.supports("Appointment/$book")
    assert not capabilities.supports("Slot/$book")


async def test_books_with_find_then_book(ehr: FhirEhr, server: FhirServer) -> None:
    calendar = FhirCalendar(server)
    slot = calendar.slot(DAY)
    calendar.slot(DAY + timedelta(hours=1))
    booking = calendar.booking(DAY)
    stored = await ehr.book(booking)
    assert (stored.status, stored.starts_at, stored.ends_at) == (
        "booked",
        booking.starts_at,
        booking.ends_at,
    )
    appointment = server.read(f"Appointment/{stored.external_id}")
    assert appointment["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    assert server.read(f"Slot/{slot['id']}")["status"] == "busy"
    # $book is not idempotent; our booking key makes the retry find the first appointment.
    assert await ehr.book(booking) == stored
    key = f"{BOOKING_KEY_SYSTEM}|{booking.booking_key}"
    assert len(server.search("Appointment", identifier=key)) == 1


async def test_time_gone_from_find_is_a_conflict(ehr: FhirEhr, server: FhirServer) -> None:
    calendar = FhirCalendar(server)
    calendar.slot(DAY)
    calendar.book_elsewhere(DAY)
    with pytest.raises(SlotConflict):
        await ehr.book(calendar.booking(DAY))
    assert len(server.search("Appointment")) == 1  # only the front desk's


async def test_reschedule_books_then_cancels_the_original(ehr: FhirEhr, server: FhirServer) -> None:
    calendar = FhirCalendar(server)
    old_slot = calendar.slot(DAY)
    calendar.slot(DAY + timedelta(days=1))
    original = await ehr.book(calendar.booking(DAY))
    moved = await ehr.reschedule(original.external_id, calendar.booking(DAY + timedelta(days=1)))
    assert moved.starts_at == DAY + timedelta(days=1)
    assert (await ehr.read(original.external_id)).status == "cancelled"
    assert server.read(f"Slot/{old_slot['id']}")["status"] == "free"


async def test_operations_can_be_switched_off(server: FhirServer, context: AdapterContext) -> None:
    """A server whose operations misbehave: the plain transaction path is used instead."""
    adapter = FhirEhr({"base_url": server.base_url, "use_operations": False}, context)
    calendar = FhirCalendar(server)
    slot = calendar.slot(DAY)
    stored = await adapter.book(calendar.booking(DAY))
    await adapter.aclose()
    assert server.read(f"Appointment/{stored.external_id}")["status"] == "booked"
    assert server.read(f"Slot/{slot['id']}")["status"] == "busy"
