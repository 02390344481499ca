"""The scheduling engine against real databases (every test runs on SQLite and PostgreSQL)."""

import asyncio
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentStatus,
    HoldStatus,
    Patient,
    Provider,
    ScheduleException,
    SlotClaim,
    SlotHold,
)
from core.scheduling import (
    ConfirmRequest,
    HoldExpired,
    HoldRequest,
    NotFound,
    NotOffered,
    Slot,
    SlotQuery,
    SlotTaken,
    cancel_appointment,
    confirm_hold,
    expire_holds,
    find_slots,
    hold_slot,
    release_hold,
)
from tests.conftest import DEMO_NOW

NY = ZoneInfo("America/New_York")


async def slots(db: Database, clinic_id: str, query: SlotQuery, now=DEMO_NOW) -> list[Slot]:
    async with db.read() as session:
        return await find_slots(session, clinic_id, query, now=now)


async def provider(db: Database, key: str) -> Provider:
    async with db.read() as session:
        return (await session.exec(select(Provider).where(Provider.key == key))).one()


async def patient_id(db: Database) -> str:
    async with db.read() as session:
        return (await session.exec(select(Patient.id))).first()


def hold_for(demo: SeedReport, slot: Slot, code: str, holder: str = "CA-test") -> HoldRequest:
    return HoldRequest(demo.clinic_id, slot.provider_id, code, slot.starts_at, holder)


async def test_slots_only_from_the_offering_providers_schedule(
    db: Database, demo: SeedReport
) -> None:
    found = await slots(db, demo.clinic_id, SlotQuery("cleaning", limit=40))
    lee = await provider(db, "hygienist-lee")
    assert len(found) == 40
    assert {s.provider_id for s in found} == {lee.id}
    for slot in found:
        local = slot.local_start
        assert local.weekday() < 5
        assert slot.starts_at >= DEMO_NOW + timedelta(minutes=120)  # the clinic's notice
        assert slot.ends_at - slot.starts_at == timedelta(minutes=60)
        assert local.minute % 15 == 0


async def test_seeded_appointments_are_not_offered(db: Database, demo: SeedReport) -> None:
    async with db.read() as session:
        booked = (await session.exec(select(Appointment))).all()
    assert len(booked) == demo.appointments == 6
    found = await slots(db, demo.clinic_id, SlotQuery("exam", limit=500))
    for appointment in booked:
        for slot in found:
            if slot.provider_id == appointment.provider_id:
                assert not (
                    slot.starts_at < appointment.ends_at and appointment.starts_at < slot.ends_at
                )


async def test_holiday_has_no_slots(db: Database, demo: SeedReport) -> None:
    thanksgiving = date(2026, 11, 26)
    found = await slots(
        db,
        demo.clinic_id,
        SlotQuery("exam", first_day=thanksgiving, last_day=thanksgiving, limit=50),
        now=DEMO_NOW.replace(month=11, day=20),
    )
    assert found == []
    friday = date(2026, 11, 27)
    day_after = await slots(
        db,
        demo.clinic_id,
        SlotQuery("exam", first_day=friday, last_day=friday),
        now=DEMO_NOW.replace(month=11, day=20),
    )
    assert day_after


async def test_provider_preference_time_of_day_and_weekday(db: Database, demo: SeedReport) -> None:
    brooks = await provider(db, "dr-brooks")
    found = await slots(
        db,
        demo.clinic_id,
        SlotQuery.for_day_part(
            "filling", "afternoon", provider_id=brooks.id, weekdays=frozenset({3}), limit=10
        ),
    )
    assert found
    for slot in found:
        assert slot.provider_id == brooks.id
        assert slot.local_start.weekday() == 3
        assert time(12) <= slot.local_start.time() < time(17)


async def test_time_off_removes_slots(db: Database, demo: SeedReport) -> None:
    lee = await provider(db, "hygienist-lee")
    monday = date(2026, 3, 9)
    before = await slots(
        db, demo.clinic_id, SlotQuery("cleaning", first_day=monday, last_day=monday, limit=50)
    )
    async with db.write() as session:
        start = before[0].starts_at
        session.add(
            ScheduleException(
                provider_id=lee.id, starts_at=start, ends_at=start + timedelta(hours=3)
            )
        )
    after = await slots(
        db, demo.clinic_id, SlotQuery("cleaning", first_day=monday, last_day=monday, limit=50)
    )
    assert len(after) < len(before)
    assert all(s.starts_at >= start + timedelta(hours=3) for s in after)


