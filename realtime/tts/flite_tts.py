"""Offline speech synthesis with the Debian ``flite`` and ``espeak-ng`` binaries.

Both run as asyncio subprocesses that read the text on stdin (never argv, where other users of
the machine could read it in the process list) and are killed when the consuming task is
cancelled. Output is converted to 8 kHz μ-law with an anti-aliased resampler.

flite cannot stream a WAV to a pipe (it seeks back to patch the header: only the header reaches
a pipe), so it writes one temporary file per sentence; splitting the text into sentences lets
the first one play while the rest is synthesised. espeak-ng streams its WAV on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from realtime.audio import codec
from realtime.tts.protocol import TtsError, TtsUnavailable

FLITE_VOICES = frozenset({"slt", "kal", "kal16", "awb", "rms"})  # built into Debian's flite
CHUNK_BYTES = 1600  # 200 ms of μ-law
MAX_CHARS = 2000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_UNSPOKEN = re.compile(r"[\[\]{}<>|\\^_`~*#]")  # markup-ish characters (espeak's [[phonemes]])


def sanitize(text: str, max_chars: int = MAX_CHARS) -> str:
    """Plain speakable text: no control characters, markup brackets or runs of whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = _UNSPOKEN.sub(" ", text.replace("\u201d", '"'))
    return " ".join(text.split())[:max_chars]


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _resolve(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise TtsUnavailable(
            f"{binary!r} not found: install the Debian package '{package}' (the ./run script "
            "does) or choose another TTS engine"
        )
    return path


async def _spawn(*argv: str, stdout: int | None) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=stdout,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as error:
        raise TtsUnavailable(f"cannot start {argv[0]!r}: {error.strerror}") from None


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    # Reading its output to the end lets a pipe that back-pressure paused see EOF and close;
    # shielded, because we are often here because of a cancellation.
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await asyncio.shield(process.communicate())


def _ulaw_chunks(pcm16: bytes, resampler: codec.Resampler) -> list[bytes]:
    ulaw = codec.pcm16_to_ulaw(resampler.process(pcm16))
    return [ulaw[i : i + CHUNK_BYTES] for i in range(0, len(ulaw), CHUNK_BYTES)]


def _take_wav(path: Path) -> tuple[bytes, int]:
    try:
        return codec.read_wav(path)
    except FileNotFoundError:
        raise TtsError("flite wrote no audio") from None
    finally:
        path.unlink(missing_ok=True)


class FliteTTS:
    """CMU flite voices ("slt", "kal", "kal16", "awb", "rms"); unknown voices use the default."""

    def __init__(self, binary: str = "flite", default_voice: str = "slt") -> None:
        self.binary = _resolve(binary, "flite")
        self.default_voice = default_voice if default_voice in FLITE_VOICES else "slt"

    def voice_for(self, voice: str) -> str:
        return voice if voice in FLITE_VOICES else self.default_voice

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        text = sanitize(text)
        if not text:
            return
        name = self.voice_for(voice)
        with tempfile.TemporaryDirectory(prefix="tts-") as workdir:  # 0700: audio is PHI too
            target = Path(workdir) / "speech.wav"
            for sentence in sentences(text):
                pcm, rate = await self._run(sentence, name, target)
                resampler = codec.Resampler(rate, codec.TELEPHONE_RATE)
                for chunk in _ulaw_chunks(pcm, resampler):
                    yield chunk

    async def _run(self, sentence: str, voice: str, target: Path) -> tuple[bytes, int]:
        process = await _spawn(
            self.binary, "-voice", voice, "-f", "/dev/stdin", "-o", str(target), stdout=None
        )
        try:
            await process.communicate(sentence.encode())
        finally:
            await _stop(process)
        if process.returncode != 0:
            raise TtsError(f"flite failed (exit status {process.returncode})")
        return _take_wav(target)


class EspeakTTS:
    """espeak-ng (streams; robotic, and recognised far worse than flite by pocketsphinx)."""

    _VOICE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]+)*(\+[a-z0-9]+)?$")

    def __init__(self, binary: str = "espeak-ng", default_voice: str = "en-us") -> None:
        self.binary = _resolve(binary, "espeak-ng")
        self.default_voice = default_voice

    def voice_for(self, voice: str) -> str:
        return voice if self._VOICE.match(voice) else self.default_voice

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        text = sanitize(text)
        if not text:
            return
        process = await _spawn(
            self.binary, "--stdout", "-v", self.voice_for(voice), stdout=asyncio.subprocess.PIPE
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(text.encode())
            process.stdin.close()
            wav = codec.WavStream()
            resampler: codec.Resampler | None = None
            while data := await process.stdout.read(4096):
                pcm = wav.feed(data)
                if not pcm:
                    continue
                resampler = resampler or codec.Resampler(wav.rate, codec.TELEPHONE_RATE)
                for chunk in _ulaw_chunks(pcm, resampler):
                    yield chunk
            if await process.wait() != 0:
                raise TtsError(f"espeak-ng failed (exit status {process.returncode})")
        finally:
            await _stop(process)
