"""Audio to the caller over Twilio: paced at real time, one mark per chunk.

The LiveKit ``AudioOutput`` contract mapped onto Media Streams: audio is cut into fixed chunks
and sent no more than ``lead_ms`` ahead of real time, each followed by a ``mark``; Twilio echoes
a mark when the audio before it has played. So at any moment we know which chunks — and so
which words — the caller has heard, and a ``clear`` drops at most ``lead_ms`` of audio already
at Twilio. Unplayed chunks are kept until the session decides: ``resume`` (the caller only said
"mm-hm") or ``discard`` (a real interruption).

Races, and where they are guarded:
- a mark can arrive after ``clear``: Twilio echoes the marks it drops. Marks echoed after a
  clear are not counted as heard (``_cleared_marks``), so truncation never over-credits.
- ``push`` during a pause (TTS still streaming while the caller talks) appends to the held
  audio, which ``resume`` sends and ``discard`` drops with the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from realtime.turns import TurnSettings
from realtime.twilio_protocol import clear_frame, mark_frame, media_frame

BYTES_PER_MS = 8  # μ-law 8 kHz mono


@dataclass
class Segment:
    """A piece of speech (usually a sentence) and how much of it has been heard."""

    id: int
    text: str
    chunks: int = 0
    played: int = 0
    complete: bool = False

    @property
    def fully_heard(self) -> bool:
        return self.complete and self.played >= self.chunks > 0

    def heard_text(self) -> str:
        if self.fully_heard or not self.chunks:
            return self.text if self.fully_heard else ""
        words = self.text.split()
        return " ".join(words[: int(len(words) * self.played / self.chunks)])


@dataclass
class _Chunk:
    segment: Segment
    audio: bytes
    mark: str


@dataclass
class PacingStats:
    """Send time minus due time, per chunk, in ms (the pacing jitter)."""

    lateness_ms: list[float] = field(default_factory=list)


class PacedOutput:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        stream_sid: str,
        settings: TurnSettings,
        clock: Callable[[], float] = time.monotonic,
        on_first_media: Callable[[], None] | None = None,
    ) -> None:
        self._raw_send = send
        self._closed = False
        self._stream_sid = stream_sid
        self._chunk_bytes = settings.chunk_ms * BYTES_PER_MS
        self._chunk_s = settings.chunk_ms / 1000
        self._lead_s = settings.lead_ms / 1000
        self._clock = clock
        self._queue: deque[_Chunk] = deque()
        self._held: deque[_Chunk] = deque()  # unplayed audio while paused
        self._in_flight: dict[str, _Chunk] = {}  # sent, mark not yet echoed
        self._cleared_marks: set[str] = set()
        self._segments: list[Segment] = []
        self._partial: dict[int, bytes] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._paused = False
        self._next_due: float | None = None
        self._segment_ids = 0
        self.on_first_media = on_first_media
        self.on_mark: Callable[[Segment], None] | None = None
        self.stats = PacingStats()

    async def _send(self, frame: str) -> None:
        if self._closed:
            return
        try:
            await self._raw_send(frame)
        except Exception:  # the stream went away under us: the session is ending
            self._closed = True

    def close(self) -> None:
        """The stream is gone: send nothing more."""
        self._closed = True

    # --- producing ---------------------------------------------------------------------------

    def begin_segment(self, text: str) -> Segment:
        self._segment_ids += 1
        segment = Segment(self._segment_ids, text)
        self._segments.append(segment)
        return segment

    def push(self, segment: Segment, ulaw: bytes) -> None:
        data = self._partial.pop(segment.id, b"") + ulaw
        whole = len(data) - len(data) % self._chunk_bytes
        for start in range(0, whole, self._chunk_bytes):
            self._enqueue(segment, data[start : start + self._chunk_bytes])
        if whole < len(data):
            self._partial[segment.id] = data[whole:]

    def end_segment(self, segment: Segment) -> None:
        rest = self._partial.pop(segment.id, b"")
        if rest:
            self._enqueue(
                segment, rest + b"\xff" * (self._chunk_bytes - len(rest))
            )  # pad: μ-law silence
        segment.complete = True
        self._idle_check()

    def _enqueue(self, segment: Segment, audio: bytes) -> None:
        segment.chunks += 1
        chunk = _Chunk(segment, audio, f"s{segment.id}c{segment.chunks}")
        (self._held if self._paused else self._queue).append(chunk)
        self._idle.clear()
        self._wakeup.set()

    # --- pacing ------------------------------------------------------------------------------

    async def run(self) -> None:
        """The pacing loop; runs for the whole call."""
        while True:
            while not self._queue:
                # Keep the schedule across a momentary gap (streaming TTS): resetting it here
                # would send the next chunks as fast as they arrive, far ahead of real time.
                self._wakeup.clear()
                await self._wakeup.wait()
            now = self._clock()
            if self._next_due is None or self._next_due < now:
                self._next_due = now + self._lead_s  # start (or restart) with a small lead
            send_at = self._next_due - self._lead_s
            if send_at > now:
                await asyncio.sleep(send_at - now)
            if not self._queue:  # cleared while we slept
                continue
            chunk = self._queue.popleft()
            self.stats.lateness_ms.append((self._clock() - send_at) * 1000)
            self._in_flight[chunk.mark] = chunk
            await self._send(media_frame(self._stream_sid, chunk.audio))
            await self._send(mark_frame(self._stream_sid, chunk.mark))
            if self.on_first_media is not None:
                callback, self.on_first_media = self.on_first_media, None
                callback()
            self._next_due += self._chunk_s

    # --- playback feedback -------------------------------------------------------------------

    def mark_played(self, name: str) -> None:
        chunk = self._in_flight.pop(name, None)
        if chunk is None or name in self._cleared_marks:
            self._cleared_marks.discard(name)
            return
        chunk.segment.played += 1
        if self.on_mark is not None:
            self.on_mark(chunk.segment)
        self._idle_check()

    def _idle_check(self) -> None:
        if not self._queue and not self._in_flight and not self._held and not self._partial:
            self._idle.set()

    async def wait_for_playout(self) -> None:
        """Until everything pushed so far has been heard (or discarded)."""
        await self._idle.wait()

    @property
    def playing(self) -> bool:
        return bool(self._queue or self._in_flight or self._partial)

    # --- interruption ------------------------------------------------------------------------

    async def pause(self) -> None:
        """Stop the caller hearing us now (``clear``), keeping unplayed audio for ``resume``."""
        if self._paused:
            return
        self._paused = True
        audible = bool(self._in_flight or self._queue)
        unplayed = list(self._in_flight.values())  # insertion order is send order
        self._cleared_marks.update(self._in_flight)
        self._in_flight.clear()
        self._held.extend([*unplayed, *self._queue])
        self._queue.clear()
        if audible:
            await self._send(clear_frame(self._stream_sid))

    def resume(self) -> None:
        """A false interruption: play the held audio from where it stopped."""
        if not self._paused:
            return
        self._paused = False
        self._queue.extend(self._held)
        self._held.clear()
        if self._queue:
            self._wakeup.set()
        self._idle_check()

    async def discard(self) -> None:
        """A real interruption: forget everything not yet heard."""
        if not self._paused:
            await self.pause()
        self._paused = False
        for chunk in self._held:
            chunk.segment.complete = True
        self._held.clear()
        self._partial.clear()
        self._idle_check()

    def heard_text(self, first_id: int, last_id: int | None = None) -> tuple[str, bool]:
        """What the caller heard of segments ``first_id``..``last_id``, and whether all of it."""
        chosen = [
            s for s in self._segments if s.id >= first_id and (last_id is None or s.id <= last_id)
        ]
        text = " ".join(t for s in chosen if (t := s.heard_text())).strip()
        return text, all(s.fully_heard for s in chosen)

    @property
    def last_segment_id(self) -> int:
        return self._segment_ids
