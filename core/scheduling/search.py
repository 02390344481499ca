"""Find bookable slots: the only source of availability the receptionist may offer."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import (
    AppointmentType,
    AppointmentTypeProvider,
    Clinic,
    ClinicHoliday,
    Provider,
    ProviderSchedule,
    ScheduleException,
    SlotClaim,
)
from core.scheduling.availability import (
    Override,
    SlotShape,
    WeeklyRule,
    free_starts,
    working_windows,
)


class SchedulingError(ValueError):
    """A request the schedule cannot serve, with a message fit to explain to a caller or user."""

    code = "scheduling_error"


class NotFound(SchedulingError):
    code = "not_found"


class NotOffered(SchedulingError):
    code = "not_offered"


DAY_PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), time(23, 59)),
}


@dataclass(frozen=True)
class SlotQuery:
    appointment_type: str  # code ("cleaning") or id
    provider_id: str | None = None
    first_day: date | None = None  # clinic-local dates, inclusive
    last_day: date | None = None
    earliest: time | None = None  # clinic-local start-time bounds
    latest: time | None = None
    weekdays: frozenset[int] | None = None  # 0 = Monday
    patient_is_new: bool | None = None
    limit: int = 5

    @classmethod
    def for_day_part(cls, appointment_type: str, part: str, **kwargs: object) -> SlotQuery:
        if part not in DAY_PARTS:
            raise SchedulingError(f"unknown part of day {part!r}; use {', '.join(DAY_PARTS)}")
        earliest, latest = DAY_PARTS[part]
        return cls(appointment_type, earliest=earliest, latest=latest, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Slot:
    provider_id: str
    provider_name: str
    appointment_type_id: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC, end of the visit (buffer excluded)
    time_zone: str = field(repr=False)

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.time_zone))


async def load_clinic(session: AsyncSession, clinic_id: str) -> Clinic:
    clinic = await session.get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound(f"unknown clinic {clinic_id!r}")
    return clinic


async def load_appointment_type(session: AsyncSession, clinic_id: str, ref: str) -> AppointmentType:
    kind = (
        await session.exec(
            select(AppointmentType).where(
                AppointmentType.clinic_id == clinic_id,
                AppointmentType.active == True,  # noqa: E712
                or_(AppointmentType.code == ref, AppointmentType.id == ref),
            )
        )
    ).first()
    if kind is None:
        raise NotFound(f"this clinic does not offer appointment type {ref!r}")
    return kind


async def offering_providers(
    session: AsyncSession, kind: AppointmentType, provider_id: str | None
) -> list[Provider]:
    query = (
        select(Provider)
        .join(AppointmentTypeProvider, col(AppointmentTypeProvider.provider_id) == Provider.id)
        .where(
            AppointmentTypeProvider.appointment_type_id == kind.id,
            Provider.active == True,  # noqa: E712
        )
        .order_by(Provider.name)
    )
    if provider_id is not None:
        query = query.where(Provider.id == provider_id)
    providers = list((await session.exec(query)).all())
    if provider_id is not None and not providers:
        raise NotOffered(f"that provider does not offer {kind.name}")
    return providers


async def provider_windows(
    session: AsyncSession,
    clinic: Clinic,
    provider_ids: list[str],
    first_day: date,
    last_day: date,
) -> dict[str, list[tuple[datetime, datetime]]]:
    tz = ZoneInfo(clinic.time_zone)
    holidays: set[date] = set(
        (
            await session.exec(
                select(col(ClinicHoliday.day)).where(
                    ClinicHoliday.clinic_id == clinic.id,
                    col(ClinicHoliday.day) >= first_day,
                    col(ClinicHoliday.day) <= last_day,
                )
            )
        ).all()
    )
    rules: dict[str, list[WeeklyRule]] = {pid: [] for pid in provider_ids}
    for row in (
        await session.exec(
            select(ProviderSchedule).where(col(ProviderSchedule.provider_id).in_(provider_ids))
        )
    ).all():
        rules[row.provider_id].append(
            WeeklyRule(row.weekday, row.start_time, row.end_time, row.valid_from, row.valid_until)
        )
    range_start = datetime.combine(first_day, time(0), tzinfo=tz)
    range_end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
    overrides: dict[str, list[Override]] = {pid: [] for pid in provider_ids}
    for exc in (
        await session.exec(
            select(ScheduleException).where(
                col(ScheduleException.provider_id).in_(provider_ids),
                col(ScheduleException.ends_at) > range_start,
                col(ScheduleException.starts_at) < range_end,
            )
        )
    ).all():
        overrides[exc.provider_id].append(Override(exc.starts_at, exc.ends_at, exc.available))
    return {
        pid: working_windows(rules[pid], overrides[pid], holidays, tz, first_day, last_day)
        for pid in provider_ids
    }


async def busy_cells(
    session: AsyncSession,
    provider_ids: list[str],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str, set[datetime]]:
    """Cells held by appointments or by holds that have not expired."""
    rows = await session.exec(
        select(SlotClaim.provider_id, SlotClaim.cell_start).where(
            col(SlotClaim.provider_id).in_(provider_ids),
            col(SlotClaim.cell_start) >= start,
            col(SlotClaim.cell_start) < end,
            or_(col(SlotClaim.expires_at).is_(None), col(SlotClaim.expires_at) > now),
        )
    )
    busy: dict[str, set[datetime]] = {pid: set() for pid in provider_ids}
    for provider_id, cell in rows.all():
        busy[provider_id].add(cell)
    return busy


def booking_bounds(clinic: Clinic, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest start a caller may book."""
    return (
        now + timedelta(minutes=clinic.min_notice_minutes),
        now + timedelta(days=clinic.booking_horizon_days),
    )


