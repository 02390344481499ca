"""Who a campaign contacts, and why: one query per audience.

- ``hygiene_recall``: the last hygiene visit (``recall_types``) is older than ``recall_months``
  and nothing is booked ahead;
- ``unconfirmed_tomorrow``: appointments tomorrow (clinic time) nobody has confirmed;
- ``no_shows_last_week``: missed an appointment in the last 7 days and has not rebooked.

Reasons are short and carry no clinical detail; they are shown in previews and progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from core.campaigns.config import OutreachConfig
from core.models import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Clinic,
    OutreachAttempt,
    OutreachTarget,
    TargetStatus,
)

# Which template each audience uses unless the campaign names its own text.
DEFAULT_TEMPLATE = {
    "hygiene_recall": "recall",
    "unconfirmed_tomorrow": "confirm",
    "no_shows_last_week": "no_show",
}
# Audiences whose targets are appointments: their templates may name the appointment time.
ABOUT_APPOINTMENTS = {"unconfirmed_tomorrow"}


@dataclass(frozen=True)
class Target:
    patient_id: str
    reason: str
    appointment_id: str | None = None


Query = Callable[[AsyncSession, Clinic, OutreachConfig, datetime, int], Awaitable[list[Target]]]


class UnknownAudience(ValueError):
    pass


def _booked_ahead(now: datetime) -> SelectOfScalar[str]:
    """Patients with an appointment still to come (a subquery of patient ids)."""
    return select(Appointment.patient_id).where(
        col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES), Appointment.starts_at > now
    )


async def hygiene_recall(
    session: AsyncSession, clinic: Clinic, config: OutreachConfig, now: datetime, limit: int
) -> list[Target]:
    cutoff = now - timedelta(days=round(config.recall_months * 30.44))
    last_visit = func.max(Appointment.starts_at)
    rows = await session.exec(
        select(Appointment.patient_id, last_visit)
        .join(AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id)
        .where(
            Appointment.clinic_id == clinic.id,
            col(AppointmentType.code).in_(config.recall_types),
            col(Appointment.status).in_((AppointmentStatus.COMPLETED, AppointmentStatus.BOOKED)),
            Appointment.starts_at < now,
            col(Appointment.patient_id).not_in(_booked_ahead(now)),
        )
        .group_by(col(Appointment.patient_id))
        .having(last_visit < cutoff)
        .order_by(last_visit, col(Appointment.patient_id))
        .limit(limit)
    )
    return [
        Target(patient_id, f"hygiene recall due: last visit over {config.recall_months} months ago")
        for patient_id, _ in rows.all()
    ]


async def unconfirmed_tomorrow(
    session: AsyncSession, clinic: Clinic, config: OutreachConfig, now: datetime, limit: int
) -> list[Target]:
    zone = ZoneInfo(clinic.time_zone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), tzinfo=zone)
    end = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=zone)
    # Confirmed by replying C to a campaign or to a reminder.
    confirmed = select(OutreachTarget.appointment_id).where(
        OutreachTarget.clinic_id == clinic.id,
        OutreachTarget.status == TargetStatus.CONFIRMED,
        col(OutreachTarget.appointment_id).is_not(None),
    )
    replied = select(OutreachAttempt.appointment_id).where(
        OutreachAttempt.clinic_id == clinic.id,
        OutreachAttempt.kind == "reply",
        OutreachAttempt.reason == "confirmed",
        col(OutreachAttempt.appointment_id).is_not(None),
    )
    rows = await session.exec(
        select(Appointment.id, Appointment.patient_id)
        .where(
            Appointment.clinic_id == clinic.id,
            col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
            col(Appointment.id).not_in(confirmed),
            col(Appointment.id).not_in(replied),
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
        .limit(limit)
    )
    seen: set[str] = set()
    targets = []
    for appointment_id, patient_id in rows.all():
        if patient_id not in seen:  # one message per patient, even with two visits tomorrow
            seen.add(patient_id)
            targets.append(Target(patient_id, "appointment tomorrow not confirmed", appointment_id))
    return targets


async def no_shows_last_week(
    session: AsyncSession, clinic: Clinic, config: OutreachConfig, now: datetime, limit: int
) -> list[Target]:
    rows = await session.exec(
        select(Appointment.patient_id, func.max(Appointment.starts_at))
        .where(
            Appointment.clinic_id == clinic.id,
            Appointment.status == AppointmentStatus.NO_SHOW,
            Appointment.starts_at >= now - timedelta(days=7),
            Appointment.starts_at < now,
            col(Appointment.patient_id).not_in(_booked_ahead(now)),
        )
        .group_by(col(Appointment.patient_id))
        .order_by(col(Appointment.patient_id))
        .limit(limit)
    )
    return [Target(pid, "missed a visit in the last week, not rebooked") for pid, _ in rows.all()]


AUDIENCES: dict[str, Query] = {
    "hygiene_recall": hygiene_recall,
    "unconfirmed_tomorrow": unconfirmed_tomorrow,
    "no_shows_last_week": no_shows_last_week,
}


async def find_targets(
    session: AsyncSession,
    clinic: Clinic,
    audience: str,
    config: OutreachConfig,
    now: datetime,
    limit: int,
) -> list[Target]:
    query = AUDIENCES.get(audience)
    if query is None:
        raise UnknownAudience(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    return await query(session, clinic, config, now, limit)
