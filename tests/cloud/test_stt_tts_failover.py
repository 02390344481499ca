"""Failover from the cloud speech engines to the offline ones, with real engines on both sides:
Deepgram (deepgram-sdk → local Deepgram server) → pocketsphinx, and ElevenLabs (→ local
ElevenLabs server) → flite through the Speaker. Each failover is reported once, and the turn in
progress is still answered."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest

from realtime.audio import codec
from realtime.output import PacedOutput
from realtime.speaker import Speaker
from realtime.stt.deepgram_stt import DeepgramOptions, DeepgramSTT
from realtime.stt.failover import PRIMER, open_with_failover, rescale
from realtime.stt.pocketsphinx_stt import PocketsphinxSTT
from realtime.stt.protocol import Transcript, Vocabulary
from realtime.tts.elevenlabs_tts import ElevenLabsTTS
from realtime.tts.flite_tts import FliteTTS
from realtime.turns import TurnSettings
from tests.cloud.streaming import Caller
from tests.conftest import unavailable
from tests.fakes import closed_port_url
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs
from tests.speech.clinic import demo_vocabulary

DG_KEY, EL_KEY = "dg-key", "el-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"
SENTENCE = "i'd like to book a cleaning"


@pytest.fixture(scope="module", autouse=True)
def flite_installed() -> None:
    if shutil.which("flite") is None:
        unavailable("flite is not installed (apt-get install flite)")


@pytest.fixture(scope="module")
async def offline_stt(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PocketsphinxSTT]:
    engine = PocketsphinxSTT(tmp_path_factory.mktemp("stt-cache"))
    await engine.prepare(demo_vocabulary())
    yield engine
    await engine.aclose()


@pytest.fixture(scope="module")
async def caller_audio() -> bytes:
    spoken = b"".join([c async for c in FliteTTS().synthesize(SENTENCE, "slt")])
    return codec.silence(300) + spoken + codec.silence(400)


@pytest.fixture
def deepgram() -> Iterator[FakeDeepgram]:
    fake = FakeDeepgram(DG_KEY, [SENTENCE], DeepgramLatency(final_after_speech_s=0.1))
    with fake.running():
        yield fake


async def open_call(
    base_url: str, offline_stt: PocketsphinxSTT, failovers: list[str], **options: object
) -> Caller:
    cloud = DeepgramSTT(DG_KEY, base_url, options=DeepgramOptions(**options))  # type: ignore[arg-type]
    stream = await open_with_failover(cloud, offline_stt, demo_vocabulary(), failovers.append)
    return Caller(stream)


# --- speech recognition ----------------------------------------------------------------------


async def test_a_healthy_cloud_stream_needs_no_failover(
    deepgram: FakeDeepgram, offline_stt: PocketsphinxSTT, caller_audio: bytes
) -> None:
    failovers: list[str] = []
    caller = await open_call(deepgram.url, offline_stt, failovers)
    await caller.send(caller_audio)
    await caller.stream.end_of_speech()
    assert (await caller.final()).text == SENTENCE
    assert failovers == []
    await caller.close()


async def test_a_lost_cloud_stream_moves_the_call_to_the_offline_recogniser_mid_turn(
    deepgram: FakeDeepgram, offline_stt: PocketsphinxSTT, caller_audio: bytes
) -> None:
    failovers: list[str] = []
    caller = await open_call(deepgram.url, offline_stt, failovers, reconnect_attempts=1)
    deepgram.drop_in_speech_ms = 300  # the network drops mid-sentence...
    deepgram.refuse = 100  # ...and Deepgram cannot be reached again
    await caller.send(caller_audio, paced=True)
    await caller.stream.end_of_speech()
    final = await caller.final(timeout=15)
    assert "cleaning" in final.text  # the interrupted turn, recognised offline from the replay
    assert failovers == ["stt:SttError"]
    assert caller.finals.empty()
    # The rest of the call stays offline.
    await caller.send(caller_audio)
    await caller.stream.end_of_speech()
    assert "cleaning" in (await caller.final(timeout=15)).text
    assert failovers == ["stt:SttError"]
    await caller.close()


async def test_a_stalled_cloud_stream_fails_over_and_the_turn_is_still_answered(
    deepgram: FakeDeepgram, offline_stt: PocketsphinxSTT, caller_audio: bytes
) -> None:
    deepgram.stall = True  # accepts audio, never answers
    failovers: list[str] = []
    caller = await open_call(
        deepgram.url, offline_stt, failovers, finalize_timeout_s=0.3, reconnect_attempts=1
    )
    await caller.send(caller_audio)
    await caller.stream.end_of_speech()
    assert "cleaning" in (await caller.final(timeout=15)).text
    assert failovers == ["stt:SttError"]
    assert len(deepgram.connections) == 2  # one reconnect, then the offline recogniser
    await caller.close()


async def test_an_unreachable_cloud_recogniser_starts_the_call_offline(
    offline_stt: PocketsphinxSTT, caller_audio: bytes
) -> None:
    failovers: list[str] = []
    caller = await open_call(closed_port_url(), offline_stt, failovers, reconnect_attempts=0)
    assert failovers == ["stt:connect:SttError"]
    await caller.send(caller_audio)
    await caller.stream.end_of_speech()
    assert "cleaning" in (await caller.final(timeout=15)).text
    await caller.close()


class ScriptedStream:
    """An ``SttStream`` answering its n-th ``end_of_speech`` with "interim n", then "turn n";
    it records what it was given (audio, and "eos"), and ``fail`` ends it as a lost socket."""

    def __init__(self) -> None:
        self.received: list[bytes | str] = []
        self._out: asyncio.Queue[Transcript | BaseException | None] = asyncio.Queue()
        self._turns = 0

    async def push(self, ulaw: bytes) -> None:
        self.received.append(ulaw)

    async def end_of_speech(self) -> None:
        self.received.append("eos")
        self._turns += 1
        self._out.put_nowait(Transcript(f"interim {self._turns}", False, 0.0))
        self._out.put_nowait(Transcript(f"turn {self._turns}", True, 0.9))

    def fail(self) -> None:
        self._out.put_nowait(ConnectionError("the network dropped"))

    async def transcripts(self) -> AsyncIterator[Transcript]:
        while (item := await self._out.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        self._out.put_nowait(None)


class ScriptedSTT:
    def __init__(self, stream: ScriptedStream) -> None:
        self.stream = stream

    async def open(self, vocabulary: Vocabulary) -> ScriptedStream:
        return self.stream


async def test_the_fallback_first_hears_the_callers_last_turn_and_that_stays_unheard() -> None:
    # A cold offline decoder misrecognises a short replayed turn ("yes" → "u o n"): it is
    # primed with the caller's finalised audio first, whose transcripts nobody asked for.
    primary, fallback = ScriptedStream(), ScriptedStream()
    failovers: list[str] = []
    stream = await open_with_failover(
        ScriptedSTT(primary), ScriptedSTT(fallback), Vocabulary(), failovers.append
    )
    caller = Caller(stream)
    first, second = b"\x01" * 8000 + b"\x02" * PRIMER, b"\x03" * 1600
    await caller.send(first)
    await stream.end_of_speech()
    assert (await caller.final()).text == "turn 1"
    await caller.send(second)
    primary.fail()  # mid-turn
    await stream.end_of_speech()
    final = await caller.final()
    assert final.text == "turn 2"  # the fallback's second final: its first was the primer's
    assert failovers == ["stt:ConnectionError"]
    eos = fallback.received.index("eos")
    assert b"".join(fallback.received[:eos]) == first[-PRIMER:]  # the last PRIMER bytes of it
    assert fallback.received[eos + 1 :] == [second[i : i + 160] for i in range(0, 1600, 160)] + [
        "eos"
    ]
    assert [t.text for t in caller.interims] == ["interim 1", "interim 2"]
    await asyncio.sleep(0.05)
    assert caller.finals.empty() and caller.error is None
    await caller.close()


# --- speech synthesis --------------------------------------------------------------------------


class Line:
    """Twilio's side of the media stream: plays what it gets and echoes every mark at once."""

    def __init__(self) -> None:
        self.media_bytes = 0
        self.output = PacedOutput(self.send, "MZ" + "0" * 32, TurnSettings())
        self._pacer = asyncio.create_task(self.output.run())

    async def send(self, frame: str) -> None:
        message = json.loads(frame)
        if message["event"] == "media":
            self.media_bytes += len(codec_b64(message["media"]["payload"]))
        elif message["event"] == "mark":
            asyncio.get_running_loop().call_soon(self.output.mark_played, message["mark"]["name"])

    async def close(self) -> None:
        self._pacer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._pacer


