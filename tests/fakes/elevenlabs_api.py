"""ElevenLabs' text-to-speech WebSocket, ``/v1/text-to-speech/{voice_id}/stream-input``.

As documented: the key comes in the ``xi-api-key`` header (HTTP 401 when wrong) or, without the
header, as ``xi_api_key`` in the first message; the first message is ``{"text": " "}`` with
optional ``voice_settings``, ``generation_config`` and ``pronunciation_dictionary_locators``;
then text messages (``try_trigger_generation``, ``flush``) and ``{"text": ""}`` to end the
input. Audio comes back as ``{"audio": <base64>, "isFinal": null, "normalizedAlignment": ...}``
messages, then ``{"isFinal": true}``, and the server closes (1000). A socket that receives no
text for ``inactivity_timeout`` seconds (query parameter, default 20) is closed with 1008.

The audio is μ-law 8 kHz (``output_format=ulaw_8000``, the only format the fake makes): a tone
of ``ms_per_char`` per character, so its length follows the text. Generation starts on
``flush``, on the end of input, or when ``chunk_length_schedule[0]`` characters are buffered;
the first chunk comes ``first_byte_s`` after that, the rest ``speed`` times faster than real
time.

Failures for the next connections (``fail_next``): ``"unauthorized"`` (401 at the handshake),
``"close"`` (close 1011 with an error message after the first audio chunk), ``"drop"`` (network
drop after the first chunk, no close frame), ``"stall"`` (accept text, never answer). Except for
``"unauthorized"``, a failure hits the next socket that receives text (not a pre-opened one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime.audio.codec import pcm16_to_ulaw
from tests.fakes.ws import serve_websocket

_PATH = re.compile(r"^/v1/text-to-speech/(?P<voice>[A-Za-z0-9_-]+)/stream-input$")
FAILURES = frozenset({"unauthorized", "close", "drop", "stall"})


@dataclass(frozen=True)
class ElevenLabsLatency:
    """How fast the fake speaks. The default first byte is ElevenLabs' published ~400 ms."""

    first_byte_s: float = 0.4
    speed: float = 4.0  # audio produced per second of wall time, after the first chunk
    ms_per_char: int = 60
    chunk_ms: int = 100

    @classmethod
    def instant(cls) -> ElevenLabsLatency:
        return cls(first_byte_s=0.0, speed=1000.0)


@dataclass
class TtsConnection:
    """One stream-input socket as the server saw it."""

    voice_id: str
    query: dict[str, str]
    headers: dict[str, str]
    init: dict[str, Any] | None = None
    texts: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    finished: bool = False  # isFinal sent
    text_at: float | None = None  # time.monotonic() of the first text and first audio sent
    first_audio_at: float | None = None
    close_code: int | None = None

    @property
    def text(self) -> str:
        return "".join(m.get("text", "") for m in self.texts)


def _tone(ms: int) -> bytes:
    samples = 8 * ms
    pcm = bytearray()
    for n in range(samples):
        value = int(0.25 * 32767 * math.sin(2 * math.pi * 330 * n / 8000))
        pcm += value.to_bytes(2, "little", signed=True)
    return pcm16_to_ulaw(bytes(pcm))


_SECOND = _tone(1000)


