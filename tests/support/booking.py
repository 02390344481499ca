"""Small helpers for booking tests: a free slot now, a seeded patient, a clinic's adapters."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.db import Database
from core.models import Clinic, Patient
from core.scheduling import Slot, SlotQuery, find_slots
from core.security.crypto import blind_index


async def free_slots(
    db: Database, clinic_id: str, code: str = "cleaning", count: int = 1
) -> list[Slot]:
    """``count`` bookable slots that do not overlap each other (buffers included)."""
    async with db.read() as session:
        candidates = await find_slots(session, clinic_id, SlotQuery(code, limit=200))
    chosen: list[Slot] = []
    for slot in candidates:
        if all(
            slot.starts_at >= c.ends_at + timedelta(minutes=30) or slot.provider_id != c.provider_id
            for c in chosen
        ):
            chosen.append(slot)
        if len(chosen) == count:
            break
    assert len(chosen) == count
    return chosen


async def seeded_patient(db: Database, last_name: str = "Rivera") -> Patient:
    async with db.read() as session:
        return (
            await session.exec(
                select(Patient).where(Patient.last_name_index == blind_index("name", last_name))
            )
        ).one()


async def use_adapter(db: Database, clinic_id: str, kind: str, name: str) -> None:
    async with db.write() as session:
        clinic = await session.get(Clinic, clinic_id)
        assert clinic is not None
        clinic.adapters = {**clinic.adapters, kind: {"name": name}}
        session.add(clinic)
