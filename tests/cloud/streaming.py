"""Driving an ``SttStream`` as the call session does: audio frames, end of speech, results."""

from __future__ import annotations

import asyncio
import contextlib

from realtime.audio.codec import silence
from realtime.stt.protocol import SttStream, Transcript
from tests.fakes.speech import tone

FRAME = 160  # 20 ms of μ-law


def speech(ms: int) -> bytes:
    """Audio the fakes' energy VADs hear as speech."""
    return tone(ms)


class Caller:
    """Pushes audio into a stream and collects what it recognises."""

    def __init__(self, stream: SttStream) -> None:
        self.stream = stream
        self.interims: list[Transcript] = []
        self.finals: asyncio.Queue[Transcript] = asyncio.Queue()
        self.error: BaseException | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for transcript in self.stream.transcripts():
                if transcript.is_final:
                    self.finals.put_nowait(transcript)
                else:
                    self.interims.append(transcript)
        except Exception as exc:
            self.error = exc

    async def send(self, audio: bytes, *, paced: bool = False) -> None:
        for start in range(0, len(audio), FRAME):
            await self.stream.push(audio[start : start + FRAME])
            await asyncio.sleep(0.02 if paced else 0)

    async def say(self, speech_ms: int, *, paced: bool = False, trailing_ms: int = 300) -> None:
        await self.send(speech(speech_ms) + silence(trailing_ms), paced=paced)

    async def final(self, timeout: float = 5.0) -> Transcript:
        async with asyncio.timeout(timeout):
            return await self.finals.get()

    async def turn(self, speech_ms: int = 800, *, paced: bool = False) -> Transcript:
        await self.say(speech_ms, paced=paced)
        await self.stream.end_of_speech()
        return await self.final()

    async def close(self) -> None:
        await self.stream.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._reader, 5)
