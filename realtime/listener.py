"""The caller's side of turn-taking: voice activity plus streaming recognition → utterances.

Every inbound frame goes to the VAD and to the STT stream. Speech onset and progress are
reported at once (the session pauses its own speech on onset); when the VAD has heard
``endpointing_ms`` of silence the STT is told to finalise, and the utterance is delivered with
its final transcript — or, if the recogniser stalls past ``stt_final_timeout_ms``, with the
last interim one (marked low confidence when there is none).

A pause inside speech (``speculate_after_silence_ms`` of silence, shorter than endpointing) on
an interim transcript unchanged for ``speculate_stable_ms`` is reported to ``on_pause`` — the
session may start the agent on it — and the voice coming back to ``on_resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from realtime.stt.protocol import SttStream, Transcript
from realtime.turns import TurnSettings
from realtime.vad import EnergyVad


@dataclass(frozen=True)
class Utterance:
    text: str
    confidence: float
    speech_ms: int
    end_of_speech: float  # monotonic time the caller stopped speaking
    stt_final: float  # monotonic time the transcript was ready
    stt_timed_out: bool = False


class Listener:
    def __init__(
        self,
        settings: TurnSettings,
        stt: SttStream,
        on_speech_start: Callable[[], Awaitable[None]],
        on_utterance: Callable[[Utterance], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
        confidence_floor: float = 0.5,
    ) -> None:
        self._settings = settings
        self._floor = confidence_floor
        self._vad = EnergyVad(settings)
        self._stt = stt
        self._on_speech_start = on_speech_start
        self._on_utterance = on_utterance
        self._clock = clock
        self._interim = ""
        self._finals: asyncio.Queue[Transcript] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_transcripts())
        self._pending: set[asyncio.Task[None]] = set()
        self._interim_at = clock()  # when the interim text last changed
        self._paused_on = ""  # the interim reported to on_pause in this pause
        self.on_pause: Callable[[str], Awaitable[None]] | None = None
        self.on_resume: Callable[[], Awaitable[None]] | None = None

    @property
    def interim_text(self) -> str:
        return self._interim

    @property
    def speech_ms(self) -> int:
        return self._vad.speech_so_far_ms

    @property
    def speaking(self) -> bool:
        return self._vad.speaking

    async def push(self, ulaw: bytes, at_ms: int) -> None:
        await self._stt.push(ulaw)
        event = self._vad.process(ulaw, at_ms)
        if event is None:
            await self._watch_pause()
            return
        self._paused_on = ""
        if event.kind == "start":
            self._interim = ""
            await self._on_speech_start()
            return
        # The caller stopped ``endpointing_ms`` ago (plus this frame).
        frame_end = at_ms + self._settings.frame_ms
        end_of_speech = self._clock() - (frame_end - event.at_ms) / 1000
        task = asyncio.create_task(self._finish_utterance(event.speech_ms, end_of_speech))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _watch_pause(self) -> None:
        if self.on_pause is None or not self._vad.speaking:
            return
        silence = self._vad.trailing_silence_ms
        if silence == 0:
            if self._paused_on:
                self._paused_on = ""
                if self.on_resume is not None:
                    await self.on_resume()
            return
        settings = self._settings
        text = self._interim.strip()
        if (
            text
            and text != self._paused_on
            and silence >= settings.speculate_after_silence_ms
            and (self._clock() - self._interim_at) * 1000 >= settings.speculate_stable_ms
        ):
            self._paused_on = text
            await self.on_pause(text)

    async def _read_transcripts(self) -> None:
        async for transcript in self._stt.transcripts():
            if transcript.is_final:
                self._finals.put_nowait(transcript)
            elif transcript.text != self._interim:
                self._interim = transcript.text
                self._interim_at = self._clock()

    async def _finish_utterance(self, speech_ms: int, end_of_speech: float) -> None:
        await self._stt.end_of_speech()
        timeout = self._settings.stt_final_timeout_ms / 1000
        try:
            async with asyncio.timeout(
                timeout
            ):  # not wait_for: it can swallow cancellation on 3.11
                final = await self._finals.get()
            text, confidence, timed_out = final.text, final.confidence, False
        except TimeoutError:
            text, confidence, timed_out = self._interim, (0.6 if self._interim else 0.0), True
        self._interim = ""
        await self._on_utterance(
            Utterance(
                text.strip(),
                self._normalise(confidence),
                speech_ms,
                end_of_speech,
                self._clock(),
                timed_out,
            )
        )

    def _normalise(self, raw: float) -> float:
        """Map the engine's own scale onto one where 0.5 is "trust it": each engine's
        ``confidence_floor`` (the score below which its results are usually wrong) becomes 0.5,
        so the session and the agents share one threshold whatever the engine."""
        raw = min(max(raw, 0.0), 1.0)
        if raw >= self._floor:
            return 0.5 + 0.5 * (raw - self._floor) / max(1.0 - self._floor, 1e-9)
        return 0.5 * raw / max(self._floor, 1e-9)

    async def aclose(self) -> None:
        for task in [self._reader, *self._pending]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stt.aclose()
