"""One call as Twilio places it: webhook, TwiML, media stream, playback and marks.

The peer ticks every 20 ms in real time: it sends one frame of caller audio (or silence) and
"plays" 20 ms of the receptionist's audio from its buffer, echoing each mark once the audio
queued before it has played — and echoing at once the marks a ``clear`` drops, as Twilio does.
Both tracks are recorded for a stereo WAV.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.twilio_security import sign

FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
SILENCE = b"\xff" * FRAME_BYTES


class CallRefused(RuntimeError):
    """The webhook did not answer with a media stream (e.g. unknown number)."""

    def __init__(self, twiml: str) -> None:
        super().__init__("the voice webhook did not connect a media stream")
        self.twiml = twiml


@dataclass
class StreamTarget:
    url: str
    parameters: dict[str, str]


def parse_stream(twiml: str) -> StreamTarget | None:
    root = ET.fromstring(twiml)  # noqa: S314  (our own server's TwiML)
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return StreamTarget(stream.get("url", ""), params)


@dataclass
class PeerStats:
    marks_echoed: int = 0
    clears: int = 0
    media_sent: int = 0
    media_received: int = 0
    clear_times: list[float] = field(default_factory=list)  # monotonic arrival of each clear
    speech_starts: list[float] = field(default_factory=list)  # monotonic start of each caller line
    first_frames_sent: list[float] = field(default_factory=list)  # each line's first frame out
    max_buffered_ms: int = 0  # most receptionist audio held unplayed (how far ahead it sends)


class TwilioPeer:
    def __init__(
        self,
        api_base: str,
        auth_token: str,
        *,
        to_number: str,
        from_number: str,
        account_sid: str = "AC" + "0" * 32,
        http: httpx.AsyncClient | None = None,
        compression: str | None = "deflate",
    ) -> None:
        """``http``: a shared client for the webhooks (many peers in one process: a client per
        call builds an SSL context each time); ``compression``: whether the media WebSocket
        offers permessage-deflate (Twilio's does; ``None`` to measure without)."""
        self.api_base = api_base.rstrip("/")
        self.auth_token = auth_token
        self.to_number = to_number
        self.from_number = from_number
        self.account_sid = account_sid
        self.call_sid = "CA" + secrets.token_hex(16)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.caller_track = bytearray()
        self.receptionist_track = bytearray()
        self.stats = PeerStats()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._outgoing: deque[bytes] = deque()  # caller audio frames to send
        self._playback: deque[tuple[str, bytes | str]] = deque()
        self._ws: ClientConnection | None = None
        self._http = http
        self._compression = compression
        self._elapsed_ms = 0
        self._line_started = False  # speak() queued a line whose first frame is not sent yet
        self._buffered = 0  # bytes of receptionist audio in _playback
        self.last_receptionist_audio = 0.0  # monotonic time we last played non-silent audio
        self.receptionist_audio_ms = 0

    # --- the webhook -------------------------------------------------------------------------

    async def _post(self, path: str, params: dict[str, str]) -> httpx.Response:
        url = f"{self.api_base}{path}"
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, params)}
        if self._http is not None:
            return await self._http.post(url, data=params, headers=headers)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers=headers)

    async def dial(self) -> StreamTarget:
        response = await self._post(
            "/twilio/voice",
            {
                "CallSid": self.call_sid,
                "AccountSid": self.account_sid,
                "From": self.from_number,
                "To": self.to_number,
                "CallStatus": "ringing",
                "Direction": "inbound",
            },
        )
        response.raise_for_status()
        target = parse_stream(response.text)
        if target is None:
            raise CallRefused(response.text)
        return target

    async def status(self, status: str, duration_s: int) -> int:
        response = await self._post(
            "/twilio/status",
            {
                "CallSid": self.call_sid,
                "AccountSid": self.account_sid,
                "CallStatus": status,
                "CallDuration": str(duration_s),
            },
        )
        return response.status_code

    # --- the media stream --------------------------------------------------------------------

    async def connect(self, target: StreamTarget, *, signature: str | None = None) -> None:
        signature = signature if signature is not None else sign(self.auth_token, target.url, {})
        self._ws = await connect(
            target.url,
            additional_headers={"X-Twilio-Signature": signature},
            compression=self._compression,
        )
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": target.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    async def _send(self, frame: dict[str, object]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(frame))

    async def send_dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, text: str | bytes) -> None:
        assert self._ws is not None
        await self._ws.send(text)

    def speak(self, ulaw: bytes) -> None:
        """Queue caller audio; it goes out in 20 ms frames at real time."""
        self.stats.speech_starts.append(time.monotonic())
        self._line_started = True
        for start in range(0, len(ulaw), FRAME_BYTES):
            frame = ulaw[start : start + FRAME_BYTES]
            self._outgoing.append(frame + SILENCE[len(frame) :])

    @property
    def speaking(self) -> bool:
        return bool(self._outgoing)

    @property
    def receptionist_playing(self) -> bool:
        return any(kind == "audio" for kind, _ in self._playback)

    async def run(self) -> None:
        """Tick and receive until the stream closes."""
        receiver = asyncio.create_task(self._receive())
        try:
            started = time.monotonic()
            tick = 0
            while not self.closed.is_set():
                await self._tick()
                tick += 1
                delay = started + tick * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    async def _tick(self) -> None:
        if self._line_started and self._outgoing:
            self._line_started = False
            self.stats.first_frames_sent.append(time.monotonic())
        frame = self._outgoing.popleft() if self._outgoing else SILENCE
        self.caller_track += frame
        payload = base64.b64encode(frame).decode()
        try:
            await self._send(
                {
                    "event": "media",
                    "sequenceNumber": str(self._elapsed_ms // 20 + 2),
                    "streamSid": self.stream_sid,
                    "media": {
                        "track": "inbound",
                        "chunk": str(self._elapsed_ms // 20 + 1),
                        "timestamp": str(self._elapsed_ms),
                        "payload": payload,
                    },
                }
            )
        except ConnectionClosed:
            self.closed.set()
            return
        self.stats.media_sent += 1
        self._elapsed_ms += 20
        await self._play(FRAME_BYTES)

    async def _play(self, budget: int) -> None:
        played = bytearray()
        while self._playback:
            kind, item = self._playback[0]
            if kind == "mark":
                self._playback.popleft()
                await self._echo_mark(str(item))
                continue
            if len(played) >= budget:
                break
            assert isinstance(item, bytes)
            take = item[: budget - len(played)]
            played += take
            if len(take) < len(item):
                self._playback[0] = ("audio", item[len(take) :])
            else:
                self._playback.popleft()
        self._buffered -= len(played)
        if played:
            self.last_receptionist_audio = time.monotonic()
            self.receptionist_audio_ms += len(played) // 8
        self.receptionist_track += bytes(played) + SILENCE[len(played) :]

    async def _echo_mark(self, name: str) -> None:
        self.stats.marks_echoed += 1
        with contextlib.suppress(ConnectionClosed):
            await self._send(
                {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
            )

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                frame = json.loads(message)
                event = frame.get("event")
                if event == "media":
                    self.stats.media_received += 1
                    audio = base64.b64decode(frame["media"]["payload"])
                    self._playback.append(("audio", audio))
                    self._buffered += len(audio)
                    stats = self.stats
                    stats.max_buffered_ms = max(stats.max_buffered_ms, self._buffered // 8)
                elif event == "mark":
                    self._playback.append(("mark", frame["mark"]["name"]))
                elif event == "clear":
                    self.stats.clears += 1
                    self.stats.clear_times.append(time.monotonic())
                    dropped = [item for kind, item in self._playback if kind == "mark"]
                    self._playback.clear()
                    self._buffered = 0
                    for name in dropped:
                        await self._echo_mark(str(name))
                else:  # Twilio would reject it with error 31924
                    raise RuntimeError(f"unexpected outbound event {event!r}")
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None
        finally:
            self.closed.set()

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends ``stop`` and closes the stream."""
        if self._ws is None or self.closed.is_set():
            return
        with contextlib.suppress(ConnectionClosed):
            await self._send(
                {
                    "event": "stop",
                    "sequenceNumber": "0",
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
            await self._ws.close()
        self.closed.set()
