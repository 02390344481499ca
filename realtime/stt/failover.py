"""A recognition stream that moves to a second recogniser when the first one fails mid-call.

The cloud stream reconnects on its own (``DeepgramStream``); when it gives up — or cannot be
opened at all — the call continues on the fallback (the offline recogniser) for its remainder.
The turn in progress is not lost: the audio since the last final transcript is kept here and
replayed into the fallback, with the ``end_of_speech`` calls still awaiting their finals, so
every ``end_of_speech`` still gets exactly one final. ``on_failover("stt:<reason>")`` is called
once, and the session records it in the call's failovers.

Before the replay, the fallback first hears the caller's last finalised audio (up to
``PRIMER`` bytes) as an utterance of its own, whose transcripts are dropped: an offline decoder
adapts its channel normalisation (pocketsphinx's live cepstral mean) to the caller's line and
voice as it listens, and a cold one misrecognises a short turn it is handed first — a replayed
"yes" came out as "u o n". Primed, it starts where it would be had it listened all along.

Engines score confidence differently (pocketsphinx's "right" is ~0.2, Deepgram's ~0.9), and the
session judges transcripts on the primary's scale, so the fallback's confidences are rescaled:
its ``fallback_floor`` (the score below which it is usually wrong) maps onto ``primary_floor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from realtime.stt.protocol import (
    ResultQueue,
    SpeechToText,
    SttStream,
    Transcript,
    Vocabulary,
    drain_results,
)

log = logging.getLogger(__name__)

FRAME = 160  # 20 ms of μ-law: replayed audio goes in the frames the recognisers expect
MAX_BUFFER = 30 * 8000  # un-finalised audio kept for a replay (30 s)
PRIMER = 10 * 8000  # finalised audio kept to prime the fallback with (10 s)


def rescale(confidence: float, floor: float, onto: float) -> float:
    """Map ``confidence`` piecewise-linearly so that ``floor`` lands on ``onto`` (0 and 1 stay)."""
    confidence = min(max(confidence, 0.0), 1.0)
    if confidence >= floor:
        return onto + (1.0 - onto) * (confidence - floor) / max(1.0 - floor, 1e-9)
    return onto * confidence / max(floor, 1e-9)


async def open_with_failover(
    primary: SpeechToText,
    fallback: SpeechToText | None,
    vocabulary: Vocabulary,
    on_failover: Callable[[str], None] | None = None,
    *,
    primary_floor: float = 0.5,
    fallback_floor: float = 0.5,
) -> SttStream:
    """Open ``primary``; with a ``fallback``, wrap it so a failure moves the call over.

    The floors are each engine's ``stt_confidence_floor`` (see ``SpeechEngines``)."""
    if fallback is None:
        return await primary.open(vocabulary)
    stream = FailoverStream(
        fallback, vocabulary, on_failover, confidence=(fallback_floor, primary_floor)
    )
    try:
        first = await primary.open(vocabulary)
    except Exception as exc:  # unreachable, refused, misconfigured: the call must still work
        await stream.switch(f"connect:{type(exc).__name__}")
    else:
        stream.attach(first)
    return stream


class FailoverStream:
    """``SttStream`` over a primary stream, switching once to ``fallback`` on failure."""

    def __init__(
        self,
        fallback: SpeechToText,
        vocabulary: Vocabulary,
        on_failover: Callable[[str], None] | None,
        *,
        confidence: tuple[float, float] = (0.5, 0.5),  # fallback's floor, primary's floor
    ) -> None:
        self._fallback: SpeechToText | None = fallback
        self._confidence = confidence
        self._rescaling = False
        self._vocabulary = vocabulary
        self._on_failover = on_failover
        self._active: SttStream | None = None
        self._out: ResultQueue = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._audio = bytearray()  # since the last final
        self._heard = bytearray()  # the finalised audio before it, for priming (PRIMER at most)
        self._awaiting: deque[int] = deque()  # ``_audio`` length at each unanswered end_of_speech
        self._switching: asyncio.Task[None] | None = None
        self._closed = False

    def attach(self, stream: SttStream, *, hidden_finals: int = 0) -> None:
        """Forward ``stream``'s transcripts, dropping those up to its ``hidden_finals``-th final."""
        self._active = stream
        self._pump = asyncio.create_task(
            self._forward(stream, hidden_finals), name="stt-failover-pump"
        )

    async def push(self, ulaw: bytes) -> None:
        if self._closed:
            return
        self._audio += ulaw
        excess = len(self._audio) - MAX_BUFFER
        if excess > 0:
            del self._audio[:excess]
            self._awaiting = deque(max(0, mark - excess) for mark in self._awaiting)
        if self._active is not None:
            await self._active.push(ulaw)

    async def end_of_speech(self) -> None:
        if self._closed:
            return
        self._awaiting.append(len(self._audio))
        if self._active is not None:
            await self._active.end_of_speech()

    def transcripts(self) -> AsyncIterator[Transcript]:
        return drain_results(self._out)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._pump, self._switching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._active is not None:
            with contextlib.suppress(Exception):
                await self._active.aclose()
        self._out.put_nowait(None)

    async def _forward(self, stream: SttStream, hidden_finals: int = 0) -> None:
        try:
            async for transcript in stream.transcripts():
                if hidden_finals:  # the primer's own results: nobody asked for them
                    if transcript.is_final:
                        hidden_finals -= 1
                    continue
                if transcript.is_final and self._awaiting:
                    done = self._awaiting.popleft()
                    if self._fallback is not None:  # still to come: keep a primer for it
                        self._heard += self._audio[:done]
                        del self._heard[: max(0, len(self._heard) - PRIMER)]
                    del self._audio[:done]
                    self._awaiting = deque(mark - done for mark in self._awaiting)
                if self._rescaling:
                    score = rescale(transcript.confidence, *self._confidence)
                    transcript = replace(transcript, confidence=score)
                self._out.put_nowait(transcript)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._closed:
                # A new task: this one is about to be replaced and must not cancel itself.
                self._switching = asyncio.create_task(self.switch(type(exc).__name__))

    async def switch(self, reason: str) -> None:
        """Move to the fallback for the rest of the call and replay the unanswered turn."""
        fallback, self._fallback = self._fallback, None
        old, self._active = self._active, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()
        if fallback is None or self._closed:
            self._out.put_nowait(RuntimeError("speech recognition failed"))
            return
        log.warning("stt failover", extra={"reason": reason})
        if self._on_failover is not None:
            self._on_failover(f"stt:{reason}")
        try:
            stream = await fallback.open(self._vocabulary)
        except Exception as exc:
            log.error("fallback stt failed to open", extra={"error": type(exc).__name__})
            self._out.put_nowait(exc)
            return
        # Prime it with the caller's voice (see the module docstring); one final to hide.
        primer, self._heard = bytes(self._heard), bytearray()
        for start in range(0, len(primer), FRAME):
            await stream.push(primer[start : start + FRAME])
        if primer:
            await stream.end_of_speech()
        # Replay, re-reading the buffer: audio keeps arriving while we await.
        sent, marks = 0, 0
        while sent < len(self._audio) or marks < len(self._awaiting):
            end = self._awaiting[marks] if marks < len(self._awaiting) else len(self._audio)
            while sent < end:
                await stream.push(bytes(self._audio[sent : min(end, sent + FRAME)]))
                sent = min(end, sent + FRAME)
            if marks < len(self._awaiting) and sent >= self._awaiting[marks]:
                await stream.end_of_speech()
                marks += 1
        if self._closed:
            await stream.aclose()
            return
        self._rescaling = True
        self.attach(stream, hidden_finals=1 if primer else 0)
