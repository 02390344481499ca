"""Writing a call's transcript as it happens, so it survives a crash of the API process and
the demo (and staff) can follow a call live. The wrap-up workflow writes the same rows, keyed by
(call, seq), so whichever writes last leaves the same transcript."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from core.db import Database
from core.models import TranscriptTurn
from workflows.contracts import TranscriptLine


class TranscriptLog:
    def __init__(self, db: Database, call_id: str) -> None:
        self._db = db
        self._call_id = call_id
        self._written: dict[int, tuple[str, bool]] = {}
        self._lock = asyncio.Lock()

    async def sync(self, lines: list[TranscriptLine]) -> None:
        async with self._lock:
            changed = {
                seq: line
                for seq, line in enumerate(lines)
                if self._written.get(seq) != (line.text, line.interrupted)
            }
            if not changed:
                return
            async with self._db.write() as session:
                existing = {
                    turn.seq: turn
                    for turn in (
                        await session.exec(
                            select(TranscriptTurn).where(TranscriptTurn.call_id == self._call_id)
                        )
                    ).all()
                }
                for seq, line in changed.items():
                    turn = existing.get(seq) or TranscriptTurn(
                        call_id=self._call_id, seq=seq, role=line.role, text=line.text, at=line.at
                    )
                    turn.text, turn.interrupted = line.text, line.interrupted
                    session.add(turn)
            self._written.update(
                {seq: (line.text, line.interrupted) for seq, line in changed.items()}
            )
