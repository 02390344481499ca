"""What the cloud speech adapters add on top of the providers' own latency.

    uv run python -m bench.cloud_adapters [--quick]

Against the local Deepgram and ElevenLabs servers (tests/fakes), through the real SDK / socket
code, on the call's event loop:

- Deepgram final → ``Transcript``: from the server sending the final ``Results`` to the stream
  yielding the final transcript (parsing, timeline bookkeeping, queueing);
- ``end_of_speech`` → final when Deepgram had already endpointed the utterance (no ``Finalize``
  round trip needed);
- ElevenLabs first audio → first chunk: from the server sending the first ``audio`` message to
  ``synthesize`` yielding it;
- ElevenLabs request → text at the server, with a warm socket and with a cold one (the
  handshake a warm socket saves; on localhost, so a lower bound of the real saving).

The fakes run in their own thread with their own event loop, like remote services; both sides
read ``time.monotonic()``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from bench.common import Row, format_table
from bench.report import write_results
from realtime.audio.codec import silence
from realtime.stt.deepgram_stt import DeepgramOptions, DeepgramSTT
from realtime.stt.protocol import Vocabulary
from realtime.tts.elevenlabs_tts import ElevenLabsTTS
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs
from tests.fakes.speech import tone

KEY = "bench-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll a condition on the fake (it lives on another thread: no event to await)."""
    for _ in range(int(timeout_s / 0.002)):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise TimeoutError("the fake server did not get there")


def finals(fake: FakeDeepgram) -> int:
    return len(fake.connections[-1].results(final=True)) if fake.connections else 0


async def deepgram_endpointed(turns: int) -> list[float]:
    """The caller's VAD fires after Deepgram already sent its speech_final → our final."""
    fake = FakeDeepgram(KEY, latency=DeepgramLatency(final_after_speech_s=0.05, finalize_s=0.01))
    samples: list[float] = []
    with fake.running() as url:
        stt = DeepgramSTT(KEY, url, options=DeepgramOptions(silence_gate_ms=None))
        stream = await stt.open(Vocabulary(clinic_name="Bright Smile Dental"))
        results = stream.transcripts().__aiter__()
        audio = tone(600) + silence(200)
        for _ in range(turns):
            fake.say("I would like to book a cleaning.")
            for start in range(0, len(audio), 160):
                await stream.push(audio[start : start + 160])
            await until(lambda: finals(fake) > len(samples))
            await asyncio.sleep(0.02)  # the speech_final has reached the stream
            eos = time.monotonic()
            await stream.end_of_speech()
            while not (await anext(results)).is_final:
                pass
            samples.append((time.monotonic() - eos) * 1000)
        await stream.aclose()
    return samples


async def deepgram_delivery(turns: int) -> list[float]:
    """Server sends the final (Finalize path) → the stream yields it."""
    fake = FakeDeepgram(KEY, latency=DeepgramLatency(final_after_speech_s=0.0, finalize_s=0.0))
    samples: list[float] = []
    with fake.running() as url:
        stt = DeepgramSTT(KEY, url, options=DeepgramOptions(endpointing_ms=5000))
        stream = await stt.open(Vocabulary())
        results = stream.transcripts().__aiter__()
        audio = tone(400)
        for _ in range(turns):
            fake.say("Yes please.")
            for start in range(0, len(audio), 160):
                await stream.push(audio[start : start + 160])
            await stream.end_of_speech()
            while not (transcript := await anext(results)).is_final:
                pass
            got = time.monotonic()
            connection = fake.connections[-1]
            final = connection.results(final=True)[-1]
            samples.append((got - connection.sent_at[connection.sent.index(final)]) * 1000)
            assert transcript.text == "Yes please."
        await stream.aclose()
    return samples


async def elevenlabs(turns: int) -> tuple[list[float], list[float], list[float]]:
    fake = FakeElevenLabs(KEY, ElevenLabsLatency(first_byte_s=0.0, speed=4.0))
    first_chunk: list[float] = []
    warm: list[float] = []
    cold: list[float] = []
    with fake.running() as url:
        for keep_warm, sink in ((True, warm), (False, cold)):
            tts = ElevenLabsTTS(KEY, VOICE, url, keep_warm=keep_warm)
            if keep_warm:
                await tts.warm()
                await asyncio.sleep(0.05)
            for _ in range(turns):
                asked = time.monotonic()
                stream = tts.synthesize("Your appointment is on Tuesday at nine.", "")
                first = await anext(stream)
                got = time.monotonic()
                async for _chunk in stream:
                    pass
                connection = next(c for c in reversed(fake.connections) if c.texts)
                assert first and connection.text_at and connection.first_audio_at
                sink.append((connection.text_at - asked) * 1000)
                if keep_warm:
                    first_chunk.append((got - connection.first_audio_at) * 1000)
                await asyncio.sleep(0.02)  # the warm pool refills while audio plays
            await tts.aclose()
    return first_chunk, warm, cold


async def main(quick: bool) -> None:
    turns = 10 if quick else 60
    eos_to_final = await deepgram_endpointed(turns)
    delivery = await deepgram_delivery(turns)
    first_chunk, warm, cold = await elevenlabs(turns)
    rows = [
        Row.of("deepgram final sent → Transcript yielded", delivery),
        Row.of("end_of_speech → final (Deepgram already endpointed)", eos_to_final),
        Row.of("elevenlabs first audio sent → chunk yielded", first_chunk),
        Row.of("synthesize() → text at server, warm socket", warm),
        Row.of("synthesize() → text at server, cold socket", cold),
    ]
    print(format_table(rows))
    write_results(
        "cloud_adapters",
        rows,
        notes=["local servers on the same machine; cold-socket time excludes TLS and network"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