async def find_slots(
    session: AsyncSession, clinic_id: str, query: SlotQuery, *, now: datetime | None = None
) -> list[Slot]:
    """Bookable slots for ``query``, earliest first, at most ``query.limit``."""
    now = now or datetime.now(UTC)
    clinic = await load_clinic(session, clinic_id)
    kind = await load_appointment_type(session, clinic_id, query.appointment_type)
    if kind.new_patients_only and query.patient_is_new is False:
        raise NotOffered(f"{kind.name} is for new patients only")
    providers = await offering_providers(session, kind, query.provider_id)
    if not providers:
        return []
    tz = ZoneInfo(clinic.time_zone)
    not_before, not_after = booking_bounds(clinic, now)
    first_day = max(
        query.first_day or not_before.astimezone(tz).date(), not_before.astimezone(tz).date()
    )
    last_day = min(
        query.last_day or not_after.astimezone(tz).date(), not_after.astimezone(tz).date()
    )
    if last_day < first_day:
        return []
    provider_ids = [p.id for p in providers]
    windows = await provider_windows(session, clinic, provider_ids, first_day, last_day)
    range_start = datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC)
    range_end = datetime.combine(last_day + timedelta(days=2), time(0), tzinfo=tz).astimezone(UTC)
    busy = await busy_cells(session, provider_ids, range_start, range_end, now)
    shape = SlotShape(
        kind.duration_minutes,
        kind.buffer_after_minutes,
        clinic.slot_step_minutes,
        clinic.grid_minutes,
    )

    def matches(start: datetime) -> bool:
        local = start.astimezone(tz)
        if query.weekdays is not None and local.weekday() not in query.weekdays:
            return False
        if query.earliest is not None and local.time() < query.earliest:
            return False
        return query.latest is None or local.time() < query.latest

    def provider_slots(provider: Provider):  # type: ignore[no-untyped-def]
        for start in free_starts(
            windows[provider.id], busy[provider.id], shape, tz, not_before, not_after
        ):
            if matches(start):
                yield Slot(
                    provider.id,
                    provider.name,
                    kind.id,
                    start,
                    start + timedelta(minutes=kind.duration_minutes),
                    clinic.time_zone,
                )

    merged = heapq.merge(
        *(provider_slots(p) for p in providers), key=lambda s: (s.starts_at, s.provider_name)
    )
    out: list[Slot] = []
    for slot in merged:
        out.append(slot)
        if len(out) >= query.limit:
            break
    return out
