"""Instant speech and language providers, for benchmarking the voice loop's own overhead.

They answer at once and do no work of their own, so whatever time a turn takes is the voice
loop's (the session, listener, speaker, pacing, the WebSocket edge and the event loop):

- ``InstantStt``: an interim transcript after a few loud frames, the final one as soon as the
  session calls ``end_of_speech``;
- ``InstantTts``: tone audio (``ms_per_word`` per word, in ``chunk_bytes`` pieces) at once;
- ``InstantAgent``: the script's answer to what the caller said, word by word, at once.

What the caller "says" and what the agent answers come from a shared, mutable ``Script``, so a
benchmark can change them between phases without restarting the server.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from realtime.agent.protocol import AgentEvent, ClinicProfile, Conversation, TextDelta
from realtime.audio.codec import pcm16_to_ulaw
from realtime.engines import SpeechEngines
from realtime.stt.protocol import Transcript, Vocabulary

SHORT_ANSWER = "Sure, we are open until five today."
LONG_ANSWER = (
    "Let me tell you about all of our services. We offer cleanings, exams, fillings, crowns, "
    "whitening and emergency visits. We are open five days a week, with evening hours on "
    "Wednesday and early appointments on Friday. Most insurance plans are accepted, and new "
    "patients are always welcome. Parking is free behind the building, and the entrance is "
    "on the ground floor. Is there anything else you would like to know about the clinic?"
)


def tone(ms: int, freq: float = 440.0, level: float = 0.3) -> bytes:
    """μ-law audio of a sine tone, loud enough for the VAD to call it speech."""
    samples = 8 * ms
    pcm = b"".join(
        int(level * 32767 * math.sin(2 * math.pi * freq * n / 8000)).to_bytes(
            2, "little", signed=True
        )
        for n in range(samples)
    )
    return pcm16_to_ulaw(pcm)


_VOICE = tone(1000, freq=220.0, level=0.2)  # one second of "speech", sliced for the TTS


def voice_audio(ms: int) -> bytes:
    whole, rest = divmod(ms, 1000)
    return _VOICE * whole + _VOICE[: rest * 8]


@dataclass
class Script:
    """What callers say (each STT stream cycles through ``lines``) and what the agent answers.

    Mutable: change it between benchmark phases. Streams opened before a change keep their
    position in ``lines`` but read the new list.
    """

    lines: list[str] = field(default_factory=lambda: ["what time do you close today"])
    answers: dict[str, str] = field(default_factory=dict)
    default_answer: str = SHORT_ANSWER

    def answer(self, heard: str) -> str:
        return self.answers.get(heard, self.default_answer)


# --- speech to text ---------------------------------------------------------------------------

_QUIET = (0xFF, 0x7F)  # the two μ-law codes of zero


def is_loud(ulaw: bytes) -> bool:
    """Cheap: most samples non-zero (the simulated caller sends digital silence otherwise)."""
    return ulaw.count(_QUIET[0]) + ulaw.count(_QUIET[1]) < len(ulaw) // 2


@dataclass
class InstantStt:
    script: Script
    interim_after_frames: int = 3
    confidence: float = 0.95

    async def open(self, vocabulary: Vocabulary) -> InstantStream:
        return InstantStream(self)


class InstantStream:
    def __init__(self, owner: InstantStt) -> None:
        self._owner = owner
        self._index = 0
        self._loud = 0
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()

    def _current(self) -> str:
        lines = self._owner.script.lines
        return lines[self._index % len(lines)] if lines else ""

    async def push(self, ulaw: bytes) -> None:
        if self._loud < self._owner.interim_after_frames and is_loud(ulaw):
            self._loud += 1
            if self._loud == self._owner.interim_after_frames:
                self._queue.put_nowait(Transcript(self._current(), False, 0.8))

    async def end_of_speech(self) -> None:
        text = self._current()
        self._index += 1
        self._loud = 0
        self._queue.put_nowait(Transcript(text, True, self._owner.confidence))

    async def transcripts(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def aclose(self) -> None:
        self._queue.put_nowait(None)


# --- text to speech ---------------------------------------------------------------------------


@dataclass
class InstantTts:
    """``chunk_bytes`` 0 yields each piece's audio whole. Smaller chunks (320 = 40 ms, as a
    streaming TTS delivers them) make ``PacedOutput``'s queue run dry between chunks, which
    (as of this writing) restarts its pacing: the audio then goes out as fast as it is made."""

    ms_per_word: int = 150
    chunk_bytes: int = 0

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        audio = voice_audio(self.ms_per_word * max(1, len(text.split())))
        step = self.chunk_bytes or len(audio)
        for start in range(0, len(audio), step):
            yield audio[start : start + step]


# --- the agent --------------------------------------------------------------------------------


@dataclass
class InstantAgent:
    script: Script

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        last = conversation.messages[-1]
        if last.role == "tool":
            return
        for word in self.script.answer(last.text).split():
            yield TextDelta(word + " ")


def instant_engines(
    script: Script, ms_per_word: int = 150, tts_chunk_bytes: int = 0
) -> SpeechEngines:
    def agent(_profile: ClinicProfile) -> InstantAgent:
        return InstantAgent(script)

    return SpeechEngines(
        stt=InstantStt(script),
        tts=InstantTts(ms_per_word, tts_chunk_bytes),
        agent_factory=agent,
    )
