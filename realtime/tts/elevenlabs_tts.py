"""Streaming synthesis with ElevenLabs' WebSocket ``stream-input`` API, μ-law 8 kHz out.

One socket per utterance (``synthesize`` call; the Speaker feeds one sentence or clause at a
time): the text goes out with ``flush`` and the end-of-input message, and the ``audio`` chunks
(``output_format=ulaw_8000``: Twilio's format, no transcoding) are yielded as they arrive.
Message shapes are the ``elevenlabs`` SDK's models; the SDK's own helper is blocking, so the
socket is ``websockets``' asyncio client.

Kept warm: the next socket is opened, authenticated (``xi-api-key`` header) and initialised
(voice settings, pronunciation dictionaries) while the current utterance plays, so an utterance
pays no TLS or handshake time. A spare unused for ``idle_s`` is closed before ElevenLabs'
``inactivity_timeout`` would, and renewed while the voice was used in the last ``warm_for_s``
(a call in progress); ``warm()`` opens one at the start of a call.

Cancelling the consumer (barge-in) aborts the socket at once: nothing more is generated or
received. Any failure (refused, closed with an error, dropped) raises ``TtsError`` so the
Speaker switches to the offline voice; a stall is the Speaker's ``stall_s`` watchdog. A clinic
voice id ElevenLabs does not know (404) is replaced by the default voice, once and logged.

Pronunciation: ``pronunciations`` (clinic aliases, e.g. ``{"Nguyen": "Win"}``) are applied to
the text before it is sent, whole words and case-insensitively; ElevenLabs pronunciation
dictionaries can also be referenced by (id, version id). The text is PHI: never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elevenlabs.environment import ElevenLabsEnvironment
from elevenlabs.types import (
    CloseConnection,
    GenerationConfig,
    InitializeConnection,
    PronunciationDictionaryLocator,
    RealtimeVoiceSettings,
    SendText,
)
from elevenlabs.url_utils import build_ws_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from realtime.tts.flite_tts import sanitize
from realtime.tts.protocol import TtsError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "eleven_flash_v2_5"  # ElevenLabs' lowest-latency model
# Abbreviations a voice would read as a word; clinics add their own (names above all).
CLINICAL_PRONUNCIATIONS: Mapping[str, str] = {
    "DDS": "D.D.S.", "DMD": "D.M.D.", "TMJ": "T.M.J.", "MD": "M.D.", "Rx": "prescription",
}  # fmt: skip
_VOICE_ID = re.compile(r"^[A-Za-z0-9]{16,40}$")


class Pronunciations:
    """Whole-word aliases, matched in any case, longest first ("Anne Marie" before "Anne")."""

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self._lookup = {k.lower(): v for k, v in aliases.items()}
        keys = sorted(aliases, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<!\w)(" + "|".join(map(re.escape, keys)) + r")(?!\w)", re.IGNORECASE)
            if keys
            else None
        )

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._lookup[m.group(0).lower()], text)


def apply_pronunciations(text: str, aliases: Mapping[str, str]) -> str:
    return Pronunciations(aliases).apply(text)


def _websocket_base(base_url: str | None) -> str:
    base = (base_url or ElevenLabsEnvironment.PRODUCTION.value).rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http) :]
    return base


class _VoiceNotFound(TtsError):
    """ElevenLabs has no voice with that id (HTTP 404 at the handshake)."""


@dataclass
class _Spare:
    socket: ClientConnection
    opened_at: float


@dataclass
class ElevenLabsTTS:
    """``TextToSpeech`` with ElevenLabs.

    ``voice_id`` is the default voice; a clinic's own voice id, passed as ``voice`` to
    ``synthesize``, wins when it looks like one (ElevenLabs ids are 20 letters and digits), so
    a flite voice name such as ``"slt"`` falls back to the default. ``base_url`` (``https://``
    or ``wss://``) points the client at another host (tests: a local server).
    """

    api_key: str
    voice_id: str
    base_url: str | None = None
    model_id: str = DEFAULT_MODEL
    voice_settings: Mapping[str, float | bool] = field(default_factory=dict)
    pronunciations: Mapping[str, str] = field(default_factory=dict)
    pronunciation_dictionaries: Sequence[tuple[str, str]] = ()  # (dictionary id, version id)
    connect_timeout_s: float = 3.0
    idle_s: float = 15.0  # a spare socket older than this is replaced
    inactivity_timeout_s: int = 20  # ElevenLabs closes a socket that is sent nothing this long
    keep_warm: bool = True
    warm_for_s: float = 120.0  # after its last use, a voice's spare is renewed this long
    _spares: dict[str, _Spare] = field(default_factory=dict, init=False, repr=False)
    _opening: dict[str, asyncio.Task[_Spare]] = field(default_factory=dict, init=False, repr=False)
    _last_used: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _unknown_voices: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("ElevenLabsTTS needs an API key (ELEVENLABS_API_KEY)")
        if not self.voice_id:
            raise ValueError("ElevenLabsTTS needs a default voice id (ELEVENLABS_VOICE_ID)")
        self._pronunciations = Pronunciations({**CLINICAL_PRONUNCIATIONS, **self.pronunciations})

    def voice_for(self, voice: str) -> str:
        if voice in self._unknown_voices or not _VOICE_ID.match(voice or ""):
            return self.voice_id
        return voice

    def speakable(self, text: str) -> str:
        """The text as it is sent: sanitised, then the pronunciation aliases applied."""
        return self._pronunciations.apply(sanitize(text))

    def url(self, voice_id: str) -> str:
        params = {
            "model_id": self.model_id,
            "output_format": "ulaw_8000",
            "inactivity_timeout": str(self.inactivity_timeout_s),
        }
        path = ["v1", "text-to-speech", voice_id, "stream-input"]
        return build_ws_url(_websocket_base(self.base_url), path, params)

    async def warm(self, voice: str = "") -> None:
        """Open a socket for ``voice`` now, so the call's first sentence skips the handshake."""
        voice_id = self.voice_for(voice)
        self._last_used[voice_id] = time.monotonic()
        self._replenish(voice_id)

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        text = self.speakable(text)
        if not text:
            return
        voice_id = self.voice_for(voice)
        self._last_used[voice_id] = time.monotonic()
        try:
            socket = await self._take(voice_id)
        except _VoiceNotFound:
            if voice_id == self.voice_id:
                raise
            # A mistyped clinic voice should not cost the call its cloud voice: use the default.
            log.warning("clinic voice not found at elevenlabs; using the default voice")
            self._unknown_voices.add(voice_id)
            voice_id = self.voice_id
            socket = await self._take(voice_id)
        if self.keep_warm:
            self._replenish(voice_id)
        finished = False
        try:
            await socket.send(_json(SendText(text=text + " ", flush=True)))
            await socket.send(_json(CloseConnection()))
            async for raw in socket:
                message = json.loads(raw)
                audio = message.get("audio")
                if audio:
                    yield base64.b64decode(audio)
                if message.get("isFinal"):
                    finished = True
                    return
                if message.get("error") or (message.get("message") and not audio):
                    raise TtsError(f"elevenlabs error: {message.get('error') or 'unknown'}")
            if socket.close_code not in (1000, None):
                raise TtsError(f"elevenlabs closed the stream ({socket.close_code})")
            finished = True
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else "no close frame"
            raise TtsError(f"elevenlabs stream lost ({code})") from None
        finally:
            if not finished:
                # Barge-in or failure: drop the socket now (ElevenLabs stops generating).
                socket.transport.abort()
            else:
                await _close_quietly(socket)

    async def aclose(self) -> None:
        """Close the warm sockets (at shutdown; the engine is shared by calls)."""
        for task in self._opening.values():
            task.cancel()
        for spare in self._spares.values():
            await _close_quietly(spare.socket)
        self._opening.clear()
        self._spares.clear()
        self._last_used.clear()

    # --- the warm pool ---------------------------------------------------------------------

    async def _take(self, voice_id: str) -> ClientConnection:
        spare = self._spares.pop(voice_id, None)
        if spare is None and voice_id in self._opening:
            with contextlib.suppress(TtsError):
                spare = await self._opening.pop(voice_id)
        if spare is not None:
            fresh = time.monotonic() - spare.opened_at < self.idle_s
            if fresh and spare.socket.close_code is None:
                return spare.socket
            await _close_quietly(spare.socket)
        return (await self._open(voice_id)).socket

    def _replenish(self, voice_id: str) -> None:
        if voice_id in self._spares or voice_id in self._opening:
            return
        task = asyncio.create_task(self._open(voice_id), name="elevenlabs-warm")
        self._opening[voice_id] = task

        def settle(done: asyncio.Task[_Spare]) -> None:
            if self._opening.get(voice_id) is not done:
                return  # already taken by ``_take``
            del self._opening[voice_id]
            if not done.cancelled() and done.exception() is None:
                spare = self._spares[voice_id] = done.result()
                asyncio.get_running_loop().call_later(self.idle_s, self._expire, voice_id, spare)

        task.add_done_callback(settle)

    def _expire(self, voice_id: str, spare: _Spare) -> None:
        """An unused spare before ElevenLabs' inactivity timeout: close it, and open a fresh
        one if the voice was used recently (a call is probably still going)."""
        if self._spares.get(voice_id) is not spare:
            return
        del self._spares[voice_id]
        closing = asyncio.create_task(_close_quietly(spare.socket))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        if time.monotonic() - self._last_used.get(voice_id, 0.0) < self.warm_for_s:
            self._replenish(voice_id)

    async def _open(self, voice_id: str) -> _Spare:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                socket = await connect(
                    self.url(voice_id),
                    additional_headers={"xi-api-key": self.api_key},
                    ping_interval=None,  # ElevenLabs' own inactivity_timeout governs
                    close_timeout=1.0,
                    max_size=None,
                )
                await socket.send(_json(self._initialisation()))
        except InvalidStatus as exc:
            status = exc.response.status_code
            error = _VoiceNotFound if status == 404 else TtsError
            raise error(f"elevenlabs refused the connection (http {status})") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise TtsError(f"cannot reach elevenlabs ({type(exc).__name__})") from None
        return _Spare(socket, time.monotonic())

    def _initialisation(self) -> InitializeConnection:
        settings = RealtimeVoiceSettings(**self.voice_settings) if self.voice_settings else None
        locators = [
            PronunciationDictionaryLocator(pronunciation_dictionary_id=d, version_id=v)
            for d, v in self.pronunciation_dictionaries
        ]
        return InitializeConnection(
            voice_settings=settings,
            # Start generating at the first 50 characters: the Speaker sends whole sentences.
            generation_config=GenerationConfig(chunk_length_schedule=[50]),
            pronunciation_dictionary_locators=locators or None,
        )


def _json(message: Any) -> str:
    # The SDK's models keep unset fields as null, and ElevenLabs rejects some nulls
    # (voice_settings): send only what is set.
    fields = message.dict(by_alias=True, exclude_none=True)
    return json.dumps({k: v for k, v in fields.items() if v is not None})


async def _close_quietly(socket: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await socket.close()