async def test_new_patient_only_type_and_unknown_type(db: Database, demo: SeedReport) -> None:
    with pytest.raises(NotOffered, match="new patients only"):
        await slots(db, demo.clinic_id, SlotQuery("new-patient-exam", patient_is_new=False))
    assert await slots(db, demo.clinic_id, SlotQuery("new-patient-exam", patient_is_new=True))
    with pytest.raises(NotFound, match="root-canal"):
        await slots(db, demo.clinic_id, SlotQuery("root-canal"))
    with pytest.raises(NotFound, match="unknown clinic"):
        await slots(db, "no-such-clinic", SlotQuery("cleaning"))


async def test_hold_hides_slot_release_restores_it(db: Database, demo: SeedReport) -> None:
    first = (await slots(db, demo.clinic_id, SlotQuery("cleaning")))[0]
    hold = await hold_slot(db, hold_for(demo, first, "cleaning"), now=DEMO_NOW)
    assert hold.expires_at == DEMO_NOW + timedelta(seconds=300)
    assert first not in await slots(db, demo.clinic_id, SlotQuery("cleaning", limit=20))
    assert await release_hold(db, hold.id) is True
    assert await release_hold(db, hold.id) is False  # idempotent
    assert first in await slots(db, demo.clinic_id, SlotQuery("cleaning", limit=20))


async def test_hold_refuses_times_that_are_not_slots(db: Database, demo: SeedReport) -> None:
    first = (await slots(db, demo.clinic_id, SlotQuery("cleaning")))[0]
    lee_id = first.provider_id
    for bad_start in (first.starts_at + timedelta(minutes=7), first.starts_at.replace(hour=3)):
        with pytest.raises(NotOffered):
            await hold_slot(
                db, HoldRequest(demo.clinic_id, lee_id, "cleaning", bad_start, "x"), now=DEMO_NOW
            )
    brooks = await provider(db, "dr-brooks")
    with pytest.raises(NotOffered, match="does not offer"):
        await hold_slot(
            db,
            HoldRequest(demo.clinic_id, brooks.id, "cleaning", first.starts_at, "x"),
            now=DEMO_NOW,
        )


async def test_overlapping_holds_of_different_lengths_conflict(
    db: Database, demo: SeedReport
) -> None:
    patel = await provider(db, "dr-patel")
    crown = (await slots(db, demo.clinic_id, SlotQuery("crown", provider_id=patel.id)))[
        0
    ]  # 90 + 15 min
    await hold_slot(db, hold_for(demo, crown, "crown"), now=DEMO_NOW)
    inside = crown.starts_at + timedelta(minutes=45)
    with pytest.raises(SlotTaken):
        await hold_slot(
            db, HoldRequest(demo.clinic_id, patel.id, "exam", inside, "other"), now=DEMO_NOW
        )
    exams = await slots(db, demo.clinic_id, SlotQuery("exam", provider_id=patel.id, limit=50))
    assert all(
        not (crown.starts_at <= s.starts_at < crown.ends_at + timedelta(minutes=15)) for s in exams
    )


async def test_expired_hold_can_be_taken_and_then_cannot_be_confirmed(
    db: Database, demo: SeedReport
) -> None:
    slot = (await slots(db, demo.clinic_id, SlotQuery("cleaning")))[0]
    stale = await hold_slot(db, hold_for(demo, slot, "cleaning", "first"), now=DEMO_NOW)
    later = DEMO_NOW + timedelta(minutes=6)
    assert slot in await slots(db, demo.clinic_id, SlotQuery("cleaning", limit=20), now=later)
    await hold_slot(db, hold_for(demo, slot, "cleaning", "second"), now=later)
    with pytest.raises(HoldExpired):
        async with db.write() as session:
            await confirm_hold(session, ConfirmRequest(stale.id, await patient_id(db), "k-stale"))
    async with db.read() as session:
        assert (
            await session.exec(select(Appointment).where(Appointment.idempotency_key == "k-stale"))
        ).first() is None


