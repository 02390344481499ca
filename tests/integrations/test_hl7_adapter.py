"""``Hl7Ehr`` against a real MLLP peer process: message contents and ACK handling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from sqlmodel import col, select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Clinic, Hl7Message, Provider
from core.settings import Settings
from integrations.ehr.hl7.adapter import Hl7Ehr
from integrations.ehr.hl7.listener import SiuHandler
from integrations.ehr.hl7.store import control_id
from integrations.errors import PermanentError, SlotConflict, TransientError
from integrations.registry import AdapterContext, AdapterRegistry
from tests.integrations.ehr_support import PendingBookings
from tests.integrations.hl7_support import Hl7Peer, running_peer, siu

CLINIC_TZ = ZoneInfo("America/New_York")
AdapterMaker = Callable[..., Hl7Ehr]


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Hl7Peer]:
    with running_peer(tmp_path) as peer:
        yield peer


@pytest.fixture
def bookings(db: Database, demo: SeedReport) -> PendingBookings:
    return PendingBookings(db, demo.clinic_id)


@pytest.fixture
async def adapters(db: Database, peer: Hl7Peer) -> AsyncIterator[list[Hl7Ehr]]:
    made: list[Hl7Ehr] = []
    yield made
    for adapter in made:
        await adapter.close()


@pytest.fixture
def make_adapter(db: Database, peer: Hl7Peer, adapters: list[Hl7Ehr]) -> AdapterMaker:
    def make(**overrides: Any) -> Hl7Ehr:
        adapter = Hl7Ehr(peer.settings(**overrides), AdapterContext(db=db, settings=Settings()))
        adapters.append(adapter)
        return adapter

    return make


def parsed(entry: dict[str, Any]) -> hl7.Message:
    return hl7.parse(entry["er7"])


def value(message: hl7.Message, segment: str, field: int, component: int = 1, rep: int = 1) -> str:
    return str(message.extract_field(segment, 1, field, rep, component))


def hl7_time(instant: datetime) -> str:
    return instant.astimezone(CLINIC_TZ).strftime("%Y%m%d%H%M%S%z")


async def test_registry_builds_the_hl7_adapter(db: Database, peer: Hl7Peer) -> None:
    context = AdapterContext(db=db, settings=Settings())
    adapter = AdapterRegistry().create("ehr", {"name": "hl7", "settings": peer.settings()}, context)
    assert isinstance(adapter, Hl7Ehr)
    with pytest.raises(PermanentError) as refused:
        AdapterRegistry().create("ehr", {"name": "hl7", "settings": {"host": "x"}}, context)
    assert refused.value.code == "hl7_not_configured"
    assert "port" in str(refused.value) and "facility" in str(refused.value)
    # Sends that could outlast the activity's attempt are refused up front.
    slow = {"name": "hl7", "settings": peer.settings(ack_timeout_seconds=20, max_attempts=3)}
    with pytest.raises(PermanentError, match="keep it under 28 s"):
        AdapterRegistry().create("ehr", slow, context)


async def test_every_siu_event_carries_the_required_segments(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    ehr = make_adapter()
    first = await bookings(slot=0)
    moved = await bookings(slot=1)
    other = await bookings(slot=2)
    stored = await ehr.book(first)
    await ehr.reschedule(stored.external_id, moved)  # new time: S13
    same_time = replace(moved, booking_key=moved.booking_key + "/again")
    await ehr.reschedule(stored.external_id, same_time)  # same time: S14
    await ehr.report_no_show(stored.external_id)  # S26
    second = await ehr.book(other)
    await ehr.cancel(second.external_id, "patient request")  # S15
    received = peer.received()
    assert [e["event"] for e in received] == ["S12", "S13", "S14", "S26", "S12", "S15"]
    assert all(e["answer"] == "AA" for e in received)
    async with db.read() as session:
        provider = await session.get(Provider, first.provider_id)
    assert provider is not None

    expectations = [
        ("S12", first, "Booked", first.booking_key),
        ("S13", moved, "Booked", moved.booking_key),
        ("S14", moved, "Booked", moved.booking_key + "/again"),
        ("S26", moved, "Noshow", first.appointment_id),
        ("S12", other, "Booked", other.booking_key),
        ("S15", other, "Cancelled", other.appointment_id),
    ]
    for entry, (event, booking, status, key) in zip(received, expectations, strict=True):
        message = parsed(entry)
        placer = first.appointment_id if booking is not other else other.appointment_id
        # Valid against the v2.5.1 SIU_S12 structure, as hl7apy reads it back.
        strict = parse_message(
            entry["er7"], find_groups=True, validation_level=VALIDATION_LEVEL.STRICT
        )
        strict.validate()
        assert value(message, "MSH", 9, 1) == "SIU" and value(message, "MSH", 9, 2) == event
        assert value(message, "MSH", 9, 3) == "SIU_S12"
        assert value(message, "MSH", 10) == control_id(key, event)
        assert value(message, "MSH", 12) == "2.5.1"
        assert value(message, "MSH", 4) == "BRIGHTSMILE" and value(message, "MSH", 5) == "PEER_EHR"
        assert value(message, "SCH", 1) == placer and value(message, "SCH", 1, 2) == "RECEPTIONIST"
        assert value(message, "SCH", 2) == placer  # no filler id learned yet: ours
        assert value(message, "SCH", 6)  # event reason, required
        assert value(message, "SCH", 7) == "ROUTINE"
        assert value(message, "SCH", 11, 3) == "60"
        assert value(message, "SCH", 11, 4) == hl7_time(booking.starts_at)
        assert value(message, "SCH", 11, 5) == hl7_time(booking.ends_at)
        assert value(message, "SCH", 16) == "RECEPTIONIST"  # filler contact, required
        assert value(message, "SCH", 20) == "RECEPTIONIST"  # entered by, required
        assert value(message, "SCH", 25) == status
        assert value(message, "TQ1", 7) == hl7_time(booking.starts_at)
        assert value(message, "PID", 3) == booking.patient.local_id
        assert value(message, "PID", 3, 4) == "RECEPTIONIST"
        assert value(message, "PID", 5, 1) == "Rivera" and value(message, "PID", 5, 2) == "Alex"
        assert value(message, "PID", 7) == booking.patient.date_of_birth.replace("-", "")
        assert value(message, "RGS", 1) == "1"
        assert value(message, "AIS", 3) == "cleaning" and value(message, "AIS", 3, 3) == "L"
        assert value(message, "AIS", 4) == hl7_time(booking.starts_at)
        assert value(message, "AIP", 3) == provider.key
        assert value(message, "AIL", 3) == "MAIN" and value(message, "AIL", 3, 4) == "BRIGHTSMILE"
    assert value(parsed(received[5]), "SCH", 6, 2) == "patient request"
    # One connection carried all six messages.
    assert {e["connection"] for e in received} == {1}
    assert ehr.connection.connections_opened == 1
    appointments = peer.appointments()
    assert appointments[first.appointment_id]["status"] == "noshow"
    assert appointments[other.appointment_id]["status"] == "cancelled"


async def test_application_error_is_permanent_and_never_resent(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    peer.script({"answer": "AE", "times": 5, "error": "PATIENT_BLOCKED"})
    ehr = make_adapter()
    booking = await bookings()
    with pytest.raises(PermanentError) as refused:
        await ehr.book(booking)
    assert not isinstance(refused.value, SlotConflict)
    assert refused.value.code == "hl7_PATIENT_BLOCKED"
    with pytest.raises(PermanentError):
        await ehr.book(booking)  # an activity retry: answered from what the EHR said
    assert len(peer.received()) == 1


async def test_taken_time_is_a_slot_conflict(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    ehr = make_adapter()
    booking = await bookings()
    first = await ehr.book(booking)
    rival = replace(booking, booking_key="other/ehr", appointment_id="b2")
    with pytest.raises(SlotConflict):
        await ehr.book(rival)
    assert (await ehr.read(first.external_id)).status == "booked"
    [_, refused] = peer.received()
    assert (refused["answer"], refused["error"]) == ("AE", "SLOT_TAKEN")
    assert "b2" not in peer.appointments()


async def test_reject_and_silence_are_retried_with_the_same_control_id(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    peer.script({"id": "ar", "answer": "AR", "times": 1}, {"id": "quiet", "answer": "silent"})
    ehr = make_adapter(ack_timeout_seconds=1.0, max_attempts=5)
    booking = await bookings()
    stored = await ehr.book(booking)
    assert stored.status == "booked"
    received = peer.received()
    answers = [e["answer"] for e in received]
    # A third answer of "AA (duplicate)" can only follow if a slow machine outwaited the AA.
    assert answers[:3] == ["AR", "silent", "AA"]
    assert all(a.startswith("AA") for a in answers[3:])
    assert {e["control_id"] for e in received} == {control_id(booking.booking_key, "S12")}
    # The silent answer cost the connection (a late ACK must never pass for the next one).
    assert [e["connection"] for e in received[:3]] == [1, 1, 2]
    async with db.read() as session:
        [row] = (await session.exec(select(Hl7Message))).all()
    assert row.attempts == len(received) and row.ack_code == "AA"


async def test_filler_id_learned_from_the_pms_is_sent_back(
    db: Database,
    demo: SeedReport,
    peer: Hl7Peer,
    bookings: PendingBookings,
    make_adapter: AdapterMaker,
) -> None:
    async with db.write() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.adapters = {**clinic.adapters, "ehr": {"name": "hl7", "settings": peer.settings()}}
        session.add(clinic)
    ehr = make_adapter()
    booking = await bookings()
    stored = await ehr.book(booking)
    async with db.read() as session:
        provider = await session.get(Provider, booking.provider_id)
    assert provider is not None
    # The PMS confirms our booking under its own id (SCH-2) through the inbound feed.
    echo = siu(
        "S14",
        control="PMS-E1",
        placer=booking.appointment_id,
        placer_namespace="RECEPTIONIST",
        filler="PMS-4711",
        provider=provider.key,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
    )
    ack = hl7.parse(await SiuHandler(db).handle(echo))
    assert str(ack.extract_field("MSA", 1, 1, 1, 1)) == "AA"
    await ehr.cancel(stored.external_id, "patient request")
    cancel = parsed(peer.received()[-1])
    assert value(cancel, "MSH", 9, 2) == "S15"
    assert value(cancel, "SCH", 1) == booking.appointment_id
    assert value(cancel, "SCH", 2) == "PMS-4711"


async def test_a_connection_closed_by_the_ehr_is_reopened_without_a_lost_attempt(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    peer.script({"answer": "close", "times": 1})
    ehr = make_adapter()
    one, two = await bookings(slot=0), await bookings(slot=1)
    await ehr.book(one)
    await asyncio.sleep(0.2)  # the EHR's FIN arrives while the interface is idle
    await ehr.book(two)
    received = peer.received()
    assert [(e["answer"], e["connection"]) for e in received] == [("AA", 1), ("AA", 2)]
    async with db.read() as session:
        rows = (await session.exec(select(Hl7Message).order_by(col(Hl7Message.created_at)))).all()
    assert [r.attempts for r in rows] == [1, 1]


async def test_retries_are_bounded_then_transient(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    peer.script({"answer": "AR", "times": 3})
    ehr = make_adapter(max_attempts=3)
    booking = await bookings()
    with pytest.raises(TransientError) as failed:
        await ehr.book(booking)
    assert failed.value.code == "hl7_AR"
    assert len(peer.received()) == 3
    # Temporal retries the activity later: the same control id goes out again and is accepted.
    assert (await ehr.book(booking)).status == "booked"
    assert {e["control_id"] for e in peer.received()} == {control_id(booking.booking_key, "S12")}
    assert peer.received()[-1]["answer"] == "AA"


async def test_inverted_vendor_policy(
    db: Database, peer: Hl7Peer, bookings: PendingBookings, make_adapter: AdapterMaker
) -> None:
    peer.script({"answer": "AR", "times": 1, "error": "BAD_DATA"})
    ehr = make_adapter(on_ar="permanent", on_ae="retry")
    with pytest.raises(PermanentError) as refused:
        await ehr.book(await bookings())
    assert refused.value.code == "hl7_BAD_DATA"
    assert len(peer.received()) == 1


async def test_unreachable_ehr_is_transient(
    db: Database, demo: SeedReport, bookings: PendingBookings
) -> None:
    settings = {
        "host": "127.0.0.1",
        "port": 9,
        "facility": "BRIGHTSMILE",
        "retry_backoff_seconds": 0,
        "connect_timeout_seconds": 1,
    }
    ehr = Hl7Ehr(settings, AdapterContext(db=db, settings=Settings()))
    with pytest.raises(TransientError) as failed:
        await ehr.book(await bookings())
    assert failed.value.code == "hl7_no_ack"
