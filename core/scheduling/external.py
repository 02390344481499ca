"""Appointments made in an external system (EHR / practice-management) applied to our schedule.

The external system is the record: an appointment booked at the front desk must disappear from
our availability at once, so it claims grid cells like any appointment of ours (the unique
``(provider_id, cell_start)`` claim is what keeps ``find_slots`` and ``hold_slot`` honest).

Applying is idempotent on ``(clinic, source, external_id)``: the same change applied twice leaves
one appointment; a changed time or provider moves its claims; a cancellation or no-show frees
them. An external appointment that overlaps one of our live *holds* wins (the EHR already gave
the time away; the caller's confirmation then fails as "taken" and they are offered others). One
that overlaps one of our *appointments* is a real double booking: it claims only the free cells
and a staff task is opened; it is never dropped. Re-applying (the next sync or message) claims
cells that have since become free. An echo of one of our own appointments that failed or was
cancelled here is never revived: it opens a staff task (``orphaned``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.models import (
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    AppointmentType,
    AppointmentTypeProvider,
    HoldStatus,
    Patient,
    Provider,
    SlotClaim,
    SlotHold,
    StaffTask,
)
from core.scheduling.availability import cells
from core.scheduling.holds import cancel_appointment, free_appointment_time
from core.scheduling.search import NotFound, SchedulingError, load_clinic
from core.security import audit
from core.security.crypto import blind_index, identity_index

log = logging.getLogger(__name__)

# Racing writers on PostgreSQL can take a cell between our read and our insert; start over.
_RACE_ATTEMPTS = 5
_MAX_RESCHEDULES = 20  # a chain longer than this is not ours to follow
CONFLICT_TASK_KIND = "ehr_conflict"
ORPHAN_TASK_KIND = "ehr_orphan"


class ExternalStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"


class InvalidExternalAppointment(SchedulingError):
    """The change cannot be applied as given (bad times, unknown source)."""

    code = "invalid_external_appointment"


class UnknownProvider(SchedulingError):
    """No provider of the clinic carries the external system's provider reference."""

    code = "unknown_provider"


@dataclass(frozen=True)
class ExternalPatient:
    """Whatever the external system told us about the patient (all optional, all PHI)."""

    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: str | None = None  # ISO date
    phone: str | None = None


@dataclass(frozen=True)
class ExternalAppointment:
    """One appointment as the external system has it now.

    ``provider_ref`` is matched against ``Provider.external_ehr_id``, then our provider key,
    then our provider id. ``local_appointment_id`` is set when the external system echoes one
    of *our* appointments (HL7 SCH-1 placer id, a FHIR identifier with our booking key): the
    change then applies to that appointment instead of creating another.
    """

    external_id: str
    source: str  # "hl7" | "fhir" | an adapter's name
    provider_ref: str
    starts_at: datetime
    ends_at: datetime
    status: ExternalStatus = ExternalStatus.BOOKED
    appointment_type: str | None = None  # our code, when known
    patient: ExternalPatient | None = None
    local_appointment_id: str | None = None
    reason: str | None = None  # cancellation reason code; never free text with PHI


Action = Literal[
    "created", "updated", "moved", "unchanged", "cancelled", "noshow", "ignored", "orphaned"
]


@dataclass(frozen=True)
class ApplyResult:
    action: Action
    appointment_id: str | None
    # Our appointments it overlaps (a staff task was opened) and our holds it displaced.
    conflicts: tuple[str, ...] = field(default=())
    displaced_holds: tuple[str, ...] = field(default=())
    staff_task_id: str | None = None


def _validate(change: ExternalAppointment) -> None:
    if not change.external_id or not change.source:
        raise InvalidExternalAppointment("an external appointment needs an id and a source")
    if change.status != ExternalStatus.BOOKED:
        return  # a cancellation or no-show names the appointment; its times do not matter
    if change.starts_at.tzinfo is None or change.ends_at.tzinfo is None:
        raise InvalidExternalAppointment("external appointment times need a UTC offset")
    if change.ends_at <= change.starts_at:
        raise InvalidExternalAppointment("the external appointment ends before it starts")


async def resolve_provider(session: AsyncSession, clinic_id: str, ref: str) -> Provider:
    """The clinic's provider known to the external system as ``ref``."""
    candidates = (
        await session.exec(
            select(Provider).where(
                Provider.clinic_id == clinic_id,
                or_(Provider.external_ehr_id == ref, Provider.key == ref, Provider.id == ref),
            )
        )
    ).all()
    # An explicit external id wins over a coincidentally equal key.
    for provider in sorted(candidates, key=lambda p: p.external_ehr_id != ref):
        return provider
    raise UnknownProvider("no provider of this clinic matches the external provider reference")


