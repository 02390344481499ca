"""A whole call whose cloud speech engines fail: over the real Twilio media WebSocket, Deepgram
(deepgram-sdk → local server) drops mid-call and cannot be reached again, and ElevenLabs
refuses the key. The caller (flite's voice) is still understood — by pocketsphinx from the turn
it was in — and still hears answers — from flite — and the call record notes both failovers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.models import Call, TranscriptTurn
from phonesim.scripted_call import CallerLine, place_call
from realtime.engines import SpeechEngines, offline_engines
from realtime.stt.deepgram_stt import DeepgramSTT
from realtime.tts.elevenlabs_tts import ElevenLabsTTS
from tests.conftest import unavailable
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs
from tests.voice.conftest import FAST, Serve
from tests.voice.conftest import voice as voice  # the fixture: the API served with our engines
from workflows.contracts import WrapUpOutcome

DG_KEY, EL_KEY = "dg-key", "el-key"
LINES = ["hi i would like to book a teeth cleaning", "yes", "no that is all thank you"]


@pytest.fixture(scope="module", autouse=True)
def flite_installed() -> None:
    if shutil.which("flite") is None:
        unavailable("flite is not installed (apt-get install flite)")


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from tests.conftest import new_database_url

    return new_database_url("sqlite", tmp_path, request)


@pytest.fixture
def providers() -> Iterator[tuple[FakeDeepgram, FakeElevenLabs]]:
    deepgram = FakeDeepgram(DG_KEY, LINES, DeepgramLatency(final_after_speech_s=0.25))
    elevenlabs = FakeElevenLabs(EL_KEY, ElevenLabsLatency(first_byte_s=0.05, speed=20))
    with deepgram.running(), elevenlabs.running():
        yield deepgram, elevenlabs


async def test_a_call_survives_both_cloud_speech_engines_failing(
    voice: Serve,
    providers: tuple[FakeDeepgram, FakeElevenLabs],
    db: Database,
    temporal_client: Client,
) -> None:
    deepgram, elevenlabs = providers
    offline = offline_engines()
    engines = SpeechEngines(
        stt=DeepgramSTT(DG_KEY, deepgram.url),
        stt_fallback=offline.stt,
        stt_confidence_floor=0.5,
        stt_fallback_confidence_floor=offline.stt_confidence_floor,
        tts=ElevenLabsTTS(EL_KEY, "21m00Tcm4TlvDq8ikWAM", elevenlabs.url),
        tts_fallback=offline.tts,
    )
    elevenlabs.fail_next("unauthorized", count=10)  # the greeting already falls back to flite
    heard: list[str] = []

    def caller_speaks(text: str) -> None:
        heard.append(text)
        if len(heard) == 2:  # the network drops during the second line, for good
            deepgram.drop_in_speech_ms = 150
            deepgram.refuse = 100

    async with voice(engines, FAST) as server:
        peer = server.peer()
        result = await place_call(
            peer, [CallerLine(t) for t in LINES], offline.tts, voice="awb", turn_timeout_s=20,
            on_line=caller_speaks,
        )  # fmt: skip
        await temporal_client.get_workflow_handle(
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
    transcript = "\n".join(f"{t.role}: {t.text}" for t in turns)
    assert result.spoken == LINES, transcript
    assert sorted(call.failovers) == ["stt:SttError", "tts:TtsError"], transcript
    callers = [t.text for t in turns if t.role == "caller"]
    assert callers[0] == "hi i would like to book a teeth cleaning"  # Deepgram heard it
    assert "yes" in callers[1:], transcript  # pocketsphinx, from the replayed turn
    assert len(deepgram.connections) == 1 and deepgram.connections[0].close_reason == "dropped"
    assert elevenlabs.spoken() == []  # the caller never heard the cloud voice: flite spoke
    agents = [t.text for t in turns if t.role == "agent"]
    assert agents and agents[0].startswith("Thanks for calling")