async def test_lapsed_but_untaken_hold_still_confirms(db: Database, demo: SeedReport) -> None:
    slot = (await slots(db, demo.clinic_id, SlotQuery("cleaning")))[0]
    hold = await hold_slot(db, hold_for(demo, slot, "cleaning"), now=DEMO_NOW - timedelta(hours=1))
    async with db.write() as session:
        appointment = await confirm_hold(
            session, ConfirmRequest(hold.id, await patient_id(db), "k-late")
        )
    assert appointment.status == AppointmentStatus.PENDING


async def test_confirm_is_idempotent_and_cancel_frees_time(db: Database, demo: SeedReport) -> None:
    slot = (await slots(db, demo.clinic_id, SlotQuery("filling")))[0]
    hold = await hold_slot(db, hold_for(demo, slot, "filling"), now=DEMO_NOW)
    request = ConfirmRequest(hold.id, await patient_id(db), "booking-demo-1")
    async with db.write() as session:
        first = await confirm_hold(session, request)
    async with db.write() as session:
        again = await confirm_hold(session, request)
    assert again.id == first.id
    async with db.read() as session:
        hold_row = await session.get(SlotHold, hold.id)
        claims = (
            await session.exec(select(SlotClaim).where(SlotClaim.appointment_id == first.id))
        ).all()
    assert hold_row.status == HoldStatus.CONFIRMED
    assert len(claims) == (60 + 10) // 5 and all(c.expires_at is None for c in claims)
    # Appointments never lapse, unlike holds.
    far_future = DEMO_NOW + timedelta(days=30)
    assert slot not in await slots(db, demo.clinic_id, SlotQuery("filling", limit=50), now=DEMO_NOW)
    assert await expire_holds(db, now=far_future) == 0
    async with db.write() as session:
        cancelled = await cancel_appointment(session, first.id, "patient request")
        await cancel_appointment(session, first.id, "patient request")
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert slot in await slots(db, demo.clinic_id, SlotQuery("filling", limit=50))


async def test_expire_holds_releases_lapsed_holds_only(db: Database, demo: SeedReport) -> None:
    found = await slots(db, demo.clinic_id, SlotQuery("cleaning", limit=2))
    old = await hold_slot(
        db, hold_for(demo, found[0], "cleaning"), now=DEMO_NOW - timedelta(minutes=10)
    )
    fresh = await hold_slot(db, hold_for(demo, found[1], "cleaning"), now=DEMO_NOW)
    assert await expire_holds(db, now=DEMO_NOW) == 1
    async with db.read() as session:
        assert (await session.get(SlotHold, old.id)).status == HoldStatus.RELEASED
        assert (await session.get(SlotHold, fresh.id)).status == HoldStatus.ACTIVE
        assert not (
            await session.exec(select(SlotClaim).where(col(SlotClaim.hold_id) == old.id))
        ).all()


async def test_fifty_concurrent_holds_exactly_one_wins(db: Database, demo: SeedReport) -> None:
    slot = (await slots(db, demo.clinic_id, SlotQuery("exam")))[0]
    start = asyncio.Event()

    async def attempt(n: int) -> str:
        await start.wait()
        try:
            await hold_slot(db, hold_for(demo, slot, "exam", f"CA{n:03d}"), now=DEMO_NOW)
            return "won"
        except SlotTaken as exc:
            assert "taken" in str(exc)
            return "taken"

    tasks = [asyncio.create_task(attempt(n)) for n in range(50)]
    await asyncio.sleep(0)
    start.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("won") == 1
    assert outcomes.count("taken") == 49
    async with db.read() as session:
        holds = (
            await session.exec(select(SlotHold).where(SlotHold.starts_at == slot.starts_at))
        ).all()
        claims = (
            await session.exec(select(SlotClaim).where(SlotClaim.provider_id == slot.provider_id))
        ).all()
    assert len([h for h in holds if h.provider_id == slot.provider_id]) == 1
    assert len({c.cell_start for c in claims}) == len(claims)
