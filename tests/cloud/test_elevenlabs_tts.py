"""ElevenLabsTTS against a local server speaking ElevenLabs' stream-input WebSocket protocol
(tests/fakes/elevenlabs_api.py): streamed μ-law audio, per-clinic voice and pronunciations,
warm sockets, cancellation on barge-in, and each failure as a clear ``TtsError``."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from realtime.tts.elevenlabs_tts import ElevenLabsTTS, apply_pronunciations
from realtime.tts.protocol import TtsError
from tests.fakes import closed_port_url
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs, speech_for

KEY = "el-test-key"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
CLINIC_VOICE = "pNInz6obpgDQGcFmaJgB"
LATENCY = ElevenLabsLatency(first_byte_s=0.15, speed=8.0)


@pytest.fixture
def elevenlabs() -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs(KEY, LATENCY)
    with fake.running():
        yield fake


@pytest.fixture
async def tts(elevenlabs: FakeElevenLabs) -> AsyncIterator[ElevenLabsTTS]:
    engine = ElevenLabsTTS(KEY, DEFAULT_VOICE, base_url=elevenlabs.url)
    yield engine
    await engine.aclose()


async def speak(tts: ElevenLabsTTS, text: str, voice: str = "") -> list[bytes]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


async def test_a_sentence_streams_as_mulaw_chunks_from_one_socket(
    elevenlabs: FakeElevenLabs, tts: ElevenLabsTTS
) -> None:
    text = "Your cleaning is booked for Tuesday at nine."
    started = time.monotonic()
    arrivals: list[float] = []
    audio = b""
    async for chunk in tts.synthesize(text, ""):
        arrivals.append(time.monotonic() - started)
        audio += chunk
    assert audio == speech_for(text, LATENCY.ms_per_char)
    assert len(arrivals) > 3
    assert arrivals[0] < arrivals[-1] - 0.1  # streamed, not delivered at the end
    connection = next(c for c in elevenlabs.connections if c.texts)
    assert connection.voice_id == DEFAULT_VOICE
    assert connection.query["output_format"] == "ulaw_8000"
    assert connection.query["model_id"] == "eleven_flash_v2_5"
    assert connection.headers["xi-api-key"] == KEY
    assert connection.init is not None and connection.init["text"] == " "
    assert "xi_api_key" not in connection.init  # the key travels in the header only
    assert connection.texts == [{"text": text + " ", "flush": True}, {"text": ""}]
    assert connection.finished and connection.close_code == 1000


async def test_the_clinic_voice_is_used_and_other_names_use_the_default(
    elevenlabs: FakeElevenLabs, tts: ElevenLabsTTS
) -> None:
    await speak(tts, "Hello.", CLINIC_VOICE)
    await speak(tts, "Hello again.", "slt")  # a flite voice name: not an ElevenLabs id
    used = [c.voice_id for c in elevenlabs.connections if c.texts]
    assert used == [CLINIC_VOICE, DEFAULT_VOICE]


async def test_voice_settings_and_pronunciation_dictionaries_go_in_the_first_message(
    elevenlabs: FakeElevenLabs,
) -> None:
    tts = ElevenLabsTTS(
        KEY, DEFAULT_VOICE, elevenlabs.url,
        voice_settings={"stability": 0.6, "similarity_boost": 0.8},
        pronunciation_dictionaries=[("dict123", "ver456")],
    )  # fmt: skip
    await speak(tts, "Hello.")
    await tts.aclose()
    init = elevenlabs.connections[0].init
    assert init is not None
    assert init["voice_settings"] == {"stability": 0.6, "similarity_boost": 0.8}
    assert init["pronunciation_dictionary_locators"] == [
        {"pronunciation_dictionary_id": "dict123", "version_id": "ver456"}
    ]


async def test_pronunciation_aliases_rewrite_whole_words_before_sending(
    elevenlabs: FakeElevenLabs,
) -> None:
    tts = ElevenLabsTTS(KEY, DEFAULT_VOICE, elevenlabs.url, pronunciations={"Nguyen": "Win"})
    await speak(tts, "Dr. NGUYEN, DDS, will see you; Nguyenville is elsewhere.")
    await tts.aclose()
    assert elevenlabs.spoken() == ["Dr. Win, D.D.S., will see you; Nguyenville is elsewhere."]


def test_aliases_prefer_the_longest_match() -> None:
    aliases = {"Anne": "Ann", "Anne Marie": "Ann Marie", "TMJ": "T.M.J."}
    assert apply_pronunciations("anne marie has tmj", aliases) == "Ann Marie has T.M.J."


async def test_a_warm_socket_saves_the_handshake_and_is_renewed_while_the_call_goes_on(
    elevenlabs: FakeElevenLabs,
) -> None:
    tts = ElevenLabsTTS(KEY, DEFAULT_VOICE, elevenlabs.url, idle_s=0.3, warm_for_s=1.0)
    await tts.warm()
    await asyncio.sleep(0.1)
    assert elevenlabs.handshakes == 1
    await speak(tts, "First sentence.")
    assert elevenlabs.connections[0].text == "First sentence. "  # the pre-opened socket
    # Unused spares are closed before ElevenLabs' inactivity timeout, and fresh ones opened.
    await asyncio.sleep(0.8)
    assert elevenlabs.connections[1].texts == [] and elevenlabs.connections[1].close_code == 1000
    assert elevenlabs.connections[-1].close_code is None
    opened_before = elevenlabs.handshakes
    await speak(tts, "Second sentence.")
    used = next(c for c in elevenlabs.connections if c.text == "Second sentence. ")
    assert elevenlabs.connections.index(used) < opened_before  # no handshake while speaking
    # Once the voice has not been used for ``warm_for_s``, no socket is kept open for it.
    await asyncio.sleep(1.0 + 0.3 + 0.5)
    opened = elevenlabs.handshakes
    await asyncio.sleep(0.6)
    assert elevenlabs.handshakes == opened
    assert all(c.close_code is not None for c in elevenlabs.connections)
    await tts.aclose()


async def test_cancelling_mid_stream_drops_the_socket_at_once(
    elevenlabs: FakeElevenLabs, tts: ElevenLabsTTS
) -> None:
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in tts.synthesize("A long answer. " * 20, ""):
            received.append(chunk)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(3):
        while not received:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    connection = next(c for c in elevenlabs.connections if c.texts)
    assert not connection.finished
    assert connection.close_code != 1000
    assert connection.audio_bytes < len(speech_for("A long answer. " * 20, LATENCY.ms_per_char))


@pytest.mark.parametrize(
    ("failure", "message"),
    [("unauthorized", "http 401"), ("close", r"\(1011\)"), ("drop", "no close frame")],
)
async def test_failures_are_tts_errors(
    elevenlabs: FakeElevenLabs, tts: ElevenLabsTTS, failure: str, message: str
) -> None:
    elevenlabs.fail_next(failure)
    with pytest.raises(TtsError, match=message):
        await speak(tts, "Hello there, this will fail.")
    # The next sentence works again.
    assert b"".join(await speak(tts, "Hello again.")) == speech_for("Hello again.", 60)


async def test_a_wrong_key_is_refused(elevenlabs: FakeElevenLabs) -> None:
    tts = ElevenLabsTTS("wrong", DEFAULT_VOICE, elevenlabs.url)
    with pytest.raises(TtsError, match="http 401"):
        await speak(tts, "Hello.")


async def test_an_unreachable_server_is_a_tts_error() -> None:
    tts = ElevenLabsTTS(KEY, DEFAULT_VOICE, closed_port_url())
    with pytest.raises(TtsError, match="cannot reach"):
        await speak(tts, "Hello.")


async def test_nothing_speakable_opens_no_socket(
    elevenlabs: FakeElevenLabs, tts: ElevenLabsTTS
) -> None:
    assert await speak(tts, "  \n ") == []
    assert elevenlabs.handshakes == 0


def test_missing_credentials_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="ELEVENLABS_API_KEY"):
        ElevenLabsTTS("", DEFAULT_VOICE)


async def test_a_silent_server_is_a_tts_error_within_the_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}"
        tts = ElevenLabsTTS(KEY, DEFAULT_VOICE, url, connect_timeout_s=0.3, keep_warm=False)
        started = time.monotonic()
        with pytest.raises(TtsError, match="cannot reach"):
            await speak(tts, "Hello.")
        assert time.monotonic() - started < 1.0


async def test_an_unknown_clinic_voice_falls_back_to_the_default_voice() -> None:
    fake = FakeElevenLabs(KEY, LATENCY, voices={DEFAULT_VOICE})
    with fake.running():
        tts = ElevenLabsTTS(KEY, DEFAULT_VOICE, fake.url, keep_warm=False)
        for _ in range(2):
            assert await speak(tts, "Hello.", CLINIC_VOICE)
        assert [c.voice_id for c in fake.connections] == [DEFAULT_VOICE, DEFAULT_VOICE]
        assert fake.handshakes == 3  # the unknown voice was asked for once, not per sentence
        fake.voices = set()
        with pytest.raises(TtsError, match="http 404"):  # the default itself is gone
            await speak(tts, "Hello.", CLINIC_VOICE)