def codec_b64(payload: str) -> bytes:
    import base64

    return base64.b64decode(payload)


@pytest.fixture
def elevenlabs() -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs(EL_KEY, ElevenLabsLatency(first_byte_s=0.05, speed=20.0))
    with fake.running():
        yield fake


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    line = Line()
    yield line
    await line.close()


def speaker_for(
    fake: FakeElevenLabs, line: Line, failovers: list[str], stall_s: float = 2.0
) -> Speaker:
    cloud = ElevenLabsTTS(EL_KEY, VOICE, fake.url)
    return Speaker(
        cloud, VOICE, line.output, stall_s=stall_s, fallback=FliteTTS(),
        on_failover=failovers.append,
    )  # fmt: skip


async def test_the_cloud_voice_speaks_when_healthy(elevenlabs: FakeElevenLabs, line: Line) -> None:
    failovers: list[str] = []
    speaker = speaker_for(elevenlabs, line, failovers)
    await speaker.say("Your cleaning is booked. See you Tuesday.")
    await line.output.wait_for_playout()
    assert elevenlabs.spoken() == ["Your cleaning is booked.", "See you Tuesday."]
    assert line.output.heard_text(1) == ("Your cleaning is booked. See you Tuesday.", True)
    assert failovers == []


@pytest.mark.parametrize(
    ("failure", "reason"),
    [("unauthorized", "tts:TtsError"), ("close", "tts:TtsError"), ("stall", "tts:TimeoutError")],
)
async def test_a_failing_cloud_voice_is_replaced_by_flite_for_the_rest_of_the_call(
    elevenlabs: FakeElevenLabs, line: Line, failure: str, reason: str
) -> None:
    failovers: list[str] = []
    speaker = speaker_for(elevenlabs, line, failovers, stall_s=0.6)
    elevenlabs.fail_next(failure)
    await speaker.say("Your cleaning is booked.")
    await line.output.wait_for_playout()
    assert failovers == [reason]
    assert line.output.heard_text(1) == ("Your cleaning is booked.", True)
    assert line.media_bytes > 8000 * 0.8  # flite said the sentence (about a second of audio)
    sockets = len(elevenlabs.connections)
    await speaker.say("See you Tuesday.")
    await line.output.wait_for_playout()
    assert len(elevenlabs.connections) == sockets  # the call stays on flite
    assert failovers == [reason]


