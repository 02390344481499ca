"""Telephone audio: 8 kHz μ-law ↔ PCM16, stateful resampling, frames, WAV files.

Twilio Media Streams carry 8 kHz μ-law mono in 20 ms frames of 160 bytes; everything here works
on ``bytes`` of that format or of little-endian signed 16-bit PCM (``pcm16``). The sample-level
work is delegated to the stdlib ``audioop`` module (deprecated in 3.11, removed in 3.13, where the
``audioop-lts`` wheel provides the same module): it is only imported here, so swapping it out is a
change to this file alone.
"""

from __future__ import annotations

import io
import math
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TELEPHONE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = TELEPHONE_RATE * FRAME_MS // 1000  # one μ-law byte per sample
ULAW_SILENCE = b"\xff"  # μ-law code for 0 (0x7f is the other zero)
SAMPLE_WIDTH = 2


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, SAMPLE_WIDTH)


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    return audioop.lin2ulaw(pcm16, SAMPLE_WIDTH)


class Resampler:
    """Mono PCM16 rate conversion whose state carries across chunks.

    Feeding a stream chunk by chunk produces the same samples as converting it in one piece,
    so 20 ms frames can be resampled as they arrive without clicks at the boundaries.
    ``audioop.ratecv`` alone interpolates linearly and would alias a wideband voice into the
    telephone band (lisping, harsh sibilants, worse recognition), so conversions are low-passed
    below the lower rate's Nyquist frequency: before decimating, after interpolating.
    ``filtered=False`` is plain linear interpolation (see the recogniser for why it wants that).
    """

    def __init__(self, from_rate: int, to_rate: int, *, filtered: bool = True) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: Any = None
        self._odd = b""  # a trailing half sample, kept for the next chunk
        self._filter: _LowPass | None = None
        if from_rate != to_rate and filtered:
            rate = max(from_rate, to_rate)
            self._filter = _LowPass(
                0.45 * min(from_rate, to_rate) / rate, taps=_taps(from_rate, to_rate)
            )

    def process(self, pcm16: bytes) -> bytes:
        if self._odd:
            pcm16 = self._odd + pcm16
            self._odd = b""
        if len(pcm16) % SAMPLE_WIDTH:
            pcm16, self._odd = pcm16[:-1], pcm16[-1:]
        if self.from_rate == self.to_rate or not pcm16:
            return pcm16
        if self._filter is not None and self.to_rate < self.from_rate:
            pcm16 = self._filter.process(pcm16)
        out, self._state = audioop.ratecv(
            pcm16, SAMPLE_WIDTH, 1, self.from_rate, self.to_rate, self._state
        )
        if self._filter is not None and self.to_rate > self.from_rate:
            out = self._filter.process(out)
        return out

    def reset(self) -> None:
        self._state = None
        self._odd = b""
        if self._filter is not None:
            self._filter.reset()


def _taps(from_rate: int, to_rate: int) -> int:
    ratio = max(from_rate, to_rate) / min(from_rate, to_rate)
    return 2 * round(12 * ratio) + 1


class _LowPass:
    """A windowed-sinc FIR low-pass filter computed with ``audioop`` on 32-bit samples.

    One scaled, shifted copy of the signal per tap, summed in 32 bits (16 bits of headroom),
    keeps the per-sample work in C; the last ``taps - 1`` samples carry over to the next chunk.
    """

    def __init__(self, cutoff: float, taps: int) -> None:
        middle = (taps - 1) / 2
        weights = []
        for n in range(taps):
            x = n - middle
            sinc = 2 * cutoff if x == 0 else math.sin(2 * math.pi * cutoff * x) / (math.pi * x)
            window = (
                0.42
                - 0.5 * math.cos(2 * math.pi * n / (taps - 1))
                + 0.08 * math.cos(4 * math.pi * n / (taps - 1))
            )
            weights.append(sinc * window)
        total = sum(weights)
        self._weights = [w / total for w in weights]
        self._history_bytes = (taps - 1) * 4
        self._history = bytes(self._history_bytes)

    def process(self, pcm16: bytes) -> bytes:
        wide = self._history + audioop.lin2lin(pcm16, SAMPLE_WIDTH, 4)
        size = len(wide) - self._history_bytes
        acc = bytes(size)
        for k, weight in enumerate(reversed(self._weights)):
            acc = audioop.add(acc, audioop.mul(wide[4 * k : 4 * k + size], 4, weight), 4)
        self._history = wide[size:]
        return audioop.lin2lin(acc, 4, SAMPLE_WIDTH)

    def reset(self) -> None:
        self._history = bytes(self._history_bytes)


def resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """One-shot conversion of a whole buffer."""
    return Resampler(from_rate, to_rate).process(pcm16)


def frames(ulaw: bytes, size: int = FRAME_BYTES) -> Iterator[bytes]:
    """Split into frames of exactly ``size`` bytes, padding the last one with silence."""
    for start in range(0, len(ulaw), size):
        frame = ulaw[start : start + size]
        yield frame + ULAW_SILENCE * (size - len(frame))


