"""Holding, confirming, releasing and cancelling: the writes that take or free a provider's time.

Each write claims or frees grid cells (see ``core.models.booking``). A hold is only granted for
a start that ``find_slots`` would offer at that moment — availability is never invented — and
the unique cell constraint settles every race: exactly one of many concurrent holders wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.models import (
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    HoldStatus,
    SlotClaim,
    SlotHold,
)
from core.scheduling.availability import SlotShape, cells, free_starts
from core.scheduling.search import (
    NotFound,
    NotOffered,
    SchedulingError,
    booking_bounds,
    load_appointment_type,
    load_clinic,
    offering_providers,
    provider_windows,
)


class SlotTaken(SchedulingError):
    """Someone else holds or booked that time."""

    code = "slot_taken"


class HoldExpired(SchedulingError):
    """The hold lapsed and its time was given to someone else."""

    code = "hold_expired"


@dataclass(frozen=True)
class HoldRequest:
    clinic_id: str
    provider_id: str
    appointment_type: str  # code or id
    starts_at: datetime
    holder: str  # call sid or user id; never PHI


async def _claim(session: AsyncSession, claims: list[SlotClaim]) -> None:
    session.add_all(claims)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise SlotTaken("that time was just taken") from exc


async def _held_already(
    session: AsyncSession, request: HoldRequest, start: datetime
) -> SlotHold | None:
    return (
        await session.exec(
            select(SlotHold).where(
                SlotHold.holder == request.holder,
                SlotHold.provider_id == request.provider_id,
                SlotHold.starts_at == start,
                SlotHold.status == HoldStatus.ACTIVE,
            )
        )
    ).first()


async def hold_slot(db: Database, request: HoldRequest, *, now: datetime | None = None) -> SlotHold:
    """Reserve a slot for the clinic's hold TTL. Raises ``SlotTaken`` when it is not free.

    Idempotent per holder: the same holder asking again for the same slot (a retried tool call)
    gets its existing hold back.
    """
    now = now or datetime.now(UTC)
    try:
        async with db.write() as session:
            existing = await _held_already(session, request, request.starts_at.astimezone(UTC))
            if existing is not None:
                return existing
            # On SQLite this transaction owns the write lock from BEGIN IMMEDIATE; on PostgreSQL
            # concurrent holders race to the unique cells, and the loser's insert fails.
            clinic = await load_clinic(session, request.clinic_id)
            kind = await load_appointment_type(session, clinic.id, request.appointment_type)
            if not await offering_providers(session, kind, request.provider_id):
                raise NotOffered(f"that provider does not offer {kind.name}")
            tz = ZoneInfo(clinic.time_zone)
            start = request.starts_at.astimezone(UTC)
            end = start + timedelta(minutes=kind.duration_minutes)
            occupied_end = end + timedelta(minutes=kind.buffer_after_minutes)
            day = start.astimezone(tz).date()
            windows = (await provider_windows(session, clinic, [request.provider_id], day, day))[
                request.provider_id
            ]
            not_before, not_after = booking_bounds(clinic, now)
            shape = SlotShape(
                kind.duration_minutes,
                kind.buffer_after_minutes,
                clinic.slot_step_minutes,
                clinic.grid_minutes,
            )
            # Free cells are checked by the unique constraint, not here: pass an empty busy set.
            if start not in set(free_starts(windows, set(), shape, tz, not_before, not_after)):
                raise NotOffered("that time is not a bookable slot")
            needed = cells(start, occupied_end, clinic.grid_minutes)
            await session.exec(
                delete(SlotClaim).where(
                    col(SlotClaim.provider_id) == request.provider_id,
                    col(SlotClaim.cell_start).in_(needed),
                    col(SlotClaim.expires_at) <= now,
                )
            )
            expires_at = now + timedelta(seconds=clinic.hold_ttl_seconds)
            hold = SlotHold(
                clinic_id=clinic.id,
                provider_id=request.provider_id,
                appointment_type_id=kind.id,
                starts_at=start,
                ends_at=end,
                expires_at=expires_at,
                holder=request.holder,
            )
            session.add(hold)
            await session.flush()
            await _claim(
                session,
                [
                    SlotClaim(
                        provider_id=request.provider_id,
                        cell_start=c,
                        hold_id=hold.id,
                        expires_at=expires_at,
                    )
                    for c in needed
                ],
            )
            return hold
    except IntegrityError as exc:  # the commit itself can lose the race on PostgreSQL
        raise SlotTaken("that time was just taken") from exc


async def hold_of(db: Database, holder: str) -> SlotHold | None:
    """The most recent hold taken by ``holder``, whatever became of it."""
    async with db.read() as session:
        return (
            await session.exec(
                select(SlotHold)
                .where(SlotHold.holder == holder)
                .order_by(col(SlotHold.created_at).desc())
            )
        ).first()


async def release_hold(db: Database, hold_id: str) -> bool:
    """Free a hold's time. Idempotent; returns False when there was nothing to release."""
    async with db.write() as session:
        hold = await session.get(SlotHold, hold_id)
        if hold is None or hold.status != HoldStatus.ACTIVE:
            return False
        await session.exec(delete(SlotClaim).where(col(SlotClaim.hold_id) == hold_id))
        hold.status = HoldStatus.RELEASED
        session.add(hold)
        return True


