from __future__ import annotations

import array
import math
import random
import wave
from pathlib import Path

import pytest

from realtime.audio import codec


def tone(freq: float, rate: int, seconds: float, amplitude: int = 10000) -> bytes:
    n = int(rate * seconds)
    return array.array(
        "h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    ).tobytes()


def level_db(out: bytes, reference: bytes) -> float:
    return 20 * math.log10(max(codec.rms(out), 1e-9) / codec.rms(reference))


def chunked(resampler: codec.Resampler, data: bytes, sizes: list[int]) -> bytes:
    out, position, i = [], 0, 0
    while position < len(data):
        size = sizes[i % len(sizes)]
        out.append(resampler.process(data[position : position + size]))
        position += size
        i += 1
    return b"".join(out)


def test_ulaw_codes_survive_a_round_trip() -> None:
    codes = bytes(range(256))
    back = codec.pcm16_to_ulaw(codec.ulaw_to_pcm16(codes))
    # 0x7f and 0xff both mean zero; every other code maps back to itself.
    assert [c for c, b in zip(codes, back, strict=True) if c != b] == [0x7F]


def test_pcm_round_trip_error_is_within_ulaw_quantisation() -> None:
    pcm = tone(440, 8000, 0.1)
    back = codec.ulaw_to_pcm16(codec.pcm16_to_ulaw(pcm))
    original, decoded = array.array("h", pcm), array.array("h", back)
    for a, b in zip(original, decoded, strict=True):
        assert abs(a - b) <= max(8, abs(a) // 16)


def test_frames_are_fixed_size_and_padded_with_silence() -> None:
    parts = list(codec.frames(b"\x01" * 400))
    assert [len(p) for p in parts] == [160, 160, 160]
    assert parts[-1] == b"\x01" * 80 + codec.ULAW_SILENCE * 80
    assert list(codec.frames(b"")) == []


def test_silence_and_rms() -> None:
    assert len(codec.silence(20)) == codec.FRAME_BYTES
    assert len(codec.silence(1000)) == 8000
    assert codec.rms(codec.ulaw_to_pcm16(codec.silence(100))) == 0
    assert codec.rms(tone(1000, 8000, 0.5)) == pytest.approx(10000 / math.sqrt(2), rel=0.01)
    assert codec.dbfs(b"\x00\x00" * 10) == float("-inf")
    assert codec.dbfs(tone(1000, 8000, 0.5, 32767)) == pytest.approx(-3.0, abs=0.1)


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "filtered"),
    [(8000, 16000, True), (8000, 16000, False), (16000, 8000, True), (22050, 8000, True)],
)
def test_resampling_in_chunks_equals_resampling_at_once(
    from_rate: int, to_rate: int, filtered: bool
) -> None:
    rng = random.Random(5)
    noise = array.array("h", (rng.randint(-8000, 8000) for _ in range(from_rate))).tobytes()
    whole = codec.Resampler(from_rate, to_rate, filtered=filtered).process(noise)
    # Odd sizes split samples in half: the resampler must keep the stray byte.
    pieces = chunked(codec.Resampler(from_rate, to_rate, filtered=filtered), noise, [321, 2, 77])
    assert pieces == whole
    assert abs(len(whole) / 2 - to_rate) <= 2


def test_resampler_has_no_discontinuity_at_frame_boundaries() -> None:
    signal = tone(440, 8000, 1.0)
    out = chunked(codec.Resampler(8000, 16000), signal, [codec.FRAME_BYTES * 2])
    samples = array.array("h", out)[200:]
    biggest_step = max(abs(samples[i + 1] - samples[i]) for i in range(len(samples) - 1))
    # A 440 Hz sine at 16 kHz moves at most 2π·440/16000·10000 ≈ 1728 per sample.
    assert biggest_step < 1800


def test_downsampling_removes_what_the_telephone_band_cannot_carry() -> None:
    speech_band = tone(1000, 16000, 1.0)
    too_high = tone(6000, 16000, 1.0)
    assert level_db(codec.resample(speech_band, 16000, 8000)[400:], speech_band) > -0.5
    # Unfiltered decimation would fold 6 kHz onto 2 kHz at full strength.
    assert level_db(codec.resample(too_high, 16000, 8000)[400:], too_high) < -40


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = tone(300, 16000, 0.25)
    path = tmp_path / "a.wav"
    codec.write_wav(path, pcm, 16000)
    assert codec.read_wav(path) == (pcm, 16000)
    assert codec.read_wav(path.read_bytes()) == (pcm, 16000)
    ulaw = codec.read_wav_ulaw8k(path)
    assert len(ulaw) == 2000


def test_call_recording_is_stereo_caller_left_receptionist_right(tmp_path: Path) -> None:
    caller = codec.pcm16_to_ulaw(tone(400, 8000, 0.5))
    receptionist = codec.pcm16_to_ulaw(tone(900, 8000, 0.25))
    path = tmp_path / "call.wav"
    codec.write_call_recording(path, caller, receptionist)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() == len(caller)
        frames = array.array("h", wav.readframes(wav.getnframes()))
    left, right = frames[0::2], frames[1::2]
    assert left.tobytes() == codec.ulaw_to_pcm16(caller)
    assert right[: len(receptionist)].tobytes() == codec.ulaw_to_pcm16(receptionist)
    assert not any(right[len(receptionist) :])  # padded with silence


def test_wav_stream_reads_a_header_with_placeholder_sizes_in_small_pieces() -> None:
    pcm = tone(500, 22050, 0.2)
    header = (
        b"RIFF"
        + (0x7FFFF024).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (22050).to_bytes(4, "little")
        + (44100).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"LIST"
        + (4).to_bytes(4, "little")
        + b"INFO"
        + b"data"
        + (0x7FFFF000).to_bytes(4, "little")
    )
    data = header + pcm
    stream = codec.WavStream()
    out = b"".join(stream.feed(data[i : i + 7]) for i in range(0, len(data), 7))
    assert out == pcm
    assert stream.rate == 22050


def test_wav_stream_rejects_other_formats() -> None:
    with pytest.raises(ValueError, match="not a WAV"):
        codec.WavStream().feed(b"OggS" + bytes(40))