def silence(ms: int) -> bytes:
    """``ms`` milliseconds of 8 kHz μ-law silence."""
    return ULAW_SILENCE * (TELEPHONE_RATE * ms // 1000)


def rms(pcm16: bytes) -> float:
    """Root mean square of PCM16 samples (0 … 32768)."""
    if len(pcm16) < SAMPLE_WIDTH:
        return 0.0
    return float(audioop.rms(pcm16[: len(pcm16) - len(pcm16) % SAMPLE_WIDTH], SAMPLE_WIDTH))


def dbfs(pcm16: bytes) -> float:
    """Level relative to full scale; -inf for digital silence."""
    level = rms(pcm16)
    return 20 * math.log10(level / 32768) if level else float("-inf")


def to_mono(pcm16: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm16
    if channels != 2:
        raise ValueError(f"unsupported channel count {channels}")
    return audioop.tomono(pcm16, SAMPLE_WIDTH, 0.5, 0.5)


def pcm16_to_ulaw8k(pcm16: bytes, rate: int) -> bytes:
    """Mono PCM16 at any rate → 8 kHz μ-law."""
    return pcm16_to_ulaw(resample(pcm16, rate, TELEPHONE_RATE))


# --- WAV files ---------------------------------------------------------------------------


def read_wav(source: str | Path | bytes) -> tuple[bytes, int]:
    """A PCM16 WAV file (path or bytes) → (mono PCM16, sample rate)."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with handle, wave.open(handle, "rb") as wav:
        if wav.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * wav.getsampwidth()}-bit")
        pcm = wav.readframes(wav.getnframes())
        return to_mono(pcm, wav.getnchannels()), wav.getframerate()


def read_wav_ulaw8k(source: str | Path | bytes) -> bytes:
    """A PCM16 WAV file at any rate → 8 kHz μ-law mono."""
    pcm, rate = read_wav(source)
    return pcm16_to_ulaw8k(pcm, rate)


def write_wav(path: str | Path, pcm16: bytes, rate: int, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(pcm16)


def write_ulaw_wav(path: str | Path, ulaw: bytes) -> None:
    """8 kHz μ-law mono → a PCM16 WAV file any player opens."""
    write_wav(path, ulaw_to_pcm16(ulaw), TELEPHONE_RATE)


def stereo_from_ulaw(left: bytes, right: bytes) -> bytes:
    """Interleave two 8 kHz μ-law mono streams into PCM16 stereo; the shorter is padded."""
    length = max(len(left), len(right))
    left = left + ULAW_SILENCE * (length - len(left))
    right = right + ULAW_SILENCE * (length - len(right))
    return audioop.add(
        audioop.tostereo(ulaw_to_pcm16(left), SAMPLE_WIDTH, 1, 0),
        audioop.tostereo(ulaw_to_pcm16(right), SAMPLE_WIDTH, 0, 1),
        SAMPLE_WIDTH,
    )


def write_call_recording(path: str | Path, caller_ulaw: bytes, receptionist_ulaw: bytes) -> None:
    """A two-channel recording of a call: caller on the left, receptionist on the right.

    Both streams must be aligned to the call's timeline (silence where a side was quiet).
    """
    write_wav(path, stereo_from_ulaw(caller_ulaw, receptionist_ulaw), TELEPHONE_RATE, channels=2)


class WavStream:
    """Incremental reader of a PCM16 WAV byte stream (e.g. a synthesiser's stdout).

    Streaming writers put a placeholder in the size fields, so the data chunk is read until
    the stream ends, whatever its header claims.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._odd = b""
        self.rate = 0
        self.channels = 0
        self._in_data = False

    def feed(self, data: bytes) -> bytes:
        """More bytes of the file → the PCM16 (mono) they complete; b"" while in the header."""
        if self._in_data:
            return self._samples(data)
        self._buffer += data
        if len(self._buffer) < 12:
            return b""
        if self._buffer[:4] != b"RIFF" or self._buffer[8:12] != b"WAVE":
            raise ValueError("not a WAV stream")
        position = 12
        while len(self._buffer) >= position + 8:
            chunk_id = self._buffer[position : position + 4]
            size = int.from_bytes(self._buffer[position + 4 : position + 8], "little")
            body = position + 8
            if chunk_id == b"data":
                if not self.rate:
                    raise ValueError("WAV data before its format")
                self._in_data = True
                rest, self._buffer = self._buffer[body:], b""
                return self._samples(rest)
            if len(self._buffer) < body + size:
                return b""  # wait for the rest of this chunk
            if chunk_id == b"fmt ":
                fmt = self._buffer[body : body + size]
                audio_format = int.from_bytes(fmt[0:2], "little")
                self.channels = int.from_bytes(fmt[2:4], "little")
                self.rate = int.from_bytes(fmt[4:8], "little")
                bits = int.from_bytes(fmt[14:16], "little")
                if audio_format != 1 or bits != 16 or self.channels not in (1, 2):
                    raise ValueError("only 16-bit PCM mono or stereo WAV is supported")
            position = body + size + (size & 1)
        return b""

    def _samples(self, data: bytes) -> bytes:
        data = self._odd + data
        frame = SAMPLE_WIDTH * self.channels
        cut = len(data) - len(data) % frame
        data, self._odd = data[:cut], data[cut:]
        return to_mono(data, self.channels) if data else b""