async def _find(
    session: AsyncSession, clinic_id: str, change: ExternalAppointment
) -> Appointment | None:
    if change.local_appointment_id:
        ours = await session.get(Appointment, change.local_appointment_id)
        if ours is not None and ours.clinic_id == clinic_id:
            return await _latest_of(session, ours)
    # Our own bookings carry the EHR's id with no external_system: they match too.
    return (
        await session.exec(
            select(Appointment)
            .where(
                Appointment.clinic_id == clinic_id,
                Appointment.external_ehr_id == change.external_id,
                or_(
                    Appointment.external_system == change.source,
                    col(Appointment.external_system).is_(None),
                ),
            )
            .order_by(col(Appointment.external_system).is_(None))
        )
    ).first()


async def _latest_of(session: AsyncSession, appointment: Appointment) -> Appointment:
    """Follow our reschedules: an HL7 S13 keeps the first appointment's id as placer, so an
    echo naming it is about the appointment that replaced it."""
    for _ in range(_MAX_RESCHEDULES):
        if appointment.status != AppointmentStatus.CANCELLED:
            break
        successor = (
            await session.exec(
                select(Appointment).where(Appointment.rescheduled_from_id == appointment.id)
            )
        ).first()
        if successor is None:
            break
        appointment = successor
    return appointment


# Time booked in the external system for a patient we cannot identify (no id we know, no full
# name and date of birth) is kept on one placeholder patient per source; the date is a marker.
_UNIDENTIFIED_DOB = "0001-01-01"


async def _patient(session: AsyncSession, clinic_id: str, change: ExternalAppointment) -> Patient:
    given = change.patient or ExternalPatient()
    if given.external_id:
        found = (
            await session.exec(
                select(Patient).where(
                    Patient.clinic_id == clinic_id,
                    Patient.external_ehr_index == blind_index("ehr_id", given.external_id),
                )
            )
        ).first()
        if found is not None:
            return found
    identified = bool(given.first_name and given.last_name and given.date_of_birth)
    if identified:
        assert given.first_name and given.last_name and given.date_of_birth
        try:
            index = identity_index(given.first_name, given.last_name, given.date_of_birth)
        except ValueError as exc:
            raise InvalidExternalAppointment("the patient's date of birth is not a date") from exc
        found = (
            await session.exec(
                select(Patient).where(
                    Patient.clinic_id == clinic_id, Patient.identity_index == index
                )
            )
        ).first()
        if found is not None:
            if given.external_id and not found.external_ehr_id:
                found.external_ehr_id = given.external_id
                session.add(found)
                await _audit(session, change, found, audit.Action.UPDATE)
            return found
        patient = Patient(
            clinic_id=clinic_id,
            first_name=given.first_name.strip(),
            last_name=given.last_name.strip(),
            date_of_birth=given.date_of_birth,
            phone=given.phone,
            external_ehr_id=given.external_id,
        )
    else:
        placeholder = f"{change.source}:unidentified"
        found = (
            await session.exec(
                select(Patient).where(
                    Patient.clinic_id == clinic_id,
                    Patient.external_ehr_index == blind_index("ehr_id", placeholder),
                )
            )
        ).first()
        if found is not None:
            return found
        patient = Patient(
            clinic_id=clinic_id,
            first_name="Unidentified",
            last_name=f"{change.source} patient",
            date_of_birth=_UNIDENTIFIED_DOB,
            external_ehr_id=placeholder,
        )
    session.add(patient)
    await session.flush()
    await _audit(session, change, patient, audit.Action.CREATE)
    return patient


async def _audit(
    session: AsyncSession, change: ExternalAppointment, patient: Patient, action: str
) -> None:
    await audit.system_access(
        session,
        f"{change.source}-schedule",
        clinic_id=patient.clinic_id,
        record_type="patient",
        record_id=patient.id,
        action=action,
        detail={"external_appointment": change.external_id},
    )


async def _appointment_type(
    session: AsyncSession, clinic_id: str, provider_id: str, code: str | None
) -> AppointmentType:
    """Our type for ``code``; otherwise one the provider offers (the times come from the
    external system, so the type only labels the visit)."""
    base = select(AppointmentType).where(AppointmentType.clinic_id == clinic_id)
    if code:
        found = (await session.exec(base.where(AppointmentType.code == code))).first()
        if found is not None:
            return found
    offered = (
        await session.exec(
            base.join(
                AppointmentTypeProvider,
                col(AppointmentTypeProvider.appointment_type_id) == AppointmentType.id,
            )
            .where(AppointmentTypeProvider.provider_id == provider_id)
            .order_by(col(AppointmentType.active).desc(), AppointmentType.code)
        )
    ).first()
    fallback = offered or (await session.exec(base.order_by(AppointmentType.code))).first()
    if fallback is None:
        raise NotFound("the clinic has no appointment types")
    return fallback


