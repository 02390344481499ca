"""The audit trail: appends chain by hash, concurrent writers never fork the chain, tampering
and deletion are found, and exports select by time and clinic."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.db import Database
from core.security import audit


async def _append(db: Database, n: int, clinic_id: str | None = "clinic-a") -> None:
    await audit.record(
        db, actor=f"user-{n}", role="staff", clinic_id=clinic_id, action="read",
        record_type="patient", record_id=f"p{n}", source_ip="203.0.113.7", detail={"n": n},
    )  # fmt: skip


async def _raw(db: Database, sql: str, **params: object) -> None:
    async with db.write() as session:
        await (await session.connection()).execute(text(sql), params)


async def test_concurrent_appends_form_one_intact_chain(db: Database) -> None:
    await asyncio.gather(*(_append(db, n) for n in range(25)))
    assert await audit.verify_chain(db) is None
    events = await audit.export(
        db, datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=1),
        "clinic-a",
    )  # fmt: skip
    assert len(events) == 25
    assert events[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))


async def test_an_edited_row_breaks_the_chain_at_that_row(db: Database) -> None:
    for n in range(5):
        await _append(db, n)
    events = await audit.export(db, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), None)
    target = events[2]["id"]
    await _raw(db, "UPDATE auditevent SET actor = 'someone-else' WHERE id = :i", i=target)
    broken = await audit.verify_chain(db)
    assert broken is not None and broken.event_id == target
    assert "content" in broken.reason


async def test_a_deleted_row_breaks_the_chain_after_it(db: Database) -> None:
    for n in range(5):
        await _append(db, n)
    events = await audit.export(db, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), None)
    await _raw(db, "DELETE FROM auditevent WHERE id = :i", i=events[1]["id"])
    broken = await audit.verify_chain(db, batch=2)
    assert broken is not None and broken.event_id == events[2]["id"]
    assert "prev_hash" in broken.reason


async def test_export_selects_by_time_and_clinic(db: Database) -> None:
    await _append(db, 1, "clinic-a")
    await _append(db, 2, "clinic-b")
    await audit.system_access(
        db, "voice-agent", clinic_id="clinic-a", record_type="patient", record_id="p3"
    )
    now = datetime.now(UTC)
    a = await audit.export(db, now - timedelta(minutes=1), now + timedelta(seconds=1), "clinic-a")
    assert [(e["actor"], e["record_id"]) for e in a] == [
        ("user-1", "p1"), ("system:voice-agent", "p3"),
    ]  # fmt: skip
    assert await audit.export(db, now + timedelta(seconds=1), now + timedelta(hours=1), None) == []
