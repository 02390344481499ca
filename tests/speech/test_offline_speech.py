"""Real round trips: flite speaks caller sentences, pocketsphinx hears them as a call would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from realtime.audio import codec
from realtime.stt import language_model, sphinx_worker
from realtime.stt.pocketsphinx_stt import PocketsphinxStream, PocketsphinxSTT, SttError
from realtime.stt.protocol import Transcript
from realtime.tts.flite_tts import EspeakTTS, FliteTTS, sanitize
from realtime.tts.protocol import TtsUnavailable
from tests.conftest import unavailable
from tests.speech.clinic import demo_vocabulary, word_errors

# What callers say to the demo clinic. Measured word error rates are in the report; the
# thresholds below leave a margin over them.
SENTENCES = [
    "i would like to book a cleaning next tuesday afternoon",
    "my name is peter brown",
    "march third nineteen eighty",
    "can i see doctor patel on thursday",
    "yes please",
    "what are your hours",
    "my face is swollen and i have a fever",
    "do you take delta dental",
    "i need to cancel my appointment on friday",
    "nine fifteen works",
    "my name is samira okafor",
    "can i talk to a person",
    "is doctor brooks available on wednesday",
    "i'd like to see jenna lee for a cleaning",
    "my insurance is metlife",
    "i chipped a tooth",
    "no thanks",
    "that sounds good thank you",
    "goodbye",
]
VOICES = {"slt": 0.12, "awb": 0.06}  # voice → word error rate it must stay under


@pytest.fixture(scope="module", autouse=True)
def engines_installed() -> None:
    if shutil.which("flite") is None:
        unavailable("flite is not installed (apt-get install flite)")


@pytest.fixture(scope="module")
async def stt(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PocketsphinxSTT]:
    engine = PocketsphinxSTT(tmp_path_factory.mktemp("stt-cache"))
    await engine.prepare(demo_vocabulary())
    yield engine
    await engine.aclose()


async def speak(text: str, voice: str) -> bytes:
    return b"".join([chunk async for chunk in FliteTTS().synthesize(text, voice)])


class Call:
    """Drives an ``SttStream`` the way the call session does."""

    def __init__(self, stream: PocketsphinxStream) -> None:
        self.stream = stream
        self.results = stream.transcripts()

    async def say(self, ulaw: bytes, paced: bool = False) -> tuple[list[Transcript], Transcript]:
        audio = codec.silence(300) + ulaw + codec.silence(400)
        for frame in codec.frames(audio):
            await self.stream.push(frame)
            await asyncio.sleep(0.02 if paced else 0)
        await self.stream.end_of_speech()
        interims = []
        while not (result := await asyncio.wait_for(anext(self.results), 10)).is_final:
            interims.append(result)
        return interims, result


def child_processes(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                status = (entry / "status").read_text()
                fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
                if int(fields["PPid"]) == os.getpid() and fields["Name"].strip() in names:
                    found.append(int(entry.name))
    return found


@pytest.mark.parametrize("voice", list(VOICES))
async def test_caller_sentences_are_recognised(stt: PocketsphinxSTT, voice: str) -> None:
    call = Call(await stt.open(demo_vocabulary()))
    errors = words = exact = 0
    misses = []
    try:
        for sentence in SENTENCES:
            _, final = await call.say(await speak(sentence, voice))
            assert 0.0 <= final.confidence <= 1.0
            wrong = word_errors(sentence, final.text)
            errors, words, exact = (
                errors + wrong,
                words + len(sentence.split()),
                exact + (not wrong),
            )
            if wrong:
                misses.append(f"{sentence!r} → {final.text!r}")
    finally:
        await call.stream.aclose()
    wer = errors / words
    print(f"\n{voice}: WER {wer:.3f}, {exact}/{len(SENTENCES)} exact; misses: {misses}")
    assert exact >= len(SENTENCES) * 3 // 4, misses
    assert wer <= VOICES[voice], misses


async def test_interim_results_arrive_while_the_caller_speaks_and_the_loop_stays_free(
    stt: PocketsphinxSTT,
) -> None:
    sentence = "i would like to book a cleaning next tuesday afternoon"
    audio = await speak(sentence, "slt")
    call = Call(await stt.open(demo_vocabulary()))
    lateness: list[float] = []

    async def watch() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lateness.append(time.perf_counter() - started - 0.005)

    watcher = asyncio.create_task(watch())
    try:
        interims, final = await call.say(audio, paced=True)
    finally:
        watcher.cancel()
        await call.stream.aclose()
    assert word_errors(sentence, final.text) <= 1
    assert len(interims) >= 3
    assert all(not i.is_final and i.confidence == 0.0 for i in interims)
    assert sentence.startswith(interims[len(interims) // 2].text.split()[0])
    # Decoding (and its GIL) lives in the worker process: the event loop never stalls for
    # the ~80 ms a finalisation takes in-process (the margin is for a busy test machine).
    assert max(lateness) < 0.05


async def test_end_of_speech_without_audio_gives_an_empty_final(stt: PocketsphinxSTT) -> None:
    stream = await stt.open(demo_vocabulary())
    results = stream.transcripts()
    await stream.end_of_speech()
    assert await asyncio.wait_for(anext(results), 5) == Transcript("", True, 0.0)
    await stream.push(codec.silence(1000))
    await stream.end_of_speech()
    assert (await asyncio.wait_for(anext(results), 5)).text == ""
    await stream.aclose()
    await stream.aclose()  # idempotent
    assert [t async for t in results] == []  # the iterator ends after aclose
    await stream.push(codec.silence(20))  # ignored once closed


async def test_a_crashed_worker_fails_its_streams_and_the_next_call_gets_a_new_one(
    tmp_path: Path,
) -> None:
    engine = PocketsphinxSTT(tmp_path)
    try:
        stream = await engine.open(demo_vocabulary())
        results = stream.transcripts()
        (pid,) = engine.worker_pids()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(SttError, match="worker exited"):
            await asyncio.wait_for(anext(results), 5)
        replacement = await engine.open(demo_vocabulary())
        assert engine.worker_pids() != [pid]
        await replacement.aclose()
    finally:
        await engine.aclose()
    assert engine.worker_pids() == []


async def test_a_model_that_fails_to_load_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = language_model.LanguageModel(tmp_path / "no.arpa", tmp_path / "no.dict", 0, 0, 0)
    monkeypatch.setattr(language_model, "build", lambda vocabulary, cache_dir: broken)
    engine = PocketsphinxSTT(tmp_path)
    try:
        with pytest.raises(SttError, match="decoder failed to start"):
            await engine.open(demo_vocabulary())
    finally:
        await engine.aclose()


# --- text to speech --------------------------------------------------------------------------


@pytest.mark.parametrize("voice", ["slt", "kal", "rms"])
async def test_flite_speaks_telephone_audio(voice: str) -> None:
    chunks = [c async for c in FliteTTS().synthesize("Thanks for calling. How can I help?", voice)]
    audio = b"".join(chunks)
    assert chunks and all(chunks)
    assert 1.0 < len(audio) / codec.TELEPHONE_RATE < 5.0
    assert codec.rms(codec.ulaw_to_pcm16(audio)) > 300


def test_unknown_voices_fall_back_to_the_default() -> None:
    tts = FliteTTS()
    assert tts.voice_for("awb") == "awb"
    assert tts.voice_for("rachel") == "slt"
    assert tts.voice_for("-o /etc/passwd") == "slt"
    assert EspeakTTS().voice_for("en-gb") == "en-gb"
    assert EspeakTTS().voice_for("$(reboot)") == "en-us"


def test_a_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(TtsUnavailable, match="install the Debian package 'flite'"):
        FliteTTS(binary="/nonexistent/flite")
    with pytest.raises(TtsUnavailable, match="espeak-ng"):
        EspeakTTS(binary="/nonexistent/espeak-ng")


async def test_a_binary_that_vanishes_after_startup_is_a_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "flite"
    binary.symlink_to(shutil.which("flite") or "/usr/bin/flite")
    tts = FliteTTS(binary=str(binary))
    binary.unlink()
    with pytest.raises(TtsUnavailable, match="cannot start"):
        await anext(tts.synthesize("hello", "slt"))


def test_text_is_sanitised() -> None:
    text = "Hi\x00 there\n\t[[h@l'oU]] <b>Dr.</b> Patel\u2019s"
    assert sanitize(text) == "Hi there h@l'oU b Dr. /b Patel's"
    assert len(sanitize("a" * 5000)) == 2000


async def test_cancelling_flite_kills_it() -> None:
    text = " ".join(["This is a long sentence that keeps the synthesiser busy for a while."] * 30)
    consumer = asyncio.create_task(anext(FliteTTS().synthesize(text, "slt")))
    for _ in range(200):
        if child_processes("flite"):
            break
        await asyncio.sleep(0.005)
    assert child_processes("flite"), "flite never started"
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert child_processes("flite") == []


@pytest.mark.parametrize("closes_iterator", [True, False])
async def test_cancelling_espeak_mid_stream_kills_it(closes_iterator: bool) -> None:
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng is not installed")
    text = "This is a sentence. " * 200
    first = asyncio.Event()

    async def consume() -> None:
        speech = EspeakTTS().synthesize(text, "en-us")
        async with contextlib.aclosing(speech) if closes_iterator else contextlib.nullcontext():
            async for _ in speech:
                first.set()
                await asyncio.sleep(0.05)  # cancelled here, between chunks

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    assert child_processes("espeak-ng")
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    if not closes_iterator:
        # Cancelled outside the generator: asyncio's async-generator finaliser closes it
        # once the consumer's frame lets go, a loop iteration or two later.
        for _ in range(100):
            if not child_processes("espeak-ng"):
                break
            await asyncio.sleep(0.01)
    assert child_processes("espeak-ng") == []


async def test_espeak_speaks_telephone_audio() -> None:
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng is not installed")
    audio = b"".join([c async for c in EspeakTTS().synthesize("Goodbye and thank you.", "en")])
    assert 0.8 < len(audio) / codec.TELEPHONE_RATE < 5.0


def test_a_worker_forgets_models_no_call_uses() -> None:
    worker = sphinx_worker.Worker.__new__(sphinx_worker.Worker)
    worker._models, worker._idle, worker._channel_mean = {}, {}, {}
    worker._last_used, worker.calls = {}, {}
    for n in range(sphinx_worker.MODELS_KEPT + 3):
        key = (f"m{n}.arpa", f"m{n}.dict", True)
        worker._last_used[key] = float(n)
        worker._idle[key] = [object()]
        worker._models[key[0]] = object()
    busy = sphinx_worker.Options("m0.arpa", "m0.dict")
    worker.calls[1] = sphinx_worker.Recognizer(object(), busy)  # the oldest is still in a call
    worker._evict()
    assert sorted(worker._models) == ["m0.arpa", "m4.arpa", "m5.arpa", "m6.arpa"]
    assert len(worker._idle) == sphinx_worker.MODELS_KEPT