async def _release_holds(session: AsyncSession, hold_ids: Sequence[str]) -> None:
    await session.exec(delete(SlotClaim).where(col(SlotClaim.hold_id).in_(hold_ids)))
    for hold_id in hold_ids:
        hold = await session.get(SlotHold, hold_id)
        if hold is not None and hold.status == HoldStatus.ACTIVE:
            hold.status = HoldStatus.RELEASED
            session.add(hold)


async def _claim(
    session: AsyncSession, appointment: Appointment, grid_minutes: int, now: datetime
) -> tuple[list[str], list[str]]:
    """Claim every free cell of the appointment; returns (our appointments it overlaps, holds
    displaced). Cells another appointment owns are left to it."""
    needed = cells(appointment.starts_at, appointment.ends_at, grid_minutes)
    taken = (
        await session.exec(
            select(SlotClaim).where(
                SlotClaim.provider_id == appointment.provider_id,
                col(SlotClaim.cell_start).in_(needed),
            )
        )
    ).all()
    mine: set[datetime] = set()
    conflicts: set[str] = set()
    blocked: set[datetime] = set()
    holds: set[str] = set()
    lapsed: list[int] = []
    for claim in taken:
        if claim.appointment_id == appointment.id:
            mine.add(claim.cell_start)
        elif claim.appointment_id is not None:
            conflicts.add(claim.appointment_id)
            blocked.add(claim.cell_start)
        elif claim.expires_at is not None and claim.expires_at <= now:
            assert claim.id is not None
            lapsed.append(claim.id)
        elif claim.hold_id is not None:
            holds.add(claim.hold_id)
    if lapsed:
        await session.exec(delete(SlotClaim).where(col(SlotClaim.id).in_(lapsed)))
    if holds:
        await _release_holds(session, sorted(holds))
    session.add_all(
        SlotClaim(provider_id=appointment.provider_id, cell_start=c, appointment_id=appointment.id)
        for c in needed
        if c not in mine and c not in blocked
    )
    await session.flush()
    if conflicts:
        # Two appointments of the external system overlapping is its own (over)booking; only
        # an overlap with one of ours is a conflict for staff.
        conflicts = set(
            (
                await session.exec(
                    select(Appointment.id).where(
                        col(Appointment.id).in_(conflicts),
                        col(Appointment.external_system).is_(None),
                    )
                )
            ).all()
        )
    return sorted(conflicts), sorted(holds)


async def _conflict_task(
    session: AsyncSession, appointment: Appointment, change: ExternalAppointment, ours: list[str]
) -> str:
    key = f"{CONFLICT_TASK_KIND}-{appointment.clinic_id}-{change.source}-{change.external_id}-"
    key += appointment.starts_at.strftime("%Y%m%dT%H%M")
    existing = (
        await session.exec(select(StaffTask).where(StaffTask.idempotency_key == key))
    ).first()
    if existing is not None:
        return existing.id
    task = StaffTask(
        clinic_id=appointment.clinic_id,
        kind=CONFLICT_TASK_KIND,
        title="An appointment made in the EHR overlaps one booked here",
        detail=(
            f"The {change.source} appointment {change.external_id} (local {appointment.id}) "
            f"overlaps appointment(s) {', '.join(ours)}. Both are kept; please resolve."
        ),
        idempotency_key=key,
        appointment_id=ours[0],
    )
    session.add(task)
    await session.flush()
    return task.id


def _is_orphan(existing: Appointment | None, change: ExternalAppointment) -> bool:
    """The external system holds, as booked, one of *our* appointments that failed or was
    cancelled here (the saga compensated after the write had landed, or a cancel never reached
    it). The patient was told it is not happening, so it must not come back as booked."""
    return (
        existing is not None
        and existing.external_system is None
        and change.status == ExternalStatus.BOOKED
        and existing.status in (AppointmentStatus.FAILED, AppointmentStatus.CANCELLED)
    )


async def _orphan_task(
    session: AsyncSession, appointment: Appointment, change: ExternalAppointment
) -> str:
    key = f"{ORPHAN_TASK_KIND}-{appointment.clinic_id}-{change.source}-{change.external_id}"
    existing = (
        await session.exec(select(StaffTask.id).where(StaffTask.idempotency_key == key))
    ).first()
    if existing is not None:
        return existing
    task = StaffTask(
        clinic_id=appointment.clinic_id,
        kind=ORPHAN_TASK_KIND,
        title=f"The EHR still holds a booking that is {appointment.status} here",
        detail=(
            f"The {change.source} appointment {change.external_id} is booked in the EHR, but our "
            f"appointment {appointment.id} is {appointment.status} and the patient was told so. "
            "Cancel it in the EHR, or rebook it here with the patient."
        ),
        idempotency_key=key,
        appointment_id=appointment.id,
    )
    session.add(task)
    await session.flush()
    return task.id


