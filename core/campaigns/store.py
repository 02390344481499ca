"""Outreach records in the database: opt-outs, what was sent to whom, the send-rate buckets."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.campaigns.phones import phone_key
from core.db import Database
from core.models import (
    AttemptStatus,
    OptOut,
    OutreachAttempt,
    Patient,
    SendBucket,
)

# Attempts that reached the patient and count toward the daily and weekly caps.
COUNTED = (
    AttemptStatus.SENT,
    AttemptStatus.DELIVERED,
    AttemptStatus.ANSWERED,
    AttemptStatus.VOICEMAIL,
)
CAPPED_KINDS = ("reminder", "recall", "confirm", "no_show")


async def is_opted_out(session: AsyncSession, clinic_id: str, phone: str) -> bool:
    found = await session.exec(
        select(OptOut.id).where(
            OptOut.clinic_id == clinic_id, OptOut.phone_index == phone_key(phone)
        )
    )
    return found.first() is not None


async def record_opt_out(db: Database, clinic_id: str, phone: str, keyword: str) -> bool:
    """Record that ``phone`` opted out of this clinic's messages, and flag its patients.
    True when it is new; safe to repeat (a retried webhook)."""
    index = phone_key(phone)
    try:
        async with db.write() as session:
            session.add(OptOut(clinic_id=clinic_id, phone_index=index, keyword=keyword[:32]))
            await _flag_patients(session, clinic_id, index, opted_out=True)
    except IntegrityError:
        return False
    return True


async def clear_opt_out(db: Database, clinic_id: str, phone: str) -> bool:
    """START: the number opted back in."""
    index = phone_key(phone)
    async with db.write() as session:
        row = (
            await session.exec(
                select(OptOut).where(OptOut.clinic_id == clinic_id, OptOut.phone_index == index)
            )
        ).first()
        if row is None:
            return False
        await session.delete(row)
        await _flag_patients(session, clinic_id, index, opted_out=False)
    return True


async def _flag_patients(
    session: AsyncSession, clinic_id: str, index: str, *, opted_out: bool
) -> None:
    await session.exec(
        update(Patient)
        .where(col(Patient.clinic_id) == clinic_id, col(Patient.phone_index) == index)
        .values(sms_opt_out=opted_out)
    )


async def sent_times(session: AsyncSession, patient_id: str, since: datetime) -> list[datetime]:
    rows = await session.exec(
        select(OutreachAttempt.created_at).where(
            OutreachAttempt.patient_id == patient_id,
            col(OutreachAttempt.kind).in_(CAPPED_KINDS),
            col(OutreachAttempt.status).in_(COUNTED),
            OutreachAttempt.created_at >= since,
        )
    )
    return list(rows.all())


async def take_send_slot(
    db: Database, clinic_id: str, channel: str, now: datetime, per_minute: int
) -> timedelta | None:
    """Claim one send in this clinic's current minute: None when granted, else how long to
    wait for the next minute. A conditional increment, so concurrent workers never overshoot."""
    minute = now.replace(second=0, microsecond=0)
    wait = minute + timedelta(minutes=1) - now
    for _ in range(2):
        async with db.write() as session:
            result = await session.exec(
                update(SendBucket)
                .where(
                    col(SendBucket.clinic_id) == clinic_id,
                    col(SendBucket.channel) == channel,
                    col(SendBucket.minute) == minute,
                    col(SendBucket.count) < per_minute,
                )
                .values(count=col(SendBucket.count) + 1)
            )
            if result.rowcount:
                return None
            exists = (
                await session.exec(
                    select(SendBucket.id).where(
                        SendBucket.clinic_id == clinic_id,
                        SendBucket.channel == channel,
                        SendBucket.minute == minute,
                    )
                )
            ).first()
            if exists is not None:
                return wait
        try:
            async with db.write() as session:
                session.add(
                    SendBucket(clinic_id=clinic_id, channel=channel, minute=minute, count=1)
                )
            return None
        except IntegrityError:  # another worker opened this minute first: count against it
            continue
    return wait


async def attempt_by_key(session: AsyncSession, key: str) -> OutreachAttempt | None:
    found = await session.exec(
        select(OutreachAttempt).where(OutreachAttempt.idempotency_key == key)
    )
    return found.first()


async def save_attempt(db: Database, attempt: OutreachAttempt) -> OutreachAttempt:
    """Insert once per idempotency key; a retry gets the row the first try wrote."""
    try:
        async with db.write() as session:
            session.add(attempt)
    except IntegrityError:
        async with db.read() as session:
            existing = await attempt_by_key(session, attempt.idempotency_key)
        assert existing is not None
        return existing
    return attempt
