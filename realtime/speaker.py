"""The receptionist's voice: agent text → speakable pieces → TTS → paced output.

Pieces are synthesised one after another while earlier ones play, so audio starts after the
first piece rather than after the whole response. A TTS that produces nothing for
``provider_stall_s`` is abandoned for the fallback engine (never dead air).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from realtime.output import PacedOutput, Segment
from realtime.text_chunker import TextChunker
from realtime.tts.protocol import TextToSpeech

log = logging.getLogger(__name__)


class Speaker:
    def __init__(
        self,
        tts: TextToSpeech,
        voice: str,
        output: PacedOutput,
        *,
        stall_s: float = 2.0,
        fallback: TextToSpeech | None = None,
        on_failover: Callable[[str], None] | None = None,
        first_clause_min_words: int | None = 3,
    ) -> None:
        self._tts = tts
        self._fallback = fallback
        self._voice = voice
        self._output = output
        self._stall_s = stall_s
        self._on_failover = on_failover
        self._first_clause_words = first_clause_min_words
        self._chunker = TextChunker(first_clause_min_words)
        self._pieces: asyncio.Queue[str | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        # Of the current message, for turn metrics: first piece asked of the TTS, first audio.
        self.first_request_at: float | None = None
        self.first_byte_at: float | None = None
        self.message_first_segment = 0

    def start_message(self) -> None:
        self._chunker = TextChunker(self._first_clause_words)
        self._pieces = asyncio.Queue()
        self.first_byte_at = None
        self.first_request_at = None
        self.message_first_segment = self._output.last_segment_id + 1
        self._worker = asyncio.create_task(self._synthesise_all(self._pieces))

    async def feed(self, delta: str) -> None:
        for piece in self._chunker.feed(delta):
            self._pieces.put_nowait(piece)

    async def finish(self) -> None:
        """All text given; returns when it is synthesised (not necessarily heard)."""
        for piece in self._chunker.flush():
            self._pieces.put_nowait(piece)
        self._pieces.put_nowait(None)
        if self._worker is not None:
            await self._worker

    async def say(self, text: str) -> None:
        self.start_message()
        await self.feed(text)
        await self.finish()

    async def cancel(self) -> None:
        """Stop synthesising and drop whatever the caller has not heard."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await self._output.discard()

    async def _synthesise_all(self, pieces: asyncio.Queue[str | None]) -> None:
        while (piece := await pieces.get()) is not None:
            segment = self._output.begin_segment(piece)
            try:
                await self._synthesise(self._tts, piece, segment)
            except (TimeoutError, OSError, RuntimeError) as exc:
                if self._fallback is None:
                    log.warning("tts failed", extra={"error": type(exc).__name__})
                else:
                    if self._on_failover is not None:
                        self._on_failover(f"tts:{type(exc).__name__}")
                    self._tts, self._fallback = self._fallback, None
                    await self._synthesise(self._tts, piece, segment)
            finally:
                self._output.end_segment(segment)

    async def _synthesise(self, tts: TextToSpeech, text: str, segment: Segment) -> None:
        if self.first_request_at is None:
            self.first_request_at = time.monotonic()
        source = tts.synthesize(text, self._voice)
        stream = source.__aiter__()
        try:
            while True:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives when the chunk is already ready, leaving a "cancelled" turn alive.
                try:
                    async with asyncio.timeout(self._stall_s):
                        chunk = await stream.__anext__()
                except StopAsyncIteration:
                    return
                if self.first_byte_at is None:
                    self.first_byte_at = time.monotonic()
                self._output.push(segment, chunk)
        finally:
            # Release the engine (its subprocess or socket) now, not when the GC finds it.
            close = getattr(source, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
