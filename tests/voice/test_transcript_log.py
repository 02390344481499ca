"""The live transcript writer: many calls' changes batched into few transactions on a real
database, and one call's failure costing the others nothing."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Call, TranscriptTurn
from realtime.transcript_log import TranscriptLog, TranscriptWriter
from workflows.contracts import TranscriptLine

CALLS = 40


async def new_calls(db: Database, clinic_id: str, count: int) -> list[str]:
    async with db.write() as session:
        calls = [Call(clinic_id=clinic_id, call_sid=f"CA{n:032d}") for n in range(count)]
        session.add_all(calls)
    return [c.id for c in calls]


def lines(turns: int, *, cut_last: bool = False) -> list[TranscriptLine]:
    now = datetime.now(UTC)
    out = [
        TranscriptLine(
            "caller" if n % 2 else "agent", f"line {n}", now, cut_last and n == turns - 1
        )
        for n in range(turns)
    ]
    return out


async def stored(db: Database, call_ids: list[str]) -> dict[str, list[tuple[int, str, bool]]]:
    async with db.read() as session:
        rows = (
            await session.exec(
                select(TranscriptTurn)
                .where(col(TranscriptTurn.call_id).in_(call_ids))
                .order_by(col(TranscriptTurn.seq))
            )
        ).all()
    found: dict[str, list[tuple[int, str, bool]]] = {c: [] for c in call_ids}
    for row in rows:
        found[row.call_id].append((row.seq, row.text, row.interrupted))
    return found


async def test_concurrent_calls_share_few_transactions_and_keep_the_latest(
    db: Database, demo: SeedReport
) -> None:
    call_ids = await new_calls(db, demo.clinic_id, CALLS)
    logs = [TranscriptLog(db, call_id) for call_id in call_ids]

    async def talk(log: TranscriptLog) -> None:
        for turns in range(1, 7):  # the transcript grows, as a call's does
            await asyncio.gather(log.sync(lines(turns)), asyncio.sleep(0))
        await log.sync(lines(6, cut_last=True))  # a barge-in truncates the last line

    await asyncio.gather(*(talk(log) for log in logs))
    writer = TranscriptWriter.for_db(db)
    assert writer.failures == 0
    assert writer.batches < CALLS * 7  # batched: far fewer transactions than changes
    expected = [(n, f"line {n}", n == 5) for n in range(6)]
    assert await stored(db, call_ids) == {call_id: expected for call_id in call_ids}


async def test_a_call_that_cannot_be_written_costs_the_others_nothing(
    db: Database, demo: SeedReport, caplog: pytest.LogCaptureFixture
) -> None:
    [good] = await new_calls(db, demo.clinic_id, 1)
    missing = "no-such-call"  # the foreign key refuses it
    with caplog.at_level(logging.ERROR, logger="realtime.transcript_log"):
        await asyncio.gather(
            TranscriptLog(db, missing).sync(lines(2)), TranscriptLog(db, good).sync(lines(3))
        )
    assert (await stored(db, [good]))[good] == [(n, f"line {n}", False) for n in range(3)]
    assert TranscriptWriter.for_db(db).failures == 1
    assert any("no-such-call" in str(getattr(r, "call_ids", "")) for r in caplog.records)