@dataclass(frozen=True)
class ConfirmRequest:
    hold_id: str
    patient_id: str
    idempotency_key: str
    source: AppointmentSource = AppointmentSource.PHONE
    notes: str | None = None
    rescheduled_from_id: str | None = None


async def confirm_hold(session: AsyncSession, request: ConfirmRequest) -> Appointment:
    """Turn a hold into a pending appointment inside the caller's transaction.

    Idempotent on ``idempotency_key``: confirming twice returns the same appointment. A hold
    that lapsed can still be confirmed if nobody took its cells in the meantime.
    """
    existing = (
        await session.exec(
            select(Appointment).where(Appointment.idempotency_key == request.idempotency_key)
        )
    ).first()
    if existing is not None:
        return existing
    hold = await session.get(SlotHold, request.hold_id)
    if hold is None:
        raise NotFound("unknown hold")
    if hold.status != HoldStatus.ACTIVE:
        raise HoldExpired(f"the hold was already {hold.status}")
    clinic = await load_clinic(session, hold.clinic_id)
    kind = await load_appointment_type(session, hold.clinic_id, hold.appointment_type_id)
    expected = cells(
        hold.starts_at,
        hold.ends_at + timedelta(minutes=kind.buffer_after_minutes),
        clinic.grid_minutes,
    )
    claimed = await session.exec(
        select(func.count()).select_from(SlotClaim).where(col(SlotClaim.hold_id) == hold.id)
    )
    if claimed.one() != len(expected):
        raise HoldExpired("the hold lapsed and the time was taken")
    appointment = Appointment(
        clinic_id=hold.clinic_id,
        patient_id=request.patient_id,
        provider_id=hold.provider_id,
        appointment_type_id=hold.appointment_type_id,
        starts_at=hold.starts_at,
        ends_at=hold.ends_at,
        status=AppointmentStatus.PENDING,
        source=request.source,
        idempotency_key=request.idempotency_key,
        notes=request.notes,
        rescheduled_from_id=request.rescheduled_from_id,
    )
    session.add(appointment)
    await session.flush()
    await session.exec(
        update(SlotClaim)
        .where(col(SlotClaim.hold_id) == hold.id)
        .values(hold_id=None, appointment_id=appointment.id, expires_at=None)
    )
    hold.status = HoldStatus.CONFIRMED
    hold.appointment_id = appointment.id
    session.add(hold)
    return appointment


async def free_appointment_time(session: AsyncSession, appointment_id: str) -> None:
    """Give an appointment's cells back to the schedule (cancel, reschedule, failure)."""
    await session.exec(delete(SlotClaim).where(col(SlotClaim.appointment_id) == appointment_id))


async def cancel_appointment(
    session: AsyncSession, appointment_id: str, reason: str, *, now: datetime | None = None
) -> Appointment:
    """Cancel and free the time. Idempotent: cancelling a cancelled appointment is a no-op."""
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound("unknown appointment")
    if appointment.status != AppointmentStatus.CANCELLED:
        await free_appointment_time(session, appointment_id)
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancel_reason = reason
        appointment.updated_at = now or datetime.now(UTC)
        session.add(appointment)
        await session.flush()
    return appointment


async def expire_holds(db: Database, *, now: datetime | None = None) -> int:
    """Mark lapsed holds released and free their cells; returns how many were expired.

    Lapsed cells are already free for booking (searches and holds ignore them); this keeps
    the hold records truthful and the claim table small.
    """
    now = now or datetime.now(UTC)
    async with db.write() as session:
        lapsed = list(
            (
                await session.exec(
                    select(SlotHold.id).where(
                        SlotHold.status == HoldStatus.ACTIVE, col(SlotHold.expires_at) <= now
                    )
                )
            ).all()
        )
        if lapsed:
            await session.exec(delete(SlotClaim).where(col(SlotClaim.hold_id).in_(lapsed)))
            await session.exec(
                update(SlotHold)
                .where(col(SlotHold.id).in_(lapsed))
                .values(status=HoldStatus.RELEASED)
            )
        return len(lapsed)
