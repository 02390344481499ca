"""The inbound MLLP listener, fed by a real MLLP client (python-hl7's asyncio streams)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Hl7Message,
    MessageDirection,
    Provider,
    StaffTask,
)
from core.scheduling import Slot, SlotQuery, find_slots
from integrations.ehr.hl7.listener import MllpListener
from tests.integrations.ehr_support import pending_booking
from tests.integrations.hl7_support import MllpClient, ack_code, ack_error, siu
from tests.support.booking import free_slots, seeded_patient


@pytest.fixture
async def hl7_clinic(db: Database, demo: SeedReport) -> str:
    async with db.write() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.adapters = {
            **clinic.adapters,
            "ehr": {
                "name": "hl7",
                "settings": {"host": "127.0.0.1", "port": 1, "facility": "BRIGHTSMILE"},
            },
        }
        session.add(clinic)
    return demo.clinic_id


@pytest.fixture
async def client(db: Database, hl7_clinic: str) -> AsyncIterator[MllpClient]:
    listener = MllpListener(db, "127.0.0.1", 0)
    port = await listener.start()
    mllp = MllpClient(port)
    yield mllp
    await mllp.close()
    await listener.close()


async def offered(db: Database, clinic_id: str) -> list[Slot]:
    async with db.read() as session:
        return await find_slots(session, clinic_id, SlotQuery("cleaning", limit=200))


async def key_of(db: Database, slot: Slot) -> str:
    async with db.read() as session:
        provider = await session.get(Provider, slot.provider_id)
    assert provider is not None
    return provider.key


async def appointments(db: Database, external_id: str) -> list[Appointment]:
    async with db.read() as session:
        found = await session.exec(
            select(Appointment).where(Appointment.external_ehr_id == external_id)
        )
        return list(found.all())


async def test_front_desk_booking_leaves_availability_at_once(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    one, two = await free_slots(db, hl7_clinic, count=2)
    provider = await key_of(db, one)
    book = siu(
        "S12",
        control="C1",
        placer="PMS-1",
        filler="F-1",
        provider=provider,
        starts_at=one.starts_at,
        ends_at=one.ends_at,
    )
    ack = await client.send(book)
    assert ack_code(ack) == "AA"
    assert str(ack.extract_field("MSA", 1, 2, 1, 1)) == "C1"
    assert str(ack.extract_field("MSH", 1, 9, 1, 1)) == "ACK"
    assert one not in await offered(db, hl7_clinic)
    [stored] = await appointments(db, "F-1")
    assert stored.status == AppointmentStatus.BOOKED and stored.external_system == "hl7"

    # Same connection: reschedule, then cancel.
    move = siu(
        "S13",
        control="C2",
        placer="PMS-1",
        filler="F-1",
        provider=provider,
        starts_at=two.starts_at,
        ends_at=two.ends_at,
    )
    assert ack_code(await client.send(move)) == "AA"
    available = await offered(db, hl7_clinic)
    assert one in available and two not in available
    cancel = siu("S15", control="C3", placer="PMS-1", filler="F-1")
    assert ack_code(await client.send(cancel)) == "AA"
    assert two in await offered(db, hl7_clinic)
    [stored] = await appointments(db, "F-1")
    assert stored.status == AppointmentStatus.CANCELLED


async def test_redelivered_message_is_applied_once(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    one, two = await free_slots(db, hl7_clinic, count=2)
    provider = await key_of(db, one)
    book = siu(
        "S12",
        control="R1",
        placer="PMS-2",
        provider=provider,
        starts_at=one.starts_at,
        ends_at=one.ends_at,
    )
    move = siu(
        "S13",
        control="R2",
        placer="PMS-2",
        provider=provider,
        starts_at=two.starts_at,
        ends_at=two.ends_at,
    )
    for text in (book, move, book):  # the S12 is delivered again after the S13
        assert ack_code(await client.send(text)) == "AA"
    [stored] = await appointments(db, "PMS-2")
    assert stored.starts_at == two.starts_at  # the re-delivery did not move it back
    async with db.read() as session:
        rows = (
            await session.exec(
                select(Hl7Message).where(Hl7Message.direction == MessageDirection.INBOUND)
            )
        ).all()
    assert sorted(r.control_id for r in rows) == ["R1", "R2"]


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda text: text.replace("RGS|1", "XYZ|1|2"), "100"),  # a segment SIU has no place for
        (lambda text: text.replace("RGS|1", "not a segment at all"), "100"),
        (lambda text: text.replace("|2.5.1", "|2.9"), "203"),  # a version we do not accept
        (lambda text: text.replace("|MSG-1|", "||"), "101"),  # no MSH-10
        (lambda text: text.replace("SIU^S12^SIU_S12", "SIU^S99^SIU_S12"), "201"),
        (lambda text: text.replace("SIU^S12^SIU_S12", "ADT^A01^ADT_A01"), "200"),
        (lambda text: text.replace("^^60^", "^^60^2026-13-45^"), "102"),  # not a date/time
        (lambda text: text.replace("|BRIGHTSMILE|", "|ELSEWHERE|"), "204"),  # no such clinic
        (lambda text: "hello\rworld", "100"),  # not HL7 at all
        (lambda text: text.replace("\rSCH|", "\rNTE|", 1), "100"),  # no SCH segment
    ],
)
async def test_malformed_messages_are_rejected_and_change_nothing(
    db: Database, hl7_clinic: str, client: MllpClient, mangle: Callable[[str], str], error: str
) -> None:
    [slot] = await free_slots(db, hl7_clinic)
    good = siu(
        "S12",
        control="MSG-1",
        placer="PMS-3",
        provider=await key_of(db, slot),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
    )
    ack = await client.send(mangle(good))
    assert ack_code(ack) == "AR"
    assert ack_error(ack) == error
    assert slot in await offered(db, hl7_clinic)
    assert await appointments(db, "PMS-3") == []
    # The connection stays usable: the well-formed message is applied.
    assert ack_code(await client.send(good)) == "AA"
    assert slot not in await offered(db, hl7_clinic)


async def test_unknown_provider_is_an_application_error(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    [slot] = await free_slots(db, hl7_clinic)
    text = siu(
        "S12",
        control="U1",
        placer="PMS-4",
        provider="dr-nobody",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
    )
    ack = await client.send(text)
    assert ack_code(ack) == "AE" and ack_error(ack) == "204"
    assert str(ack.extract_field("ERR", 1, 5, 1, 1)) == "UNKNOWN_PROVIDER"
    assert await appointments(db, "PMS-4") == []
    assert slot in await offered(db, hl7_clinic)


async def test_missing_times_are_a_rejection(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    text = siu("S12", control="T1", placer="PMS-5", provider="dr-patel")
    ack = await client.send(text)
    assert ack_code(ack) == "AR" and ack_error(ack) == "101"


async def test_no_show_and_overlap_with_our_booking(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    one, two = await free_slots(db, hl7_clinic, count=2)
    provider = await key_of(db, one)
    patient = await seeded_patient(db)
    ours = await pending_booking(db, hl7_clinic, one, "booking-q/ehr", patient)
    overlap = siu(
        "S12",
        control="O1",
        placer="PMS-6",
        provider=provider,
        starts_at=one.starts_at + timedelta(minutes=15),
        ends_at=one.ends_at + timedelta(minutes=15),
    )
    assert ack_code(await client.send(overlap)) == "AA"  # applied; the clash goes to staff
    async with db.read() as session:
        [task] = (await session.exec(select(StaffTask))).all()
    assert task.kind == "ehr_conflict" and task.appointment_id == ours.appointment_id

    book = siu(
        "S12",
        control="N1",
        placer="PMS-7",
        provider=provider,
        starts_at=two.starts_at,
        ends_at=two.ends_at,
    )
    noshow = siu("S26", control="N2", placer="PMS-7")
    assert ack_code(await client.send(book)) == "AA"
    assert ack_code(await client.send(noshow)) == "AA"
    [stored] = await appointments(db, "PMS-7")
    assert stored.status == AppointmentStatus.NO_SHOW


async def test_echo_of_our_own_booking_updates_it(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    one, two = await free_slots(db, hl7_clinic, count=2)
    patient = await seeded_patient(db)
    ours = await pending_booking(db, hl7_clinic, one, "booking-e/ehr", patient)
    # The front desk moved our booking; the PMS names it by our placer id and its filler id.
    echo = siu(
        "S13",
        control="E1",
        placer=ours.appointment_id,
        placer_namespace="RECEPTIONIST",
        filler="PMS-88",
        provider=await key_of(db, two),
        starts_at=two.starts_at,
        ends_at=two.ends_at,
    )
    assert ack_code(await client.send(echo)) == "AA"
    async with db.read() as session:
        moved = await session.get(Appointment, ours.appointment_id)
        everyone = (await session.exec(select(Appointment))).all()
    assert moved is not None and moved.starts_at == two.starts_at
    assert not [a for a in everyone if a.external_ehr_id == "PMS-88"]
    available = await offered(db, hl7_clinic)
    assert one in available and two not in available


async def test_a_facility_claimed_by_two_clinics_is_refused(
    db: Database, hl7_clinic: str, client: MllpClient
) -> None:
    async with db.write() as session:
        session.add(
            Clinic(
                slug="twin-clinic",
                name="Twin",
                time_zone="America/New_York",
                adapters={
                    "ehr": {
                        "name": "hl7",
                        "settings": {"host": "h", "port": 1, "facility": "BRIGHTSMILE"},
                    }
                },
            )
        )
    [slot] = await free_slots(db, hl7_clinic)
    text = siu(
        "S12",
        control="AMB1",
        placer="PMS-9",
        provider=await key_of(db, slot),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
    )
    ack = await client.send(text)
    assert ack_code(ack) == "AR" and ack_error(ack) == "204"
    assert await appointments(db, "PMS-9") == []


async def test_our_own_failure_asks_the_sender_to_resend(tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tables: every query fails
    listener = MllpListener(broken, "127.0.0.1", 0)
    client = MllpClient(await listener.start())
    try:
        ack = await client.send(siu("S12", control="DOWN1", placer="PMS-D", provider="dr-patel"))
        assert ack_code(ack) == "AR" and ack_error(ack) == "207"
        assert str(ack.extract_field("MSA", 1, 2, 1, 1)) == "DOWN1"
    finally:
        await client.close()
        await listener.close()
        await broken.dispose()
