"""Twilio Media Streams: the one translator between wire frames and typed events.

Inbound JSON text frames become ``Connected``/``Start``/``Media``/``Dtmf``/``Mark``/``Stop``;
outbound we build only ``media``, ``mark`` and ``clear`` (anything else is error 31924 on a
bidirectional stream). A malformed frame raises ``ProtocolError`` with a reason that never
quotes the frame (it may carry audio or custom parameters).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Media:
    payload: bytes  # μ-law 8 kHz mono
    timestamp_ms: int  # since the stream started
    chunk: int


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Stop:
    call_sid: str


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} is not an object")
    return value


def _string(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where}.{key} missing or not a string")
    return value


def _int(container: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = container.get(key, default)
    try:
        return int(value)  # type: ignore[arg-type]  # Twilio sends numbers as strings
    except (TypeError, ValueError):
        raise ProtocolError(f"{where}.{key} is not a number") from None


def parse_frame(text: str | bytes) -> InboundEvent:
    if isinstance(text, bytes):
        raise ProtocolError("binary frame (Media Streams frames are JSON text)")
    try:
        frame = _object(json.loads(text), "frame")
    except json.JSONDecodeError:
        raise ProtocolError("frame is not JSON") from None
    event = frame.get("event")
    if event == "media":
        media = _object(frame.get("media"), "media")
        try:
            payload = base64.b64decode(_string(media, "payload", "media"), validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("media.payload is not base64") from None
        return Media(
            payload, _int(media, "timestamp", "media", 0), _int(media, "chunk", "media", 0)
        )
    if event == "mark":
        return Mark(_string(_object(frame.get("mark"), "mark"), "name", "mark"))
    if event == "start":
        start = _object(frame.get("start"), "start")
        media_format = _object(start.get("mediaFormat", {}), "start.mediaFormat")
        params = _object(start.get("customParameters", {}), "start.customParameters")
        return Start(
            stream_sid=_string(start, "streamSid", "start"),
            call_sid=_string(start, "callSid", "start"),
            account_sid=str(start.get("accountSid", "")),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            encoding=str(media_format.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(media_format, "sampleRate", "start.mediaFormat", 8000),
            channels=_int(media_format, "channels", "start.mediaFormat", 1),
        )
    if event == "dtmf":
        digit = _string(_object(frame.get("dtmf"), "dtmf"), "digit", "dtmf")
        if digit not in "0123456789*#" or len(digit) != 1:
            raise ProtocolError("dtmf.digit is not a key")
        return Dtmf(digit)
    if event == "stop":
        stop = _object(frame.get("stop", {}), "stop")
        return Stop(str(stop.get("callSid", "")))
    if event == "connected":
        return Connected(str(frame.get("protocol", "")), str(frame.get("version", "")))
    raise ProtocolError(f"unknown event {str(event)[:32]!r}")


def media_frame(stream_sid: str, ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_frame(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_frame(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
