"""End-to-end calls on the cloud stack: Deepgram, Claude and ElevenLabs through their real SDKs
against the local protocol servers, over the real Twilio media WebSocket, with Temporal booking
and wrapping up. Plus the speculative start: a caller who pauses mid-sentence is never answered
before they finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus, Call, CallOutcome, TranscriptTurn
from phonesim.scripted_call import CallerLine, place_call
from realtime.audio.codec import silence
from realtime.engines import ClinicEngines
from realtime.turns import TurnSettings
from stack.devserver import DevServer
from tests.cloud.claude_support import claude_settings, use_engines
from tests.fakes.anthropic_api import (
    API_KEY,
    FakeAnthropic,
    Latency,
    Text,
    ToolUse,
    booking_brain,
    last_caller_text,
)
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs
from tests.fakes.speech import ToneTts, tone
from tests.support.voice import VoiceServer, serve_voice
from tests.support.workers import running_worker
from workflows.contracts import WrapUpOutcome

DEEPGRAM_KEY = "dg-test-key-0123"
ELEVENLABS_KEY = "xi-test-key-0123"
# Quick timers (as the voice-loop tests use); the cloud endpointing matches Deepgram's 300 ms.
TURNS = TurnSettings(endpointing_ms=300, idle_reprompt_s=8.0, min_interruption_ms=300)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from tests.conftest import new_database_url

    return new_database_url("sqlite", tmp_path, request)


@dataclass
class CloudStack:
    anthropic: FakeAnthropic
    deepgram: FakeDeepgram
    elevenlabs: FakeElevenLabs
    settings_overrides: dict[str, Any]


@contextmanager
def cloud_servers(
    brain, lines: list[str], *, dg: DeepgramLatency | None = None, llm: Latency | None = None
) -> Iterator[CloudStack]:
    anthropic = FakeAnthropic(brain, latency=llm)
    deepgram = FakeDeepgram(DEEPGRAM_KEY, lines, dg or DeepgramLatency(final_after_speech_s=0.2))
    elevenlabs = FakeElevenLabs(ELEVENLABS_KEY, ElevenLabsLatency(first_byte_s=0.05, speed=50))
    with anthropic.running() as llm_url, deepgram.running() as dg_url, elevenlabs.running() as xi:
        yield CloudStack(
            anthropic, deepgram, elevenlabs,
            {
                "anthropic_base_url": llm_url,
                "deepgram_api_key": DEEPGRAM_KEY, "deepgram_base_url": dg_url,
                "elevenlabs_api_key": ELEVENLABS_KEY, "elevenlabs_base_url": xi,
            },
        )  # fmt: skip


@asynccontextmanager
async def cloud_call_server(
    stack: CloudStack, db: Database, database_url: str, client: Client,
    temporal_server: DevServer, tmp_path: Path, turns: TurnSettings = TURNS,
) -> AsyncIterator[VoiceServer]:  # fmt: skip
    engines = ClinicEngines(claude_settings(stack.settings_overrides.pop("anthropic_base_url"),
                                            **stack.settings_overrides))  # fmt: skip
    async with (
        running_worker(client, db) as prefix,
        serve_voice(
            database_url, temporal_server.address, prefix, tmp_path, engines, turns
        ) as server,
    ):
        yield server


def receptionist(body: dict) -> list:
    """Books a cleaning (booking_brain) and writes the wrap-up summary."""
    if body.get("tool_choice", {}).get("name") == "record_call_summary":
        return [ToolUse("record_call_summary", {
            "intent": "Book a cleaning", "outcome": "Cleaning booked", "follow_ups": [],
            "booking": {"action": "booked", "appointment_type": "cleaning"},
        })]  # fmt: skip
    return booking_brain(body)


LINES = ["I'd like to book a teeth cleaning.", "Yes, please.", "No, that is all, thank you."]


async def test_a_caller_books_a_cleaning_on_the_cloud_stack(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    started = datetime.now(UTC)
    with cloud_servers(receptionist, LINES) as stack:
        # The worker reads the environment, as in production: Claude writes the summary.
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stack.settings_overrides["anthropic_base_url"])
        await use_engines(db, stt="deepgram", agent="claude", tts="elevenlabs", summary="claude")
        async with cloud_call_server(
            stack, db, database_url, temporal_client, temporal_server, tmp_path
        ) as server:
            peer = server.peer()
            result = await place_call(
                peer, [CallerLine(t) for t in LINES], ToneTts(ms_per_word=250),
                reply_gap_s=0.6, turn_timeout_s=20,
            )  # fmt: skip
            outcome = await temporal_client.get_workflow_handle(
                f"call-{peer.call_sid}", result_type=WrapUpOutcome
            ).result()
    async with db.read() as session:
        call = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).one()
        turns = (
            await session.exec(
                select(TranscriptTurn)
                .where(TranscriptTurn.call_id == call.id)
                .order_by(col(TranscriptTurn.seq))
            )
        ).all()
        booked = (
            await session.exec(select(Appointment).where(col(Appointment.created_at) >= started))
        ).all()
    transcript = "\n".join(f"{t.role}: {t.text}" for t in turns)
    assert result.spoken == LINES, transcript
    assert call.outcome == CallOutcome.BOOKED, transcript
    [appointment] = booked
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.patient_id == call.patient_id
    assert call.failovers == [], call.failovers
    # What the caller heard came from ElevenLabs, and it read back the slot find_slots gave.
    spoken = " ".join(stack.elevenlabs.spoken())
    assert "Thanks for calling Bright Smile Dental" in spoken
    assert "Would that work?" in spoken and "You're all set for" in spoken
    # Deepgram heard μ-law 8 kHz passthrough; every caller line was a turn.
    [listen] = stack.deepgram.connections
    assert listen.param("encoding") == "mulaw" and listen.param("sample_rate") == "8000"
    assert [t.text for t in turns if t.role == "caller"] == LINES
    assert len(call.turn_latencies) == 3
    # The wrap-up summary is Claude's, structured.
    assert outcome.summary.startswith("Intent: Book a cleaning. Outcome: Cleaning booked.")
    assert call.summary == outcome.summary


def speculation_brain(body: dict) -> list:
    said = last_caller_text(body).lower()
    if "thursday" in said:
        return [Text("Thursday works fine, let me check the afternoon for a cleaning.")]
    return [Text("Sure, which day would suit you?")]


async def test_a_pause_mid_sentence_is_never_answered(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> None:  # fmt: skip
    full = "I'd like a cleaning on Thursday afternoon."
    # Interims reveal a word per 300 ms of speech and repeat every 100 ms: the first words are
    # a stable interim when the caller pauses (200 ms, shorter than either endpointing).
    latency = DeepgramLatency(final_after_speech_s=0.2, interim_every_ms=100, ms_per_word=300)
    turns = TurnSettings(
        endpointing_ms=300, idle_reprompt_s=8.0, speculate_stable_ms=100,
        speculate_after_silence_ms=40,
    )  # fmt: skip
    with cloud_servers(speculation_brain, [full], dg=latency, llm=Latency(first_token_s=0.3)) as (
        stack
    ):
        await use_engines(db, stt="deepgram", agent="claude", tts="elevenlabs")
        async with cloud_call_server(
            stack, db, database_url, temporal_client, temporal_server, tmp_path, turns
        ) as server:
            peer = server.peer()
            await peer.connect(await peer.dial())
            runner = asyncio.create_task(peer.run())
            await until(lambda: peer.receptionist_audio_ms > 300)
            await until(lambda: not peer.receptionist_playing
                        and time.monotonic() - peer.last_receptionist_audio > 0.4)  # fmt: skip
            peer.speak(tone(1300) + silence(200) + tone(1500))
            await until(lambda: any("Thursday" in s for s in stack.elevenlabs.spoken()))
            session = server.sessions.active[peer.call_sid]
            await until(lambda: not peer.receptionist_playing
                        and time.monotonic() - peer.last_receptionist_audio > 0.4)  # fmt: skip
            await peer.hang_up()
            await runner
    asked = [last_caller_text(r) for r in stack.anthropic.message_requests]
    # The agent was started on the pause's interim, then again on the whole utterance.
    assert len(asked) == 2 and "thursday" not in asked[0].lower() and asked[0], asked
    assert asked[1] == full
    spoken = stack.elevenlabs.spoken()
    assert not any("which day" in s for s in spoken), spoken  # the early answer was dropped
    callers = [m.text for m in session.conversation.messages if m.role == "caller"]
    agents = [m.text for m in session.conversation.messages if m.role == "agent"]
    assert callers == [full]
    assert agents[-1] == "Thursday works fine, let me check the afternoon for a cleaning."
    assert len(session.timings) == 1  # one turn (a head start is adopted only on whole words)


async def test_a_finished_sentence_is_answered_from_the_speculative_start(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> None:  # fmt: skip
    full = "Do you have anything on Thursday?"
    latency = DeepgramLatency(final_after_speech_s=0.25, interim_every_ms=100, ms_per_word=150)
    with cloud_servers(speculation_brain, [full], dg=latency, llm=Latency(first_token_s=0.4)) as (
        stack
    ):
        await use_engines(db, stt="deepgram", agent="claude", tts="elevenlabs")
        async with cloud_call_server(
            stack, db, database_url, temporal_client, temporal_server, tmp_path
        ) as server:
            peer = server.peer()
            await peer.connect(await peer.dial())
            runner = asyncio.create_task(peer.run())
            await until(lambda: peer.receptionist_audio_ms > 300)
            await until(lambda: not peer.receptionist_playing
                        and time.monotonic() - peer.last_receptionist_audio > 0.4)  # fmt: skip
            peer.speak(tone(1500))
            await until(lambda: any("for a cleaning" in s for s in stack.elevenlabs.spoken()))
            session = server.sessions.active[peer.call_sid]
            await peer.hang_up()
            await runner
    # One request, made before the final: the turn adopted it.
    assert [last_caller_text(r) for r in stack.anthropic.message_requests] == [
        "Do you have anything on Thursday?"
    ]
    [timing] = session.timings
    assert timing.speculative and timing.agent_started is not None
    assert timing.agent_started < timing.stt_final
    # First-clause flushing: the opening clause went to the TTS on its own, before the rest
    # of the sentence existed.
    assert stack.elevenlabs.spoken()[-2:] == [
        "Thursday works fine,",
        "let me check the afternoon for a cleaning.",
    ]


async def until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
