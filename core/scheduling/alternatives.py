"""Other times to offer when the time a patient chose was taken in the EHR.

Same visit type, nearest to the time they asked for, their provider first and then anyone who
offers the visit. Everything comes from ``find_slots``, so an alternative is only ever a time
the receptionist could book right now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Appointment
from core.scheduling.search import SchedulingError, Slot, SlotQuery, find_slots, load_clinic

# How far either side of the requested day to look, and how many candidates to rank.
NEAR_DAYS = 3
_CANDIDATES = 1000


async def nearby_slots(
    session: AsyncSession, taken: Appointment, *, limit: int = 3, now: datetime | None = None
) -> list[Slot]:
    """Up to ``limit`` free slots for ``taken``'s visit type near its time, never overlapping
    it with the same provider (the EHR said that time is gone even if our view still shows it
    free). Empty when the visit type is no longer offered."""
    clinic = await load_clinic(session, taken.clinic_id)
    day = taken.starts_at.astimezone(ZoneInfo(clinic.time_zone)).date()

    async def search(provider_id: str | None) -> list[Slot]:
        query = SlotQuery(
            taken.appointment_type_id,
            provider_id=provider_id,
            first_day=day - timedelta(days=NEAR_DAYS),
            last_day=day + timedelta(days=NEAR_DAYS),
            limit=_CANDIDATES,
        )
        try:
            return await find_slots(session, taken.clinic_id, query, now=now)
        except SchedulingError:  # the provider or the visit type is no longer offered
            return []

    def distance(slot: Slot) -> timedelta:
        return abs(slot.starts_at - taken.starts_at)

    def overlaps_taken(slot: Slot) -> bool:
        return (
            slot.provider_id == taken.provider_id
            and slot.starts_at < taken.ends_at
            and slot.ends_at > taken.starts_at
        )

    same = sorted(await search(taken.provider_id), key=distance)
    others = sorted(
        (s for s in await search(None) if s.provider_id != taken.provider_id), key=distance
    )
    return [s for s in (*same, *others) if not overlaps_taken(s)][:limit]
