"""The audit trail: an append-only, hash-chained record of every access to PHI.

Each ``AuditEvent`` stores ``hash = SHA-256(prev_hash ‖ canonical row)``, so editing, deleting or
reordering any row breaks every hash after it and ``verify_chain`` names the first broken row.
Appends are serialised so two writers can never chain onto the same predecessor: SQLite write
transactions begin ``IMMEDIATE`` (one writer at a time), PostgreSQL takes a transaction-scoped
advisory lock. Details hold ids and counts, never PHI.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.models.base import utcnow
from core.models.security import AuditEvent

# An arbitrary constant naming "the audit chain" among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x41554454  # "AUDT"
GENESIS = ""
log = logging.getLogger(__name__)


class Action:
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    DISCLOSE = "disclose"  # sent to another system (EHR, CRM, SMS provider)
    PURGE = "purge"


def system_actor(component: str) -> str:
    return f"system:{component}"


def canonical(event: AuditEvent) -> bytes:
    """The bytes a row's hash covers: every field but the id and the hash itself."""
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "role": event.role,
        "clinic_id": event.clinic_id,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "source_ip": event.source_ip,
        "detail": event.detail or {},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(event)).hexdigest()


async def _append(session: AsyncSession, event: AuditEvent) -> None:
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = (
        await session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1))
    ).first()
    event.prev_hash = last or GENESIS
    event.hash = chain_hash(event.prev_hash, event)
    session.add(event)
    await session.flush()


async def record(
    db: Database | AsyncSession,
    *,
    actor: str,
    role: str,
    clinic_id: str | None,
    action: str,
    record_type: str,
    record_id: str,
    source_ip: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event. Given a ``Database`` it commits on its own; given a write session it
    joins that transaction, so the access and its audit row commit (or roll back) together."""
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        role=role,
        clinic_id=clinic_id,
        action=action,
        record_type=record_type,
        record_id=record_id,
        source_ip=source_ip,
        detail=detail or {},
    )
    if isinstance(db, Database):
        async with db.write() as session:
            await _append(session, event)
    else:
        await _append(db, event)


async def system_access(
    db: Database | AsyncSession,
    component: str,
    *,
    clinic_id: str | None,
    record_type: str,
    record_id: str,
    action: str = Action.READ,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record PHI touched by the system itself (the voice agent, an activity), not a person."""
    await record(
        db,
        actor=system_actor(component),
        role="system",
        clinic_id=clinic_id,
        action=action,
        record_type=record_type,
        record_id=record_id,
        source_ip=None,
        detail=detail,
    )


_in_flight: set[asyncio.Task[None]] = set()


def system_access_soon(db: Database, component: str, **event: Any) -> None:
    """``system_access`` without making a caller on the phone wait for the append (a write
    transaction: milliseconds). A failed append is logged with its ids."""
    task = asyncio.get_running_loop().create_task(system_access(db, component, **event))
    _in_flight.add(task)
    task.add_done_callback(_appended)


def _appended(task: asyncio.Task[None]) -> None:
    _in_flight.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("audit append failed", exc_info=task.exception())


@dataclass(frozen=True)
class ChainBreak:
    """The first row whose hash does not follow from its predecessor."""

    event_id: int
    reason: str


async def _in_order(db: Database, batch: int) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        async with db.read() as session:
            rows = (
                await session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.id) > after)
                    .order_by(col(AuditEvent.id))
                    .limit(batch)
                )
            ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id or after


async def verify_chain(db: Database, *, batch: int = 1000) -> ChainBreak | None:
    """Walk the whole chain; None when every row is intact and linked to the one before."""
    prev_hash = GENESIS
    async for event in _in_order(db, batch):
        assert event.id is not None
        if event.prev_hash != prev_hash:
            return ChainBreak(event.id, "prev_hash does not match the previous row's hash")
        if event.hash != chain_hash(prev_hash, event):
            return ChainBreak(event.id, "row content does not match its hash")
        prev_hash = event.hash
    return None


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "clinic_id": event.clinic_id,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "source_ip": event.source_ip,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


async def export(
    db: Database, start: datetime, end: datetime, clinic_id: str | None
) -> list[dict[str, Any]]:
    """Events with ``start <= at < end`` (of one clinic, or all when None), oldest first,
    with their hashes so a reader can check each row against the chain."""
    query = select(AuditEvent).where(AuditEvent.at >= start, AuditEvent.at < end)
    if clinic_id is not None:
        query = query.where(AuditEvent.clinic_id == clinic_id)
    async with db.read() as session:
        rows = (await session.exec(query.order_by(col(AuditEvent.id)))).all()
    return [as_dict(row) for row in rows]
