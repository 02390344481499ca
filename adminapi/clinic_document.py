"""A clinic as its configuration document, so every edit through the API goes through the same
validation as onboarding (``core.clinic_config``): read the document, change it, validate the
whole, apply it, in one transaction. A refused edit changes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adminapi.auth import not_found
from core.clinic_config import ENGINES_KEY, WEEKDAYS, apply_clinic_config, parse_clinic_config
from core.db import Database
from core.models import (
    AppointmentType,
    AppointmentTypeProvider,
    Clinic,
    ClinicHoliday,
    ClinicPhoneNumber,
    OutreachSettings,
    Provider,
    ProviderSchedule,
    ScheduleException,
)

Document = dict[str, Any]

_SETTINGS = (
    "slug", "name", "time_zone", "specialty", "address", "agent_name", "greeting", "voice",
    "max_call_seconds", "transfer_number", "emergency_number", "emergency_instructions",
    "business_hours", "faq", "accepted_insurance", "slot_step_minutes",
    "grid_minutes", "min_notice_minutes", "booking_horizon_days", "hold_ttl_seconds",
    "recording_retention_days", "transcript_retention_days",
)  # fmt: skip


async def load_document(session: AsyncSession, clinic_id: str) -> Document:
    clinic = await session.get(Clinic, clinic_id)
    if clinic is None:
        raise not_found("clinic not found")
    doc: Document = {field: getattr(clinic, field) for field in _SETTINGS}
    # The engine choice is stored among the adapters but configured as its own section.
    doc["adapters"] = dict(clinic.adapters)
    doc["engines"] = doc["adapters"].pop(ENGINES_KEY, None) or {}
    outreach = await session.get(OutreachSettings, clinic_id)
    doc["outreach"] = outreach.config if outreach else {}
    holidays = await session.exec(
        select(ClinicHoliday)
        .where(ClinicHoliday.clinic_id == clinic_id)
        .order_by(col(ClinicHoliday.day))
    )
    doc["holidays"] = [{"day": h.day.isoformat(), "name": h.name} for h in holidays]
    numbers = await session.exec(
        select(ClinicPhoneNumber).where(ClinicPhoneNumber.clinic_id == clinic_id)
    )
    doc["phone_numbers"] = sorted(n.e164 for n in numbers)
    providers = (
        await session.exec(
            select(Provider).where(Provider.clinic_id == clinic_id, col(Provider.active))
        )
    ).all()
    key_of = {p.id: p.key for p in providers}
    ids = list(key_of)
    weekly: dict[str, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    for row in await session.exec(
        select(ProviderSchedule)
        .where(col(ProviderSchedule.provider_id).in_(ids))
        .order_by(col(ProviderSchedule.start_time))
    ):
        weekly[row.provider_id][WEEKDAYS[row.weekday]].append(
            [f"{row.start_time:%H:%M}", f"{row.end_time:%H:%M}"]
        )
    time_off: dict[str, list[Document]] = defaultdict(list)
    for off in await session.exec(
        select(ScheduleException)
        .where(col(ScheduleException.provider_id).in_(ids))
        .order_by(col(ScheduleException.starts_at))
    ):
        time_off[off.provider_id].append(
            {
                "starts_at": off.starts_at.isoformat(),
                "ends_at": off.ends_at.isoformat(),
                "reason": off.reason,
                "available": off.available,
            }
        )
    doc["providers"] = [
        {
            "key": p.key,
            "name": p.name,
            "title": p.title,
            "weekly": {day: list(v) for day, v in weekly[p.id].items()},
            "time_off": time_off[p.id],
            "external_ehr_id": p.external_ehr_id,
        }
        for p in sorted(providers, key=lambda p: p.key)
    ]
    kinds = (
        await session.exec(
            select(AppointmentType).where(
                AppointmentType.clinic_id == clinic_id, col(AppointmentType.active)
            )
        )
    ).all()
    offered: dict[str, list[str]] = defaultdict(list)
    for link in await session.exec(
        select(AppointmentTypeProvider).where(
            col(AppointmentTypeProvider.appointment_type_id).in_([k.id for k in kinds])
        )
    ):
        if link.provider_id in key_of:
            offered[link.appointment_type_id].append(key_of[link.provider_id])
    doc["appointment_types"] = [
        {
            "code": k.code,
            "name": k.name,
            "duration_minutes": k.duration_minutes,
            "buffer_after_minutes": k.buffer_after_minutes,
            "new_patients_only": k.new_patients_only,
            "providers": sorted(offered[k.id]),
            "synonyms": list(k.synonyms),
        }
        for k in sorted(kinds, key=lambda k: k.code)
    ]
    return doc


@asynccontextmanager
async def editing(db: Database, clinic_id: str) -> AsyncIterator[Document]:
    """Yield the clinic's document to change in place; on exit it is validated and applied
    (``ClinicConfigError`` if refused, and nothing is written)."""
    async with db.write() as session:
        doc = await load_document(session, clinic_id)
        yield doc
        await apply_clinic_config(session, parse_clinic_config(doc))


async def edit(db: Database, clinic_id: str, change: Callable[[Document], None]) -> None:
    async with editing(db, clinic_id) as doc:
        change(doc)