async def _apply_in(
    session: AsyncSession, clinic_id: str, change: ExternalAppointment, now: datetime
) -> ApplyResult:
    clinic = await load_clinic(session, clinic_id)
    existing = await _find(session, clinic_id, change)
    if change.status != ExternalStatus.BOOKED:
        if existing is None:
            return ApplyResult("ignored", None)
        if change.status == ExternalStatus.CANCELLED:
            if existing.status == AppointmentStatus.CANCELLED:
                return ApplyResult("unchanged", existing.id)
            await cancel_appointment(
                session, existing.id, change.reason or f"cancelled in {change.source}", now=now
            )
            return ApplyResult("cancelled", existing.id)
        if existing.status == AppointmentStatus.NO_SHOW:
            return ApplyResult("unchanged", existing.id)
        await free_appointment_time(session, existing.id)
        existing.status, existing.updated_at = AppointmentStatus.NO_SHOW, now
        session.add(existing)
        return ApplyResult("noshow", existing.id)

    if existing is not None and _is_orphan(existing, change):
        orphan_task = await _orphan_task(session, existing, change)
        return ApplyResult("orphaned", existing.id, staff_task_id=orphan_task)

    provider = await resolve_provider(session, clinic_id, change.provider_ref)
    starts_at, ends_at = change.starts_at.astimezone(UTC), change.ends_at.astimezone(UTC)
    action: Action
    if existing is None:
        patient = await _patient(session, clinic_id, change)
        kind = await _appointment_type(session, clinic_id, provider.id, change.appointment_type)
        appointment = Appointment(
            clinic_id=clinic_id,
            patient_id=patient.id,
            provider_id=provider.id,
            appointment_type_id=kind.id,
            starts_at=starts_at,
            ends_at=ends_at,
            status=AppointmentStatus.BOOKED,
            source=AppointmentSource.EHR_SYNC,
            external_ehr_id=change.external_id,
            external_system=change.source,
        )
        session.add(appointment)
        await session.flush()
        action = "created"
    else:
        appointment = existing
        moved = (appointment.provider_id, appointment.starts_at, appointment.ends_at) != (
            provider.id,
            starts_at,
            ends_at,
        )
        revived = appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.PENDING)
        if moved or revived:
            await free_appointment_time(session, appointment.id)
            appointment.provider_id, appointment.starts_at, appointment.ends_at = (
                provider.id,
                starts_at,
                ends_at,
            )
            appointment.status = AppointmentStatus.BOOKED
            appointment.cancel_reason = None
            appointment.updated_at = now
            session.add(appointment)
            await session.flush()
        if change.appointment_type and not moved:
            kind = await _appointment_type(session, clinic_id, provider.id, change.appointment_type)
            appointment.appointment_type_id = kind.id
        action = "moved" if moved else "updated" if revived else "unchanged"
    conflicts, displaced = await _claim(session, appointment, clinic.grid_minutes, now)
    task_id = await _conflict_task(session, appointment, change, conflicts) if conflicts else None
    return ApplyResult(action, appointment.id, tuple(conflicts), tuple(displaced), task_id)


async def apply_external_appointment(
    db: Database, clinic_id: str, change: ExternalAppointment, *, now: datetime | None = None
) -> ApplyResult:
    """Make the local schedule agree with ``change``, in one transaction."""
    _validate(change)
    now = now or datetime.now(UTC)
    attempt = 0
    while True:
        attempt += 1
        try:
            async with db.write() as session:
                result = await _apply_in(session, clinic_id, change, now)
            break
        except IntegrityError:
            if attempt >= _RACE_ATTEMPTS:
                raise
    log.info(
        "external appointment applied",
        extra={
            "clinic_id": clinic_id,
            "source": change.source,
            "external_id": change.external_id,
            "action": result.action,
            "appointment_id": result.appointment_id,
            "conflicts": len(result.conflicts),
            "displaced_holds": len(result.displaced_holds),
        },
    )
    return result


async def remove_external_appointment(
    db: Database,
    clinic_id: str,
    source: str,
    external_id: str,
    *,
    reason: str | None = None,
    local_appointment_id: str | None = None,
    now: datetime | None = None,
) -> ApplyResult:
    """The external system cancelled or deleted the appointment: free its time (idempotent;
    an appointment we never saw is ``ignored``)."""
    now = now or datetime.now(UTC)
    change = ExternalAppointment(
        external_id=external_id,
        source=source,
        provider_ref="",
        starts_at=now,
        ends_at=now,
        status=ExternalStatus.CANCELLED,
        local_appointment_id=local_appointment_id,
        reason=reason,
    )
    async with db.write() as session:
        result = await _apply_in(session, clinic_id, change, now)
    log.info(
        "external appointment removed",
        extra={
            "clinic_id": clinic_id,
            "source": source,
            "external_id": external_id,
            "action": result.action,
        },
    )
    return result