async def test_barge_in_cancels_the_cloud_voice_mid_sentence(
    elevenlabs: FakeElevenLabs, line: Line
) -> None:
    elevenlabs.latency = ElevenLabsLatency(first_byte_s=0.05, speed=1.0)
    failovers: list[str] = []
    speaker = speaker_for(elevenlabs, line, failovers)
    speaker.start_message()
    await speaker.feed("This is a long sentence about our opening hours and our address. ")
    async with asyncio.timeout(3):
        while line.media_bytes == 0:
            await asyncio.sleep(0.01)
    await speaker.cancel()
    await asyncio.sleep(0.2)
    [connection] = [c for c in elevenlabs.connections if c.texts]
    assert not connection.finished and connection.close_code != 1000
    heard, whole = line.output.heard_text(1)
    assert not whole and len(heard) < 40  # cut off early in the sentence
    assert failovers == []


def test_fallback_confidences_are_rescaled_onto_the_primary_scale() -> None:
    # pocketsphinx's floor 0.1 lands on Deepgram's 0.5; both ends stay put; order is kept.
    assert rescale(0.1, 0.1, 0.5) == pytest.approx(0.5)
    assert rescale(0.0, 0.1, 0.5) == 0.0 and rescale(1.0, 0.1, 0.5) == pytest.approx(1.0)
    assert rescale(0.05, 0.1, 0.5) == pytest.approx(0.25)
    assert rescale(0.2, 0.1, 0.5) > rescale(0.15, 0.1, 0.5) > 0.5
