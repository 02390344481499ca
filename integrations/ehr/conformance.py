"""The EHR adapter conformance suite: what every ``EhrAdapter`` must do, as pytest tests.

Subclass ``EhrConformance`` in a test module (a name starting with ``Test``) and provide four
fixtures; the inherited tests then run against your adapter and its real backing system::

    class TestAcmeConformance(EhrConformance):
        @pytest.fixture
        async def ehr(self, acme_server) -> EhrAdapter: ...
        @pytest.fixture
        def make_booking(self, ...) -> BookingFactory: ...
        @pytest.fixture
        def take_slot(self, acme_server) -> SlotTaker: ...
        @pytest.fixture
        def count_appointments(self, acme_server) -> AppointmentCounter: ...

- ``make_booking(slot=n, key=...)`` returns an ``EhrBooking`` for the n-th distinct free time
  (0, 1, 2 never overlap) with booking key ``key`` (a fresh one when omitted), after preparing
  whatever the backing system needs first (the local adapter needs its pending appointment).
- ``take_slot(booking)`` books ``booking``'s time for someone else directly in the backing
  system, behind the adapter's back (the front desk, another integration).
- ``count_appointments(booking)`` counts the live appointments the backing system holds for
  ``booking``'s key.

The suite covers booking (with read-back), idempotent retries of every write, a conflict on a
time taken meanwhile (``SlotConflict``, nothing created), cancellation (twice) and rescheduling
(including into a time taken meanwhile).
``docs/integrations.md`` explains how to run it against a new adapter.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from integrations.ehr.protocol import EhrAdapter, EhrAppointment, EhrBooking
from integrations.errors import NotFoundError, SlotConflict


class BookingFactory(Protocol):
    async def __call__(self, *, slot: int = 0, key: str | None = None) -> EhrBooking: ...


class SlotTaker(Protocol):
    async def __call__(self, booking: EhrBooking) -> None: ...


class AppointmentCounter(Protocol):
    async def __call__(self, booking: EhrBooking) -> int: ...


def assert_matches(stored: EhrAppointment, booking: EhrBooking, status: str = "booked") -> None:
    assert stored.external_id, "the adapter returned no external id"
    assert stored.status == status
    assert stored.starts_at == booking.starts_at
    assert stored.ends_at == booking.ends_at


class EhrConformance:
    """The inherited tests; the four fixtures below must be overridden by the subclass."""

    @pytest.fixture
    async def ehr(self) -> EhrAdapter:
        raise NotImplementedError("override the `ehr` fixture with the adapter under test")

    @pytest.fixture
    def make_booking(self) -> BookingFactory:
        raise NotImplementedError("override `make_booking`")

    @pytest.fixture
    def take_slot(self) -> SlotTaker:
        raise NotImplementedError("override `take_slot`")

    @pytest.fixture
    def count_appointments(self) -> AppointmentCounter:
        raise NotImplementedError("override `count_appointments`")

    async def test_book_then_read_back(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        count_appointments: AppointmentCounter,
    ) -> None:
        booking = await make_booking()
        stored = await ehr.book(booking)
        assert_matches(stored, booking)
        assert_matches(await ehr.read(stored.external_id), booking)
        assert await count_appointments(booking) == 1

    async def test_retried_booking_creates_one_appointment(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        count_appointments: AppointmentCounter,
    ) -> None:
        booking = await make_booking()
        first = await ehr.book(booking)
        again = await ehr.book(booking)  # an activity retried after a lost answer
        assert again.external_id == first.external_id
        assert_matches(again, booking)
        assert await count_appointments(booking) == 1

    async def test_distinct_bookings_are_distinct_appointments(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        count_appointments: AppointmentCounter,
    ) -> None:
        one, two = await make_booking(slot=0), await make_booking(slot=1)
        first, second = await ehr.book(one), await ehr.book(two)
        assert first.external_id != second.external_id
        assert await count_appointments(one) == 1
        assert await count_appointments(two) == 1

    async def test_time_taken_meanwhile_is_a_slot_conflict(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        take_slot: SlotTaker,
        count_appointments: AppointmentCounter,
    ) -> None:
        booking = await make_booking()
        await take_slot(booking)
        with pytest.raises(SlotConflict):
            await ehr.book(booking)
        assert await count_appointments(booking) == 0
        # Non-retryable: trying again gives the same answer and still creates nothing.
        with pytest.raises(SlotConflict):
            await ehr.book(booking)
        assert await count_appointments(booking) == 0

    async def test_cancel_and_cancel_again(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        count_appointments: AppointmentCounter,
    ) -> None:
        booking = await make_booking()
        stored = await ehr.book(booking)
        cancelled = await ehr.cancel(stored.external_id, "patient request")
        assert cancelled.external_id == stored.external_id
        assert_matches(cancelled, booking, status="cancelled")
        assert (await ehr.read(stored.external_id)).status == "cancelled"
        again = await ehr.cancel(stored.external_id, "patient request")
        assert again.status == "cancelled"
        assert await count_appointments(booking) == 0

    async def test_reschedule_moves_the_appointment(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        count_appointments: AppointmentCounter,
    ) -> None:
        first = await make_booking(slot=0)
        stored = await ehr.book(first)
        moved = await make_booking(slot=1)
        result = await ehr.reschedule(stored.external_id, moved)
        assert_matches(result, moved)
        assert_matches(await ehr.read(result.external_id), moved)
        again = await ehr.reschedule(stored.external_id, moved)  # retried activity
        assert again.external_id == result.external_id
        assert_matches(again, moved)
        # Moved, never copied: the original booking still stands for one appointment at most.
        assert await count_appointments(first) <= 1

    async def test_reschedule_into_a_taken_time_is_a_slot_conflict(
        self,
        ehr: EhrAdapter,
        make_booking: BookingFactory,
        take_slot: SlotTaker,
    ) -> None:
        first = await make_booking(slot=0)
        stored = await ehr.book(first)
        moved = await make_booking(slot=1)
        await take_slot(moved)
        with pytest.raises(SlotConflict):
            await ehr.reschedule(stored.external_id, moved)
        # The appointment keeps its time.
        assert_matches(await ehr.read(stored.external_id), first)

    async def test_unknown_appointment_is_not_found(self, ehr: EhrAdapter) -> None:
        with pytest.raises(NotFoundError):
            await ehr.read("no-such-appointment-0000")
