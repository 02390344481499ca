"""DeepgramSTT through the real ``deepgram-sdk`` against a local server speaking Deepgram's live
protocol (tests/fakes/deepgram_api.py): what goes on the wire, interim and final results, one
final per end of speech, keep-alive during silence, and reconnecting without losing the turn."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator

import pytest

from realtime.audio.codec import silence
from realtime.stt.deepgram_stt import DeepgramOptions, DeepgramSTT, SttError, boost_terms
from realtime.stt.protocol import Vocabulary
from tests.cloud.streaming import Caller, speech
from tests.fakes import closed_port_url
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram, Utterance

KEY = "dg-test-key"
VOCABULARY = Vocabulary(
    clinic_name="Bright Smile Dental",
    agent_name="Ava",
    providers=("Dr. Maya Nguyen",),
    appointment_types=("cleaning", "root canal"),
    payers=("Delta Dental",),
    patient_names=(("Jordan", "Avery"),),
)
FAST = DeepgramLatency(final_after_speech_s=0.05, finalize_s=0.01)


@pytest.fixture
def deepgram() -> Iterator[FakeDeepgram]:
    fake = FakeDeepgram(KEY, latency=FAST)
    with fake.running():
        yield fake


async def open_caller(
    fake: FakeDeepgram, vocabulary: Vocabulary = VOCABULARY, **options: object
) -> Caller:
    stt = DeepgramSTT(KEY, base_url=fake.url, options=DeepgramOptions(**options))  # type: ignore[arg-type]
    return Caller(await stt.open(vocabulary))


async def test_the_stream_asks_for_mulaw_passthrough_with_the_clinic_words_boosted(
    deepgram: FakeDeepgram,
) -> None:
    caller = await open_caller(deepgram)
    await caller.close()
    [connection] = deepgram.connections
    assert connection.headers["authorization"] == f"Token {KEY}"
    expected = {
        "model": "nova-3", "encoding": "mulaw", "sample_rate": "8000", "channels": "1",
        "interim_results": "true", "endpointing": "300", "utterance_end_ms": "1000",
        "smart_format": "true", "language": "en-US",
    }  # fmt: skip
    assert {k: connection.param(k) for k in expected} == expected
    keyterms = connection.params("keyterm")
    for term in ("Bright Smile Dental", "Dr. Maya Nguyen", "root canal", "Delta Dental"):
        assert term in keyterms
    assert "periodontal" in keyterms  # clinical vocabulary rides along
    assert not any("Jordan" in term for term in keyterms)  # patient names stay out of URLs
    assert connection.control[-1] == "CloseStream"


async def test_older_models_get_keywords_with_an_intensifier(deepgram: FakeDeepgram) -> None:
    caller = await open_caller(deepgram, model="nova-2")
    await caller.close()
    [connection] = deepgram.connections
    assert connection.params("keyterm") == []
    assert "Nguyen:2" in connection.params("keywords")


async def test_interim_results_grow_and_each_end_of_speech_gets_one_final(
    deepgram: FakeDeepgram,
) -> None:
    deepgram.say("I'd like to book a cleaning for next week.", "Tuesday works.")
    caller = await open_caller(deepgram)
    first = await caller.turn(1400)
    assert (first.text, first.is_final) == ("I'd like to book a cleaning for next week.", True)
    assert first.confidence == pytest.approx(0.97)
    texts = [t.text for t in caller.interims]
    assert texts[0] == "I'd"
    assert any(t.startswith("I'd like to") for t in texts)
    assert all(len(a) <= len(b) for a, b in itertools.pairwise(texts))

    second = await caller.turn(600)
    assert second.text == "Tuesday works."
    await asyncio.sleep(0.3)
    assert caller.finals.empty()  # Deepgram's own endpointing added no unasked-for finals
    await caller.close()


async def test_end_of_speech_before_deepgram_endpoints_sends_finalize(
    deepgram: FakeDeepgram,
) -> None:
    deepgram.latency = DeepgramLatency(final_after_speech_s=0.0, finalize_s=0.02)
    deepgram.say("Can I come in on Friday?")
    # Deepgram's endpointing waits 3 s: only our Finalize can close the turn quickly.
    caller = await open_caller(deepgram, endpointing_ms=3000)
    await caller.say(900, trailing_ms=100)
    await asyncio.sleep(0.2)
    await caller.stream.end_of_speech()
    final = await caller.final(timeout=1.5)
    assert final.text == "Can I come in on Friday?"
    [connection] = deepgram.connections
    assert "Finalize" in connection.control
    [result] = connection.results(final=True)
    assert result["from_finalize"] is True and result["speech_final"] is False
    await caller.close()


async def test_end_of_speech_without_speech_gives_an_empty_final(deepgram: FakeDeepgram) -> None:
    caller = await open_caller(deepgram, finalize_timeout_s=0.3)
    await caller.send(silence(400))
    await caller.stream.end_of_speech()
    final = await caller.final()
    assert (final.text, final.is_final, final.confidence) == ("", True, 0.0)
    await caller.close()


async def test_keyterms_make_the_clinic_words_heard(deepgram: FakeDeepgram) -> None:
    said = Utterance("I'd like to see Dr. Nguyen.", misheard={"Nguyen.": "when."})
    deepgram.say(said, said)
    boosted = await open_caller(deepgram)
    assert (await boosted.turn(900)).text == "I'd like to see Dr. Nguyen."
    await boosted.close()
    plain = await open_caller(deepgram, Vocabulary(clinic_name="Bright Smile Dental"))
    assert (await plain.turn(900)).text == "I'd like to see Dr. when."
    await plain.close()


def test_boost_terms_are_bounded_and_distinct() -> None:
    many = Vocabulary(providers=(*(f"Dr. Provider {i}" for i in range(300)), "dr. provider 1"))
    terms = boost_terms(many)
    assert terms[:2] == ["Dr. Provider 0", "Dr. Provider 1"]  # the clinic's own words first
    assert len({t.lower() for t in terms}) == len(terms)
    assert len(terms) <= 100 and sum(len(t.split()) for t in terms) <= 250


async def test_keep_alive_holds_the_socket_while_the_caller_is_silent(
    deepgram: FakeDeepgram,
) -> None:
    deepgram.idle_timeout_s = 1.0  # Deepgram's is 10 s; shortened to keep the test quick
    deepgram.say("Hello there.", "Still here.")
    caller = await open_caller(deepgram, keepalive_s=0.3, silence_gate_ms=200)
    assert (await caller.turn(600)).text == "Hello there."
    # The agent talks for 2 s: the caller's line is quiet, and it is not streamed.
    await caller.send(silence(2000), paced=True)
    [connection] = deepgram.connections
    assert connection.control.count("KeepAlive") >= 3
    assert connection.close_reason == ""  # no NET-0001 timeout
    streamed_s = connection.audio_bytes / 8000
    assert streamed_s < 0.6 + 0.3 + 0.3 + 0.5  # speech, trailing audio, gate hangover, slack
    # The gate opens again with the start of the next words (preroll included).
    assert (await caller.turn(600)).text == "Still here."
    await caller.close()


async def test_a_drop_mid_utterance_reconnects_and_replays_the_turn(
    deepgram: FakeDeepgram,
) -> None:
    deepgram.say("I need to reschedule my appointment.")
    deepgram.drop_in_speech_ms = 400
    caller = await open_caller(deepgram)
    await caller.say(1000, paced=True)
    await caller.stream.end_of_speech()
    final = await caller.final()
    assert final.text == "I need to reschedule my appointment."
    first, second = deepgram.connections
    assert first.close_reason == "dropped"
    assert second.audio_bytes >= 8 * 1000  # the whole utterance again, from its start
    assert caller.error is None
    await caller.close()


async def test_a_refused_connection_is_retried(deepgram: FakeDeepgram) -> None:
    deepgram.refuse = 1
    caller = await open_caller(deepgram)
    assert deepgram.handshakes == 2
    await caller.close()


async def test_a_wrong_key_is_a_clear_error(deepgram: FakeDeepgram) -> None:
    stt = DeepgramSTT("wrong-key", base_url=deepgram.url)
    with pytest.raises(SttError, match="cannot connect"):
        await stt.open(VOCABULARY)
    assert deepgram.connections == []


async def test_an_unreachable_server_is_a_clear_error() -> None:
    stt = DeepgramSTT(KEY, base_url=closed_port_url())
    with pytest.raises(SttError):
        await stt.open(VOCABULARY)


async def test_a_silent_network_holds_up_the_call_briefly_then_fails_the_stream() -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}"
        options = DeepgramOptions(open_wait_s=0.3, connect_timeout_s=0.4, reconnect_attempts=1)
        started = time.monotonic()
        caller = Caller(await DeepgramSTT(KEY, url, options=options).open(VOCABULARY))
        assert time.monotonic() - started < 0.3 + 0.2
        await caller.send(speech(400))  # kept for the socket that never comes
        async with asyncio.timeout(5):
            while caller.error is None:
                await asyncio.sleep(0.05)
        assert isinstance(caller.error, SttError)
        await caller.close()


async def test_the_stream_fails_after_bounded_reconnects(deepgram: FakeDeepgram) -> None:
    deepgram.say("Hello.")
    caller = await open_caller(deepgram, reconnect_attempts=2)
    deepgram.refuse = 10
    deepgram.drop_in_speech_ms = 200
    await caller.send(speech(600), paced=True)
    async with asyncio.timeout(5):
        while caller.error is None:
            await asyncio.sleep(0.05)
    assert isinstance(caller.error, SttError)
    assert deepgram.handshakes == 1 + 2  # the first, then 2 refused reconnects
    await caller.close()


def test_a_missing_key_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="DEEPGRAM_API_KEY"):
        DeepgramSTT("")


async def test_every_end_of_speech_gets_exactly_one_final(deepgram: FakeDeepgram) -> None:
    deepgram.latency = DeepgramLatency(final_after_speech_s=0.4, finalize_s=0.05)
    deepgram.say("Yes.", "Wednesday, please.")
    caller = await open_caller(deepgram, finalize_timeout_s=0.5)
    await caller.say(500, trailing_ms=60, paced=True)
    await caller.stream.end_of_speech()  # Finalize in flight...
    await caller.stream.end_of_speech()  # ...and the VAD fires again before the answer
    await caller.say(700, trailing_ms=60, paced=True)
    await caller.stream.end_of_speech()
    await caller.send(silence(300), paced=True)
    await caller.stream.end_of_speech()  # noise the VAD took for speech: nothing was said
    finals = [await caller.final() for _ in range(4)]

    # The second end of speech had no new audio; the first was closed by it with its interim.
    assert [f.text for f in finals] == ["Yes.", "", "Wednesday, please.", ""]
    await asyncio.sleep(1.0)
    assert caller.finals.empty()  # late answers from Deepgram were not taken for new turns
    await caller.close()
