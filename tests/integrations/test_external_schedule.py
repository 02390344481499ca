"""Appointments made in an external system take their time from our availability at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    AuditEvent,
    HoldStatus,
    Patient,
    Provider,
    SlotHold,
    StaffTask,
)
from core.scheduling import (
    ConfirmRequest,
    HoldExpired,
    HoldRequest,
    Slot,
    SlotQuery,
    SlotTaken,
    confirm_hold,
    find_slots,
    hold_slot,
)
from core.scheduling.external import (
    ExternalAppointment,
    ExternalPatient,
    ExternalStatus,
    InvalidExternalAppointment,
    UnknownProvider,
    apply_external_appointment,
    remove_external_appointment,
)
from core.security.crypto import blind_index
from tests.integrations.ehr_support import pending_booking
from tests.support.booking import free_slots, seeded_patient


async def offered(db: Database, clinic_id: str) -> list[Slot]:
    async with db.read() as session:
        return await find_slots(session, clinic_id, SlotQuery("cleaning", limit=200))


async def provider_key(db: Database, provider_id: str) -> str:
    async with db.read() as session:
        provider = await session.get(Provider, provider_id)
    assert provider is not None
    return provider.key


async def external_for(db: Database, slot: Slot, external_id: str = "EHR-1") -> ExternalAppointment:
    return ExternalAppointment(
        external_id=external_id,
        source="hl7",
        provider_ref=await provider_key(db, slot.provider_id),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        appointment_type="cleaning",
        patient=ExternalPatient("PAT-9", "Lena", "Marsh", "1970-02-03", "+12075550199"),
    )


async def rows(db: Database, external_id: str) -> list[Appointment]:
    async with db.read() as session:
        found = await session.exec(
            select(Appointment).where(Appointment.external_ehr_id == external_id)
        )
        return list(found.all())


async def test_external_booking_disappears_from_availability_at_once(
    db: Database, demo: SeedReport
) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    assert slot in await offered(db, demo.clinic_id)
    change = await external_for(db, slot)
    result = await apply_external_appointment(db, demo.clinic_id, change)
    assert result.action == "created" and not result.conflicts
    assert slot not in await offered(db, demo.clinic_id)
    [stored] = await rows(db, "EHR-1")
    assert stored.status == AppointmentStatus.BOOKED
    assert stored.source == AppointmentSource.EHR_SYNC and stored.external_system == "hl7"
    async with db.read() as session:
        patient = await session.get(Patient, stored.patient_id)
    assert patient is not None and patient.external_ehr_id == "PAT-9"
    async with db.read() as session:
        [created] = (
            await session.exec(select(AuditEvent).where(AuditEvent.record_id == patient.id))
        ).all()
    assert (created.action, created.actor) == ("create", "system:hl7-schedule")
    # Nobody can hold it any more.
    with pytest.raises(SlotTaken):
        await hold_slot(
            db, HoldRequest(demo.clinic_id, slot.provider_id, "cleaning", slot.starts_at, "CA1")
        )


async def test_applying_twice_keeps_one_appointment(db: Database, demo: SeedReport) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    change = await external_for(db, slot)
    first = await apply_external_appointment(db, demo.clinic_id, change)
    second = await apply_external_appointment(db, demo.clinic_id, change)
    assert second.action == "unchanged" and second.appointment_id == first.appointment_id
    assert len(await rows(db, "EHR-1")) == 1
    async with db.read() as session:
        pats = await session.exec(
            select(Patient).where(Patient.external_ehr_index == blind_index("ehr_id", "PAT-9"))
        )
        assert len(pats.all()) == 1


async def test_reschedule_moves_the_claims(db: Database, demo: SeedReport) -> None:
    old, new = await free_slots(db, demo.clinic_id, count=2)
    change = await external_for(db, old)
    created = await apply_external_appointment(db, demo.clinic_id, change)
    moved = await apply_external_appointment(
        db, demo.clinic_id, replace(change, starts_at=new.starts_at, ends_at=new.ends_at)
    )
    assert moved.action == "moved" and moved.appointment_id == created.appointment_id
    available = await offered(db, demo.clinic_id)
    assert old in available and new not in available


async def test_cancel_and_no_show_free_the_time(db: Database, demo: SeedReport) -> None:
    one, two = await free_slots(db, demo.clinic_id, count=2)
    first = await external_for(db, one, "EHR-A")
    second = await external_for(db, two, "EHR-B")
    await apply_external_appointment(db, demo.clinic_id, first)
    await apply_external_appointment(db, demo.clinic_id, second)
    cancelled = await apply_external_appointment(
        db, demo.clinic_id, replace(first, status=ExternalStatus.CANCELLED, reason="patient")
    )
    again = await remove_external_appointment(db, demo.clinic_id, "hl7", "EHR-A")
    noshow = await apply_external_appointment(
        db, demo.clinic_id, replace(second, status=ExternalStatus.NOSHOW)
    )
    assert (cancelled.action, again.action, noshow.action) == ("cancelled", "unchanged", "noshow")
    available = await offered(db, demo.clinic_id)
    assert one in available and two in available
    [a], [b] = await rows(db, "EHR-A"), await rows(db, "EHR-B")
    assert a.status == AppointmentStatus.CANCELLED and a.cancel_reason == "patient"
    assert b.status == AppointmentStatus.NO_SHOW
    unknown = await remove_external_appointment(db, demo.clinic_id, "hl7", "NEVER-SEEN")
    assert unknown.action == "ignored" and unknown.appointment_id is None


async def test_overlap_with_our_appointment_opens_a_staff_task(
    db: Database, demo: SeedReport
) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    patient = await seeded_patient(db)
    ours = await pending_booking(db, demo.clinic_id, slot, "booking-x/ehr", patient)
    # The front desk booked 30 minutes into our visit, running 30 minutes past it.
    change = replace(
        await external_for(db, slot),
        starts_at=slot.starts_at + timedelta(minutes=30),
        ends_at=slot.ends_at + timedelta(minutes=30),
    )
    result = await apply_external_appointment(db, demo.clinic_id, change)
    assert result.conflicts == (ours.appointment_id,) and result.staff_task_id
    again = await apply_external_appointment(db, demo.clinic_id, change)
    assert again.staff_task_id == result.staff_task_id
    async with db.read() as session:
        kept = await session.get(Appointment, ours.appointment_id)
        tasks = (
            await session.exec(select(StaffTask).where(StaffTask.kind == "ehr_conflict"))
        ).all()
    assert kept is not None and kept.status == AppointmentStatus.PENDING
    assert len(tasks) == 1 and tasks[0].appointment_id == ours.appointment_id
    assert "EHR-1" in tasks[0].detail
    [external] = await rows(db, "EHR-1")
    assert external.status == AppointmentStatus.BOOKED  # recorded, never dropped


async def test_external_booking_displaces_a_live_hold(db: Database, demo: SeedReport) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    hold = await hold_slot(
        db, HoldRequest(demo.clinic_id, slot.provider_id, "cleaning", slot.starts_at, "CA2")
    )
    result = await apply_external_appointment(db, demo.clinic_id, await external_for(db, slot))
    assert result.displaced_holds == (hold.id,) and not result.conflicts
    async with db.read() as session:
        released = await session.get(SlotHold, hold.id)
    assert released is not None and released.status == HoldStatus.RELEASED
    patient = await seeded_patient(db)
    with pytest.raises(HoldExpired):  # the caller is told the time was just taken
        async with db.write() as session:
            await confirm_hold(session, ConfirmRequest(hold.id, patient.id, "booking-y"))


async def test_echo_of_our_own_appointment_updates_it(db: Database, demo: SeedReport) -> None:
    one, two = await free_slots(db, demo.clinic_id, count=2)
    patient = await seeded_patient(db)
    ours = await pending_booking(db, demo.clinic_id, one, "booking-z/ehr", patient)
    echo = replace(
        await external_for(db, two, "FILLER-77"), local_appointment_id=ours.appointment_id
    )
    result = await apply_external_appointment(db, demo.clinic_id, echo)
    assert result.action == "moved" and result.appointment_id == ours.appointment_id
    async with db.read() as session:
        moved = await session.get(Appointment, ours.appointment_id)
    assert moved is not None and moved.starts_at == two.starts_at
    assert moved.external_system is None  # still ours
    available = await offered(db, demo.clinic_id)
    assert one in available and two not in available


async def test_bad_changes_are_refused_and_change_nothing(db: Database, demo: SeedReport) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    change = await external_for(db, slot)
    with pytest.raises(UnknownProvider):
        await apply_external_appointment(
            db, demo.clinic_id, replace(change, provider_ref="dr-nobody")
        )
    with pytest.raises(InvalidExternalAppointment):
        await apply_external_appointment(
            db, demo.clinic_id, replace(change, ends_at=change.starts_at)
        )
    with pytest.raises(InvalidExternalAppointment):
        await apply_external_appointment(
            db, demo.clinic_id, replace(change, starts_at=change.starts_at.replace(tzinfo=None))
        )
    assert await rows(db, "EHR-1") == []
    assert slot in await offered(db, demo.clinic_id)


async def test_unidentified_patients_share_one_placeholder(db: Database, demo: SeedReport) -> None:
    one, two = await free_slots(db, demo.clinic_id, count=2)
    a = replace(await external_for(db, one, "B-1"), patient=None)
    b = replace(await external_for(db, two, "B-2"), patient=ExternalPatient(last_name="Only"))
    first = await apply_external_appointment(db, demo.clinic_id, a)
    second = await apply_external_appointment(db, demo.clinic_id, b)
    [x], [y] = await rows(db, "B-1"), await rows(db, "B-2")
    assert first.action == second.action == "created"
    assert x.patient_id == y.patient_id


async def test_overlapping_external_appointments_are_the_ehrs_business(
    db: Database, demo: SeedReport
) -> None:
    [slot] = await free_slots(db, demo.clinic_id)
    first = await external_for(db, slot, "OVER-1")
    second = replace(first, external_id="OVER-2", starts_at=slot.starts_at + timedelta(minutes=30))
    await apply_external_appointment(db, demo.clinic_id, first)
    result = await apply_external_appointment(db, demo.clinic_id, second)
    assert result.action == "created" and result.conflicts == () and result.staff_task_id is None
    async with db.read() as session:
        assert (await session.exec(select(StaffTask))).all() == []
