"""Helpers for outreach tests: patients due a recall, outreach settings, signed SMS webhooks,
and waiting on campaigns."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from core.campaigns.config import OutreachConfig
from core.db import Database
from core.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    OutboxMessage,
    OutreachSettings,
    Patient,
    Provider,
)
from durable.campaigns import Campaigns, Progress
from realtime.twilio_security import sign
from workflows.outreach_types import Window

ALWAYS_OPEN = Window("00:00", "23:59:59", "UTC")
CLINIC_NUMBER = "+12075550100"


async def configure_outreach(db: Database, clinic_id: str, **settings: Any) -> None:
    config = OutreachConfig.model_validate({"sms_per_minute": 6000, **settings})
    async with db.write() as session:
        await session.merge(
            OutreachSettings(clinic_id=clinic_id, config=config.model_dump(mode="json"))
        )


async def add_recall_patients(
    db: Database, clinic_id: str, count: int, *, first_phone: int = 2075560000
) -> list[str]:
    """``count`` patients whose last cleaning was eight months ago, with nothing booked."""
    async with db.read() as session:
        cleaning = (
            await session.exec(
                select(AppointmentType).where(
                    AppointmentType.clinic_id == clinic_id, AppointmentType.code == "cleaning"
                )
            )
        ).one()
        provider = (
            await session.exec(select(Provider).where(Provider.clinic_id == clinic_id))
        ).first()
    assert provider is not None
    visit = datetime.now(UTC).replace(microsecond=0) - timedelta(days=240)
    ids: list[str] = []
    batch = 500
    for start in range(0, count, batch):
        async with db.write() as session:
            for n in range(start, min(count, start + batch)):
                patient = Patient(
                    clinic_id=clinic_id, first_name=f"Pat{n}", last_name="Recall",
                    date_of_birth="1980-01-01", phone=f"+1{first_phone + n}",
                )  # fmt: skip
                session.add(patient)
                await session.flush()
                session.add(
                    Appointment(
                        clinic_id=clinic_id, patient_id=patient.id, provider_id=provider.id,
                        appointment_type_id=cleaning.id, starts_at=visit - timedelta(minutes=n),
                        ends_at=visit - timedelta(minutes=n) + timedelta(minutes=60),
                        status=AppointmentStatus.COMPLETED,
                    )
                )  # fmt: skip
                ids.append(patient.id)
    return ids


async def outbox_count(db: Database, **where: Any) -> int:
    query = select(func.count()).select_from(OutboxMessage)
    for name, value in where.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    async with db.read() as session:
        return int((await session.exec(query)).one())


async def sms_to(db: Database, phone: str) -> list[OutboxMessage]:
    """Messages to ``phone`` (recipients are encrypted: compared after decryption)."""
    async with db.read() as session:
        rows = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.channel == "sms"))
        ).all()
    return [r for r in rows if r.recipient == phone]


async def wait_until(predicate, timeout: float = 60.0, every: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(every)


async def finished(
    campaigns: Campaigns, clinic_id: str, campaign_id: str, timeout: float = 120.0
) -> Progress:
    result: list[Progress] = []

    async def done() -> bool:
        progress = await campaigns.progress(clinic_id, campaign_id)
        result[:] = [progress]
        return progress.status in ("completed", "cancelled", "failed")

    await wait_until(done, timeout, every=0.25)
    return result[0]


async def post_signed(
    base_url: str, token: str, path: str, params: dict[str, str], *, signature: str | None = None
) -> httpx.Response:
    url = f"{base_url}{path}"
    async with httpx.AsyncClient() as client:
        return await client.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": signature or sign(token, url, params)},
        )
