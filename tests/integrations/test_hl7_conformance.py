"""``Hl7Ehr`` passes the EHR conformance suite against a real MLLP peer process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Provider
from core.settings import Settings
from integrations.ehr.conformance import (
    AppointmentCounter,
    BookingFactory,
    EhrConformance,
    SlotTaker,
)
from integrations.ehr.hl7.adapter import Hl7Ehr
from integrations.ehr.protocol import EhrAdapter, EhrBooking
from integrations.registry import AdapterContext
from tests.integrations.ehr_support import PendingBookings
from tests.integrations.hl7_support import Hl7Peer, front_desk_books, running_peer


@pytest.fixture
def hl7_peer(tmp_path: Path) -> Iterator[Hl7Peer]:
    with running_peer(tmp_path) as peer:
        yield peer


class TestHl7Conformance(EhrConformance):
    @pytest.fixture
    async def ehr(
        self, db: Database, demo: SeedReport, hl7_peer: Hl7Peer
    ) -> AsyncIterator[EhrAdapter]:
        adapter = Hl7Ehr(hl7_peer.settings(), AdapterContext(db=db, settings=Settings()))
        yield adapter
        await adapter.close()

    @pytest.fixture
    def make_booking(self, db: Database, demo: SeedReport) -> BookingFactory:
        return PendingBookings(db, demo.clinic_id)

    @pytest.fixture
    def take_slot(self, db: Database, hl7_peer: Hl7Peer) -> SlotTaker:
        async def take(booking: EhrBooking) -> None:
            async with db.read() as session:
                provider = await session.get(Provider, booking.provider_id)
            assert provider is not None
            code = await front_desk_books(
                hl7_peer.port, provider.key, booking.starts_at, booking.ends_at
            )
            assert code == "AA"

        return take

    @pytest.fixture
    def count_appointments(self, hl7_peer: Hl7Peer) -> AppointmentCounter:
        async def count(booking: EhrBooking) -> int:
            found = hl7_peer.appointments().get(booking.appointment_id)
            return 1 if found is not None and found["status"] == "booked" else 0

        return count
