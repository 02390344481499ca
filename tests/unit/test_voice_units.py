"""Unit tests of the voice loop's pure pieces: wire protocol, VAD, chunker."""

import base64
import json

import pytest

from realtime.audio.codec import silence
from realtime.text_chunker import TextChunker
from realtime.turns import TurnSettings
from realtime.twilio_protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    clear_frame,
    mark_frame,
    media_frame,
    parse_frame,
)
from realtime.vad import EnergyVad
from tests.fakes.speech import tone


def test_parses_every_inbound_event() -> None:
    payload = base64.b64encode(b"\xff" * 160).decode()
    frames = [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
            "streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
            "customParameters": {"clinic_id": "c1"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}},
        {"event": "media", "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": payload}},
        {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "0"}},
        {"event": "mark", "mark": {"name": "s1c1"}},
        {"event": "stop", "stop": {"accountSid": "AC1", "callSid": "CA1"}},
    ]  # fmt: skip
    events = [parse_frame(json.dumps(f)) for f in frames]
    assert events[0] == Connected("Call", "1.0.0")
    assert events[1] == Start("MZ1", "CA1", "AC1", {"clinic_id": "c1"})
    assert events[2] == Media(b"\xff" * 160, 40, 2)
    assert events[3] == Dtmf("0") and events[4] == Mark("s1c1") and events[5] == Stop("CA1")


@pytest.mark.parametrize(
    "frame",
    [b"binary", "{", "[]", '{"event": "media"}', '{"event": "media", "media": {"payload": "@@"}}',
     '{"event": "dtmf", "dtmf": {"digit": "12"}}', '{"event": "start", "start": {"callSid": "CA1"}}',
     '{"event": "nope"}', '{"event": "media", "media": {"payload": "", "timestamp": "x"}}'],
)  # fmt: skip
def test_malformed_frames_raise_protocol_error_without_quoting(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_frame(frame)
    assert "@@" not in str(caught.value)


def test_outbound_frames_are_the_three_twilio_accepts() -> None:
    assert json.loads(media_frame("MZ1", b"\x00\x01")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": "AAE="},
    }
    assert json.loads(mark_frame("MZ1", "s1c2")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "s1c2"},
    }
    assert json.loads(clear_frame("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def feed(vad: EnergyVad, audio: bytes, start_ms: int) -> list:
    events = []
    for n in range(0, len(audio), 160):
        event = vad.process(audio[n : n + 160], start_ms + n // 8)
        if event:
            events.append(event)
    return events


def test_vad_finds_speech_and_its_end_after_the_endpointing_silence() -> None:
    vad = EnergyVad(TurnSettings(endpointing_ms=300))
    events = feed(vad, silence(500) + tone(600) + silence(400), 0)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].at_ms == 500
    assert events[1].at_ms == 1100 and events[1].speech_ms == 600


def test_vad_adapts_to_steady_line_noise() -> None:
    vad = EnergyVad(TurnSettings())
    hum = tone(3000, freq=60, level=0.01)
    assert feed(vad, hum, 0) == []
    assert [e.kind for e in feed(vad, tone(400, level=0.3), 3000)] == ["start"]


def test_chunker_flushes_the_first_clause_then_sentences() -> None:
    chunker = TextChunker()
    out = []
    for word in [
        "Sure,",
        "let",
        "me",
        "check",
        "Tuesday",
        "for",
        "you,",
        "one",
        "moment.",
        "I",
        "have",
        "two",
        "times.",
        "Okay",
    ]:
        out += chunker.feed(word + " ")
    out += chunker.flush()
    assert out == [
        "Sure, let me check Tuesday for you,",
        "one moment.",
        "I have two times.",
        "Okay",
    ]
