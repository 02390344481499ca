"""Figures for the offline speech engines (not a test): ``uv run python -m tests.speech.measure``.

Prints per-chunk push cost, finalisation latency, real-time factor, decoder memory, concurrent
calls per core, language model build time and TTS time to first chunk.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import pocketsphinx

from realtime.audio import codec
from realtime.stt import language_model, sphinx_worker
from realtime.stt.pocketsphinx_stt import PocketsphinxSTT
from realtime.tts.flite_tts import EspeakTTS, FliteTTS
from tests.speech.clinic import demo_vocabulary, word_errors
from tests.speech.test_offline_speech import SENTENCES


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def speak(text: str, voice: str = "slt") -> bytes:
    return b"".join([c async for c in FliteTTS().synthesize(text, voice)])


def in_process(model: language_model.LanguageModel, clips: list[bytes]) -> None:
    """Decoder cost without IPC: per 20 ms chunk, per finalisation, real-time factor."""
    options = sphinx_worker.Options(str(model.arpa), str(model.dictionary))
    for second_pass in (True, False):
        decoder = pocketsphinx.Decoder(
            hmm=str(language_model.ACOUSTIC_MODEL),
            lm=str(model.arpa),
            dict=str(model.dictionary),
            samprate=16000,
            fwdflat=second_pass,
            bestpath=second_pass,
            loglevel="FATAL",
        )
        recognizer = sphinx_worker.Recognizer(decoder, options)
        chunk_costs, finals = [], []
        busy = audio = 0.0
        for clip in clips:
            for frame in codec.frames(clip):
                started = time.perf_counter()
                recognizer.audio(frame)
                chunk_costs.append(time.perf_counter() - started)
            started = time.perf_counter()
            recognizer.finalize()
            finals.append(time.perf_counter() - started)
            busy += sum(chunk_costs[-len(clip) // 160 :]) + finals[-1]
            audio += len(clip) / 8000
        print(
            f"in-process, second pass {'on ' if second_pass else 'off'}: "
            f"20 ms chunk median {statistics.median(chunk_costs) * 1000:.2f} ms "
            f"p95 {percentile(chunk_costs, 95) * 1000:.2f} ms; "
            f"finalise median {statistics.median(finals) * 1000:.1f} ms "
            f"p95 {percentile(finals, 95) * 1000:.1f} ms; RTF {busy / audio:.3f}"
        )


async def through_worker(stt: PocketsphinxSTT, clips: list[bytes]) -> None:
    vocabulary = demo_vocabulary()
    stream = await stt.open(vocabulary)
    results = stream.transcripts()
    pushes, finals, errors, words = [], [], 0, 0
    for sentence, clip in zip(SENTENCES, clips, strict=True):
        for frame in codec.frames(clip):
            started = time.perf_counter()
            await stream.push(frame)
            pushes.append(time.perf_counter() - started)
        await asyncio.sleep(0.3)  # let the worker catch up, as it would in real time
        started = time.perf_counter()
        await stream.end_of_speech()
        while not (result := await anext(results)).is_final:
            pass
        finals.append(time.perf_counter() - started)
        errors += word_errors(sentence, result.text)
        words += len(sentence.split())
    await stream.aclose()
    print(
        f"through the worker: push median {statistics.median(pushes) * 1e6:.0f} µs "
        f"p99 {percentile(pushes, 99) * 1e6:.0f} µs (event loop side); end_of_speech → final "
        f"median {statistics.median(finals) * 1000:.0f} ms p95 {percentile(finals, 95) * 1000:.0f}"
        f" ms; WER {errors / words:.3f}"
    )


async def memory_and_concurrency(stt: PocketsphinxSTT, clips: list[bytes]) -> None:
    vocabulary = demo_vocabulary()
    first = await stt.open(vocabulary)
    (pid,) = stt.worker_pids()
    one = rss_mb(pid)
    more = [await stt.open(vocabulary) for _ in range(10)]
    await asyncio.sleep(0.2)
    print(
        f"worker RSS {one:.0f} MB with 1 decoder, {rss_mb(pid):.0f} MB with 11: "
        f"{(rss_mb(pid) - one) / 10:.1f} MB per extra decoder"
    )
    streams = [first, *more]
    audio = b"".join(clips)
    seconds = 10.0
    frames = list(codec.frames(audio[: int(seconds * 8000)]))
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    for i, frame in enumerate(frames):  # 11 callers talking non-stop, paced in real time
        for stream in streams:
            await stream.push(frame)
        await asyncio.sleep(max(0.0, started + (i + 1) * 0.02 - time.perf_counter()))
    for stream in streams:
        await stream.end_of_speech()
    for stream in streams:
        results = stream.transcripts()
        while not (await anext(results)).is_final:
            pass
    used = cpu_seconds(pid) - cpu
    per_call = used / (len(streams) * seconds)
    print(
        f"{len(streams)} calls of continuous speech for {seconds:.0f} s: worker CPU {used:.1f} s "
        f"→ {per_call:.3f} core-seconds per call-second, ≈{int(1 / per_call)} talking calls per "
        "core"
    )
    for stream in streams:
        await stream.aclose()


async def tts_first_chunk() -> None:
    text = "Thanks for calling Bright Smile Dental, this is Ava. How can I help you today?"
    for name, engine, voice in [
        ("flite slt", FliteTTS(), "slt"),
        ("flite kal", FliteTTS(), "kal"),
        ("espeak-ng", EspeakTTS(), "en-us"),
    ]:
        firsts, totals = [], []
        for _ in range(5):
            started = time.perf_counter()
            first = None
            async for _chunk in engine.synthesize(text, voice):
                first = first or time.perf_counter() - started
            firsts.append(first or 0.0)
            totals.append(time.perf_counter() - started)
        print(
            f"TTS {name}: first chunk median {statistics.median(firsts) * 1000:.0f} ms, "
            f"whole text {statistics.median(totals) * 1000:.0f} ms"
        )


async def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        model = language_model.build(demo_vocabulary(), Path(cache))
        print(
            f"language model build {time.perf_counter() - started:.2f} s: {model.words} words, "
            f"{model.guessed} by letter-to-sound, ARPA {model.arpa.stat().st_size / 1e6:.1f} MB"
        )
        clips = [codec.silence(300) + await speak(s) + codec.silence(300) for s in SENTENCES]
        in_process(model, clips)
        stt = PocketsphinxSTT(Path(cache), workers=1)  # one process: its RSS and CPU are ours
        try:
            started = time.perf_counter()
            await (await stt.open(demo_vocabulary())).aclose()
            print(f"first open (worker start + decoder) {time.perf_counter() - started:.2f} s")
            await through_worker(stt, clips)
            await memory_and_concurrency(stt, clips)
        finally:
            await stt.aclose()
    await tts_first_chunk()


if __name__ == "__main__":
    asyncio.run(main())
