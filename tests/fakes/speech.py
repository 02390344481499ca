"""Speech and language providers with scripted timings, for timeline tests of the voice loop.

They stand in for Deepgram/pocketsphinx, ElevenLabs/flite and Claude/RuleAgent — the external
engines — so the session's own behaviour (turn-taking, barge-in, timers) can be pinned down.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from realtime.agent.protocol import AgentEvent, Conversation, TextDelta, ToolCall
from realtime.audio.codec import pcm16_to_ulaw
from realtime.stt.protocol import Transcript, Vocabulary
from realtime.vad import frame_dbfs


def tone(ms: int, freq: float = 440.0, level: float = 0.3) -> bytes:
    """μ-law audio of a tone: loud enough for the VAD to call it speech."""
    samples = int(8 * ms)
    pcm = b"".join(
        int(level * 32767 * math.sin(2 * math.pi * freq * n / 8000)).to_bytes(
            2, "little", signed=True
        )
        for n in range(samples)
    )
    return pcm16_to_ulaw(pcm)


@dataclass
class ScriptedStt:
    """Hears each utterance as the next scripted line. ``stall`` lines never finalise."""

    lines: list[str]
    final_delay_s: float = 0.05
    confidence: dict[int, float] = field(default_factory=dict)
    interim_after_frames: int = 10
    stall: set[int] = field(default_factory=set)
    opened: list[ScriptedStream] = field(default_factory=list)

    async def open(self, vocabulary: Vocabulary) -> ScriptedStream:
        stream = ScriptedStream(self)
        self.opened.append(stream)
        return stream


class ScriptedStream:
    def __init__(self, script: ScriptedStt) -> None:
        self._script = script
        self._index = 0
        self._loud = 0
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()

    def _current(self) -> str:
        return self._script.lines[self._index] if self._index < len(self._script.lines) else ""

    async def push(self, ulaw: bytes) -> None:
        if frame_dbfs(ulaw) > -40:
            self._loud += 1
            if self._loud == self._script.interim_after_frames:
                self._queue.put_nowait(Transcript(self._current(), False, 0.8))

    async def end_of_speech(self) -> None:
        index, text = self._index, self._current()
        self._index += 1
        self._loud = 0
        if index in self._script.stall:
            return
        await asyncio.sleep(self._script.final_delay_s)
        self._queue.put_nowait(Transcript(text, True, self._script.confidence.get(index, 0.95)))

    async def transcripts(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def aclose(self) -> None:
        self._queue.put_nowait(None)


@dataclass
class ToneTts:
    """Speaks ``ms_per_word`` of tone per word after ``first_byte_s``; records what it said."""

    ms_per_word: int = 150
    first_byte_s: float = 0.02
    spoken: list[str] = field(default_factory=list)

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        await asyncio.sleep(self.first_byte_s)
        audio = tone(self.ms_per_word * max(1, len(text.split())))
        for start in range(0, len(audio), 320):
            yield audio[start : start + 320]


@dataclass
class ScriptedAgent:
    """Answers each caller turn with the next scripted response (text and tool calls)."""

    responses: list[list[AgentEvent]]
    delay_s: float = 0.02
    turns: int = 0
    seen: list[str] = field(default_factory=list)

    async def respond(self, conversation: Conversation) -> AsyncIterator[AgentEvent]:
        last = conversation.messages[-1]
        if last.role == "tool":
            return  # nothing more to say after a tool
        self.seen.append(last.text)
        events = (
            self.responses[self.turns] if self.turns < len(self.responses) else [TextDelta("Okay.")]
        )
        self.turns += 1
        await asyncio.sleep(self.delay_s)
        for event in events:
            yield event
            await asyncio.sleep(0.005)


def say(text: str) -> list[AgentEvent]:
    return [TextDelta(word + " ") for word in text.split()]


def call_tool(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id=f"tc-{name}", name=name, arguments=dict(arguments))