def speech_for(text: str, ms_per_char: int) -> bytes:
    """The fake's μ-law audio for ``text`` (a tone as long as the text would take to say)."""
    size = 8 * ms_per_char * len(text.strip())
    return (_SECOND * (size // len(_SECOND) + 1))[:size]


class FakeElevenLabs:
    def __init__(
        self,
        api_key: str,
        latency: ElevenLabsLatency | None = None,
        *,
        voices: set[str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.latency = latency or ElevenLabsLatency()
        self.voices = voices  # None: any voice id exists
        self.connections: list[TtsConnection] = []
        self.handshakes = 0
        self.failures: deque[str] = deque()
        self.url = ""

    def fail_next(self, kind: str, count: int = 1) -> None:
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}; one of {sorted(FAILURES)}")
        self.failures.extend([kind] * count)

    def spoken(self) -> list[str]:
        """The text of every socket that received any, in order."""
        return [c.text.strip() for c in self.connections if c.text.strip()]

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve until the block ends; yields the base URL for ``ElevenLabsTTS(base_url=...)``."""
        with serve_websocket(self._session, self._handshake) as port:
            self.url = f"ws://127.0.0.1:{port}"
            yield self.url

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        url = urlsplit(request.path)
        match = _PATH.match(url.path)
        if match is None or (self.voices is not None and match["voice"] not in self.voices):
            return connection.respond(HTTPStatus.NOT_FOUND, "voice_not_found\n")
        key = request.headers.get("xi-api-key")
        unauthorized = self.failures and self.failures[0] == "unauthorized"
        if unauthorized or (key is not None and key != self.api_key):
            if unauthorized:
                self.failures.popleft()
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid_api_key\n")
        query = dict(parse_qsl(url.query))
        if query.get("output_format", "mp3_44100_128") != "ulaw_8000":
            return connection.respond(HTTPStatus.BAD_REQUEST, "the fake speaks ulaw_8000 only\n")
        return None

    async def _session(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        url = urlsplit(connection.request.path)
        match = _PATH.match(url.path)
        assert match is not None
        record = TtsConnection(
            voice_id=match["voice"],
            query=dict(parse_qsl(url.query)),
            headers={k.lower(): v for k, v in connection.request.headers.raw_items()},
        )
        self.connections.append(record)
        await _Session(self, connection, record).run()
        record.close_code = connection.close_code


class _Session:
    def __init__(
        self,
        fake: FakeElevenLabs,
        connection: ServerConnection,
        record: TtsConnection,
    ) -> None:
        self.fake = fake
        self.connection = connection
        self.record = record
        self.failure: str | None = None
        self.latency = fake.latency
        self.buffer = ""
        self.threshold = 120
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def run(self) -> None:
        speaker = asyncio.create_task(self._speak())
        timeout = float(self.record.query.get("inactivity_timeout", 20))
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(self.connection.recv(), timeout)
                except TimeoutError:
                    await self.connection.close(
                        1008,
                        f"Have not received a new text input within the timeout of {timeout:g} "
                        "seconds. Closing socket.",
                    )
                    return
                message = json.loads(raw)
                if self.record.init is None:
                    if not await self._initialise(message):
                        return
                    continue
                if not self.record.texts:
                    self.record.text_at = time.monotonic()
                if not self.record.texts and self.fake.failures:
                    # Failures hit the next utterance, not whichever socket a client pre-opened.
                    self.failure = self.fake.failures.popleft()
                self.record.texts.append(message)
                text = message.get("text", "")
                if text == "":
                    self._generate()
                    self.queue.put_nowait(None)
                    await speaker
                    return
                self.buffer += text
                if message.get("flush") or len(self.buffer) >= self.threshold:
                    self._generate()
        except ConnectionClosed:
            pass
        finally:
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await speaker

    async def _initialise(self, message: dict[str, Any]) -> bool:
        if message.get("text") != " ":
            await self.connection.close(1008, "The first message must have text ' '.")
            return False
        if "xi-api-key" not in self.record.headers and message.get("xi_api_key") != (
            self.fake.api_key
        ):
            await self.connection.close(1008, "Invalid API key")
            return False
        self.record.init = message
        schedule = (message.get("generation_config") or {}).get("chunk_length_schedule")
        if schedule:
            self.threshold = int(schedule[0])
        return True

    def _generate(self) -> None:
        if self.buffer.strip():
            self.queue.put_nowait(self.buffer)
        self.buffer = ""

    async def _speak(self) -> None:
        chunk = 8 * self.latency.chunk_ms
        while (text := await self.queue.get()) is not None:
            if self.failure == "stall":
                await self.connection.wait_closed()
                return
            await asyncio.sleep(self.latency.first_byte_s)
            audio = speech_for(text, self.latency.ms_per_char)
            for start in range(0, len(audio), chunk):
                part = audio[start : start + chunk]
                await self._send_audio(part, text if start == 0 else "")
                if self.failure == "close":
                    await self.connection.close(1011, "An internal server error occurred.")
                    return
                if self.failure == "drop":
                    self.connection.transport.abort()
                    return
                await asyncio.sleep(len(part) / 8000 / self.latency.speed)
        await self.connection.send(json.dumps({"isFinal": True}))
        self.record.finished = True
        await self.connection.close(1000)

    async def _send_audio(self, audio: bytes, text: str) -> None:
        self.record.audio_bytes += len(audio)
        if self.record.first_audio_at is None:
            self.record.first_audio_at = time.monotonic()
        step = self.latency.ms_per_char
        alignment = (
            {
                "chars": list(text),
                "charStartTimesMs": [i * step for i in range(len(text))],
                "charDurationsMs": [step] * len(text),
            }
            if text
            else None
        )
        await self.connection.send(
            json.dumps(
                {
                    "audio": base64.b64encode(audio).decode(),
                    "isFinal": None,
                    "normalizedAlignment": alignment,
                    "alignment": alignment,
                }
            )
        )
