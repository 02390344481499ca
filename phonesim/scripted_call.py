"""A scripted caller: waits for the receptionist to finish, says the next line, and so on.

Lines are synthesised by an offline TTS into 8 kHz μ-law, exactly the audio a phone network
would carry. A line may instead barge in a set time after the receptionist starts speaking.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phonesim.twilio_peer import PeerStats, TwilioPeer
from realtime.audio.codec import write_call_recording
from realtime.tts.protocol import TextToSpeech


@dataclass(frozen=True)
class CallerLine:
    text: str
    barge_in_after_ms: int | None = None  # speak this long into the receptionist's reply
    pause_s: float = 0.0  # stay silent this long first (the session's idle timers may speak)


@dataclass
class CallResult:
    call_sid: str
    spoken: list[str]
    duration_s: float
    ended_by_receptionist: bool
    close_code: int | None
    stats: PeerStats
    wav: Path | None


async def synthesize(tts: TextToSpeech, text: str, voice: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, voice)])


async def _receptionist_turn(
    peer: TwilioPeer, *, since: float, gap_s: float, timeout_s: float
) -> None:
    """Until the receptionist has spoken after ``since`` and then been quiet for ``gap_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not peer.closed.is_set():
        spoke = peer.last_receptionist_audio > since
        quiet_for = time.monotonic() - peer.last_receptionist_audio
        if spoke and quiet_for >= gap_s and not peer.receptionist_playing:
            return
        await asyncio.sleep(0.02)


async def _receptionist_started(peer: TwilioPeer, since: float, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (
        time.monotonic() < deadline
        and peer.last_receptionist_audio <= since
        and not peer.closed.is_set()
    ):
        await asyncio.sleep(0.01)


async def place_call(
    peer: TwilioPeer,
    lines: list[CallerLine],
    tts: TextToSpeech,
    *,
    voice: str = "kal",
    reply_gap_s: float = 0.9,
    turn_timeout_s: float = 30.0,
    wav: Path | None = None,
    on_line: Callable[[str], None] = lambda _text: None,
) -> CallResult:
    started = time.monotonic()
    audio = [await synthesize(tts, line.text, voice) for line in lines]  # before dialling: no gaps
    target = await peer.dial()
    await peer.connect(target)
    runner = asyncio.create_task(peer.run())
    spoken: list[str] = []
    last_spoke = started
    try:
        for line, clip in zip(lines, audio, strict=True):
            if line.barge_in_after_ms is None:
                await _receptionist_turn(
                    peer, since=last_spoke, gap_s=reply_gap_s, timeout_s=turn_timeout_s
                )
            else:
                await _receptionist_started(peer, last_spoke, turn_timeout_s)
                await asyncio.sleep(line.barge_in_after_ms / 1000)
            if line.pause_s:
                paused_at = time.monotonic()
                await asyncio.sleep(line.pause_s)
                if peer.last_receptionist_audio > paused_at:  # a re-prompt: hear it out
                    await _receptionist_turn(
                        peer, since=paused_at, gap_s=reply_gap_s, timeout_s=turn_timeout_s
                    )
            if peer.closed.is_set():
                break
            on_line(line.text)
            spoken.append(line.text)
            peer.speak(clip)
            while peer.speaking and not peer.closed.is_set():
                await asyncio.sleep(0.02)
            last_spoke = time.monotonic()
        await _receptionist_turn(
            peer, since=last_spoke, gap_s=reply_gap_s * 2, timeout_s=turn_timeout_s
        )
        ended_by_receptionist = peer.closed.is_set()
        await peer.hang_up()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    duration = time.monotonic() - started
    await peer.status("completed", int(duration))
    if wav is not None:
        write_call_recording(wav, bytes(peer.caller_track), bytes(peer.receptionist_track))
    return CallResult(
        peer.call_sid, spoken, duration, ended_by_receptionist, peer.close_code, peer.stats, wav
    )
