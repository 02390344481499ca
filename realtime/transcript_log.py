"""Writing a call's transcript as it happens, so it survives a crash of the API process and
the demo (and staff) can follow a call live. The wrap-up workflow writes the same rows, keyed by
(call, seq), so whichever writes last leaves the same transcript.

One writer task per database and event loop batches every call's changes into one transaction:
with a task and a transaction per change and per call, a few hundred concurrent calls queued
that many writers on SQLite's single write lock until some failed with "database is locked",
in background tasks whose errors nobody collected. A failed batch is retried with backoff and
then logged with the call ids; the wrap-up still writes the transcript, so the call loses
nothing but the live view.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from core.db import Database
from core.models import TranscriptTurn
from workflows.contracts import TranscriptLine

log = logging.getLogger(__name__)

RETRIES = 4
BACKOFF_S = 0.2  # doubled after each failed attempt


@dataclass
class _Pending:
    lines: list[TranscriptLine]
    written: asyncio.Future[None]


class TranscriptWriter:
    """The process's one writer of live transcripts for a database (per event loop)."""

    _by_db: weakref.WeakKeyDictionary[Database, TranscriptWriter] = weakref.WeakKeyDictionary()

    def __init__(self, db: Database) -> None:
        self._db = db
        self._loop = asyncio.get_running_loop()
        self._pending: dict[str, _Pending] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for benchmarks and tests)
        self.failures = 0  # batches given up after retries

    @classmethod
    def for_db(cls, db: Database) -> TranscriptWriter:
        writer = cls._by_db.get(db)
        if writer is None or writer._loop is not asyncio.get_running_loop():
            writer = cls._by_db[db] = cls(db)
        return writer

    def submit(self, call_id: str, lines: list[TranscriptLine]) -> asyncio.Future[None]:
        """Queue the call's whole transcript (the latest replaces an unwritten earlier one);
        the future resolves once it is written or given up (never raises)."""
        earlier = self._pending.get(call_id)
        written = earlier.written if earlier is not None else self._loop.create_future()
        self._pending[call_id] = _Pending(list(lines), written)
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(), name="transcript-writer")
        self._wakeup.set()
        return written

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(30):
                        await self._wakeup.wait()
                except TimeoutError:
                    if not self._pending:
                        return  # idle: the next submit starts a new task
                    continue
            batch, self._pending = self._pending, {}
            try:
                await self._write_batch(batch)
            finally:
                for pending in batch.values():
                    if not pending.written.done():
                        pending.written.set_result(None)

    async def _write_batch(self, batch: dict[str, _Pending]) -> None:
        try:
            await self._write_with_retry(batch)
            return
        except Exception:
            if len(batch) == 1:
                self.failures += 1
                log.exception(
                    "live transcript not written (the wrap-up will write it)",
                    extra={"call_ids": sorted(batch)},
                )
                return
        for call_id, pending in batch.items():  # one bad call must not cost the others theirs
            await self._write_batch({call_id: pending})

    async def _write_with_retry(self, batch: dict[str, _Pending]) -> None:
        delay = BACKOFF_S
        for attempt in range(RETRIES):
            try:
                await self._write(batch)
                self.batches += 1
                return
            except DBAPIError as exc:  # locked, busy, a unique race with the wrap-up
                if attempt == RETRIES - 1:
                    raise
                log.warning(
                    "live transcript write retried",
                    extra={"error": type(exc.orig).__name__, "attempt": attempt + 1},
                )
                await asyncio.sleep(delay)
                delay *= 2

    async def _write(self, batch: dict[str, _Pending]) -> None:
        # Compared with the rows themselves, so the writer keeps nothing per call.
        async with self._db.write() as session:
            rows = (
                await session.exec(
                    select(TranscriptTurn).where(col(TranscriptTurn.call_id).in_(list(batch)))
                )
            ).all()
            existing = {(turn.call_id, turn.seq): turn for turn in rows}
            for call_id, pending in batch.items():
                for seq, line in enumerate(pending.lines):
                    turn = existing.get((call_id, seq))
                    if turn is None:
                        turn = TranscriptTurn(
                            call_id=call_id, seq=seq, role=line.role, text=line.text, at=line.at
                        )
                    elif (turn.text, turn.interrupted) == (line.text, line.interrupted):
                        continue
                    turn.text, turn.interrupted = line.text, line.interrupted
                    session.add(turn)


class TranscriptLog:
    """One call's live transcript, written through the process's ``TranscriptWriter``."""

    def __init__(self, db: Database, call_id: str) -> None:
        self._db = db
        self._call_id = call_id

    async def sync(self, lines: list[TranscriptLine]) -> None:
        """Until these lines are written (or given up, which the writer logs)."""
        await asyncio.shield(TranscriptWriter.for_db(self._db).submit(self._call_id, lines))
