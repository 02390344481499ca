"""The interface's memory, in our database (``Hl7Message``): which control ids were sent and
how the EHR answered, and which inbound control ids were already applied.

Placer ids are our appointment ids (UUIDs), unique across clinics, so an appointment's history
can be found from its placer id alone.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.db import Database
from core.models import Hl7Message, MessageDirection

CONTROL_ID_LENGTH = 20  # MSH-10 is ST(20) up to v2.6


def control_id(key: str, event: str) -> str:
    """MSH-10 derived from what the message is for, so a retried activity re-sends the same
    control id and the receiver can de-duplicate it."""
    digest = hashlib.sha256(f"{key}|{event}".encode()).digest()
    return base64.b32encode(digest).decode("ascii")[:CONTROL_ID_LENGTH]


@dataclass(frozen=True)
class Outbound:
    clinic_id: str
    control_id: str
    event: str
    placer_id: str
    status: str
    starts_at: datetime
    ends_at: datetime
    patient_id: str | None
    provider_ref: str
    service_code: str


async def sent(db: Database, clinic_id: str, control: str) -> Hl7Message | None:
    async with db.read() as session:
        return (
            await session.exec(
                select(Hl7Message).where(
                    Hl7Message.clinic_id == clinic_id,
                    Hl7Message.direction == MessageDirection.OUTBOUND,
                    Hl7Message.control_id == control,
                )
            )
        ).first()


async def record_attempt(db: Database, message: Outbound) -> None:
    """Count one more send of ``message`` (creating its row on the first)."""
    async with db.write() as session:
        row = (
            await session.exec(
                select(Hl7Message).where(
                    Hl7Message.clinic_id == message.clinic_id,
                    Hl7Message.direction == MessageDirection.OUTBOUND,
                    Hl7Message.control_id == message.control_id,
                )
            )
        ).first()
        if row is None:
            row = Hl7Message(
                clinic_id=message.clinic_id,
                direction=MessageDirection.OUTBOUND,
                control_id=message.control_id,
                event=message.event,
                placer_id=message.placer_id,
                status=message.status,
                starts_at=message.starts_at,
                ends_at=message.ends_at,
                patient_id=message.patient_id,
                provider_ref=message.provider_ref,
                service_code=message.service_code,
            )
        row.attempts += 1
        session.add(row)


async def record_answer(
    db: Database, clinic_id: str, control: str, ack_code: str, error_code: str | None = None
) -> None:
    async with db.write() as session:
        row = (
            await session.exec(
                select(Hl7Message).where(
                    Hl7Message.clinic_id == clinic_id,
                    Hl7Message.direction == MessageDirection.OUTBOUND,
                    Hl7Message.control_id == control,
                )
            )
        ).one()
        row.ack_code, row.error_code = ack_code, error_code
        row.acknowledged_at = datetime.now(UTC)
        session.add(row)


async def last_accepted(db: Database, placer_id: str) -> Hl7Message | None:
    """The newest outbound message about ``placer_id`` that the EHR accepted (AA)."""
    async with db.read() as session:
        return (
            await session.exec(
                select(Hl7Message)
                .where(
                    Hl7Message.placer_id == placer_id,
                    Hl7Message.direction == MessageDirection.OUTBOUND,
                    Hl7Message.ack_code == "AA",
                )
                .order_by(col(Hl7Message.acknowledged_at).desc())
            )
        ).first()


async def filler_id(db: Database, placer_id: str) -> str | None:
    """The EHR's own id for our appointment, once one of its messages told us (SCH-2)."""
    async with db.read() as session:
        return (
            await session.exec(
                select(Hl7Message.filler_id)
                .where(
                    Hl7Message.placer_id == placer_id,
                    Hl7Message.direction == MessageDirection.INBOUND,
                    col(Hl7Message.filler_id).is_not(None),
                )
                .order_by(col(Hl7Message.created_at).desc())
            )
        ).first()


async def inbound_answer(db: Database, clinic_id: str, control: str) -> str | None:
    """The ACK code we gave an inbound control id before (a re-delivery), or None."""
    async with db.read() as session:
        return (
            await session.exec(
                select(Hl7Message.ack_code).where(
                    Hl7Message.clinic_id == clinic_id,
                    Hl7Message.direction == MessageDirection.INBOUND,
                    Hl7Message.control_id == control,
                )
            )
        ).first()


async def record_inbound(
    db: Database,
    clinic_id: str,
    control: str,
    *,
    event: str,
    placer_id: str | None,
    filler_id: str | None,
    status: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> None:
    """Remember an inbound message we applied (and answered AA), so a re-delivery is not
    applied again. Refused messages are not remembered: once fixed, a resend may apply."""
    row = Hl7Message(
        clinic_id=clinic_id,
        direction=MessageDirection.INBOUND,
        control_id=control,
        event=event,
        placer_id=placer_id,
        filler_id=filler_id,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        ack_code="AA",
        attempts=1,
        acknowledged_at=datetime.now(UTC),
    )
    try:
        async with db.write() as session:
            session.add(row)
    except IntegrityError:
        pass  # the same control id raced in on another connection; one record is enough
