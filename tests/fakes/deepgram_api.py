"""Deepgram's live transcription API (``wss://api.deepgram.com/v1/listen``), as documented.

The opening handshake needs ``Authorization: Token <key>`` (HTTP 401 otherwise) and the query
``encoding=mulaw&sample_rate=8000`` (HTTP 400 otherwise). Binary frames are audio; text frames
are the control messages ``KeepAlive``, ``Finalize`` and ``CloseStream``. The server answers
``Results`` (``channel.alternatives[0]`` with ``transcript``, ``confidence`` and ``words``;
``is_final``, ``speech_final``, ``from_finalize``, ``start``, ``duration``), ``UtteranceEnd``
when ``utterance_end_ms`` is set, and ``Metadata`` before closing on ``CloseStream``. With no
audio or message for ``idle_timeout_s`` it closes with 1011 and Deepgram's NET-0001 reason.

What was said is scripted: each stretch of speech (an energy VAD over the decoded μ-law, ended by
``endpointing`` ms of silence) is heard as the next scripted utterance. Interim results reveal it
as growing word prefixes while the speech goes on; the final one comes ``final_after_speech_s``
after the speech ended (Deepgram's own endpointing) or soon after a ``Finalize``, whichever is
first. Words listed in an utterance's ``misheard`` map are misrecognised unless a ``keyterm``
(or ``keywords``) parameter names them, so boosting is observable.

Failures, settable per test (and per benchmark run): ``refuse`` answers the next N handshakes
with 503, ``drop_in_speech_ms`` aborts the next connection that far into an utterance (no close
frame, as a network drop), ``stall`` accepts audio and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime.vad import frame_dbfs
from tests.fakes.ws import serve_websocket

FRAME = 160  # 20 ms of 8 kHz μ-law
NET_0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)


@dataclass(frozen=True)
class DeepgramLatency:
    """How fast the fake answers. The defaults are Deepgram's published streaming figures."""

    final_after_speech_s: float = 0.3  # a final is never sent sooner after the speech ended
    finalize_s: float = 0.03  # processing time of a Finalize
    interim_every_ms: int = 200  # speech between interim results
    ms_per_word: int = 200  # speech needed to reveal one more word in interim results

    @classmethod
    def instant(cls) -> DeepgramLatency:
        return cls(final_after_speech_s=0.0, finalize_s=0.0)


@dataclass(frozen=True)
class Utterance:
    text: str
    confidence: float = 0.97
    misheard: dict[str, str] = field(default_factory=dict)  # word -> heard without boosting


@dataclass
class ListenConnection:
    """One WebSocket session as the server saw it."""

    query: list[tuple[str, str]]
    headers: dict[str, str]
    audio_bytes: int = 0
    control: list[str] = field(default_factory=list)  # KeepAlive, Finalize, CloseStream
    sent: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() of each, for benches
    close_reason: str = ""

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def results(self, *, final: bool | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.sent
            if m["type"] == "Results" and (final is None or m["is_final"] == final)
        ]


class FakeDeepgram:
    def __init__(
        self,
        api_key: str,
        utterances: Iterable[str | Utterance] = (),
        latency: DeepgramLatency | None = None,
        *,
        speech_dbfs: float = -40.0,
        idle_timeout_s: float = 10.0,
    ) -> None:
        self.api_key = api_key
        self.utterances: deque[Utterance] = deque()
        self.say(*utterances)
        self.latency = latency or DeepgramLatency()
        self.speech_dbfs = speech_dbfs
        self.idle_timeout_s = idle_timeout_s
        self.connections: list[ListenConnection] = []
        self.handshakes = 0
        self.refuse = 0
        self.drop_in_speech_ms: float | None = None
        self.stall = False
        self.url = ""

    def say(self, *utterances: str | Utterance) -> None:
        """Script what the next stretches of speech are heard as."""
        for item in utterances:
            self.utterances.append(Utterance(item) if isinstance(item, str) else item)

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve until the block ends; yields the base URL for ``DeepgramSTT(base_url=...)``."""
        with serve_websocket(self._session, self._handshake) as port:
            self.url = f"ws://127.0.0.1:{port}"
            yield self.url

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.refuse > 0:
            self.refuse -= 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        if request.headers.get("Authorization") != f"Token {self.api_key}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Invalid credentials.\n")
        url = urlsplit(request.path)
        query = dict(parse_qsl(url.query))
        if url.path != "/v1/listen":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if query.get("encoding") != "mulaw" or query.get("sample_rate") != "8000":
            return connection.respond(HTTPStatus.BAD_REQUEST, "Unsupported encoding.\n")
        return None

    async def _session(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        record = ListenConnection(
            query=parse_qsl(urlsplit(connection.request.path).query),
            headers={k.lower(): v for k, v in connection.request.headers.raw_items()},
        )
        self.connections.append(record)
        await _Session(self, connection, record).run()


def _plain(text: str) -> str:
    """What Deepgram returns without smart_format/punctuate: lower case, no punctuation."""
    return " ".join(re.sub(r"[^\w\s']", " ", text).lower().split())


class _Session:
    def __init__(
        self, fake: FakeDeepgram, connection: ServerConnection, record: ListenConnection
    ) -> None:
        self.fake = fake
        self.connection = connection
        self.record = record
        self.latency = fake.latency
        self.request_id = str(uuid.uuid4())
        self.stalled = fake.stall
        self.formatted = record.param("smart_format") == "true" or record.param("punctuate") == (
            "true"
        )
        endpointing = record.param("endpointing")
        self.endpointing_s = (
            int(endpointing) / 1000 if endpointing and endpointing != "false" else 0.01
        )
        self.interim = record.param("interim_results") == "true"
        end_ms = record.param("utterance_end_ms")
        self.utterance_end_s = int(end_ms) / 1000 if end_ms else None
        boosted = record.params("keyterm") + [k.split(":")[0] for k in record.params("keywords")]
        self.boosted = {w.lower() for term in boosted for w in term.split()}
        self.pending = b""
        self.audio_s = 0.0  # audio received, in seconds of stream time
        self.speech_start: float | None = None
        self.last_voiced = 0.0
        self.last_voiced_wall = 0.0
        self.last_interim_at = 0.0
        self.final_task: asyncio.Task[None] | None = None
        self.finalize_tasks: set[asyncio.Task[None]] = set()
        self.end_task: asyncio.Task[None] | None = None

    # --- receiving -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                try:
                    message = await asyncio.wait_for(
                        self.connection.recv(), self.fake.idle_timeout_s
                    )
                except TimeoutError:
                    self.record.close_reason = "NET-0001"
                    await self.connection.close(1011, NET_0001)
                    return
                if isinstance(message, bytes):
                    self.record.audio_bytes += len(message)
                    await self._audio(message)
                    continue
                kind = json.loads(message).get("type", "")
                self.record.control.append(kind)
                if kind == "Finalize":
                    self._finalize()
                elif kind == "CloseStream":
                    await self._close_stream()
                    return
        except ConnectionClosed:
            pass
        finally:
            for task in (self.final_task, self.end_task, *self.finalize_tasks):
                if task is not None:
                    task.cancel()

    async def _audio(self, data: bytes) -> None:
        self.pending += data
        while len(self.pending) >= FRAME:
            frame, self.pending = self.pending[:FRAME], self.pending[FRAME:]
            self.audio_s += FRAME / 8000
            if frame_dbfs(frame) > self.fake.speech_dbfs:
                await self._voiced()
            elif self.speech_start is not None and self.final_task is None:
                self.final_task = asyncio.create_task(self._final_after_endpointing())

    async def _voiced(self) -> None:
        now = self.audio_s
        for task in (self.final_task, self.end_task):
            if task is not None:
                task.cancel()
        self.final_task = self.end_task = None
        if self.speech_start is None:
            self.speech_start = now - FRAME / 8000
            self.last_interim_at = self.speech_start
        self.last_voiced, self.last_voiced_wall = now, time.monotonic()
        speech_ms = (now - self.speech_start) * 1000
        drop_at = self.fake.drop_in_speech_ms
        if drop_at is not None and speech_ms >= drop_at:
            self.fake.drop_in_speech_ms = None
            self.record.close_reason = "dropped"
            self.connection.transport.abort()
            return
        if self.interim and (now - self.last_interim_at) * 1000 >= self.latency.interim_every_ms:
            self.last_interim_at = now
            words = self._heard().split()
            shown = min(len(words), max(1, int(speech_ms // self.latency.ms_per_word)))
            await self._results(" ".join(words[:shown]), final=False)

    # --- finals ----------------------------------------------------------------------------------

    async def _final_after_endpointing(self) -> None:
        wait = max(self.latency.final_after_speech_s, self.endpointing_s)
        await asyncio.sleep(max(0.0, self.last_voiced_wall + wait - time.monotonic()))
        await self._final(from_finalize=False)

    def _finalize(self) -> None:
        if self.speech_start is None:
            return  # nothing buffered: Deepgram sends no from_finalize result then
        if self.final_task is not None:
            self.final_task.cancel()
            self.final_task = None
        # What was received so far is final now; speech after this is the next utterance.
        send = self._take_final(from_finalize=True)
        ready = self.last_voiced_wall + self.latency.final_after_speech_s
        delay = max(self.latency.finalize_s, ready - time.monotonic())

        async def later() -> None:
            await asyncio.sleep(delay)
            await send

        self.finalize_tasks.add(task := asyncio.create_task(later()))
        task.add_done_callback(self.finalize_tasks.discard)

    async def _final(self, *, from_finalize: bool) -> None:
        self.final_task = None
        if self.speech_start is not None:
            await self._take_final(from_finalize=from_finalize)

    def _take_final(self, *, from_finalize: bool) -> Coroutine[Any, Any, None]:
        """Close the current utterance; returns the sending of its final result."""
        text = self._heard()
        confidence = self.fake.utterances[0].confidence if self.fake.utterances else 0.0
        if self.fake.utterances:
            self.fake.utterances.popleft()
        send = self._results(
            text, final=True, speech_final=not from_finalize, from_finalize=from_finalize,
            confidence=confidence,
        )  # fmt: skip
        last_word_end = self.last_voiced
        self.speech_start = None
        if self.utterance_end_s is not None and self.interim:
            self.end_task = asyncio.create_task(self._utterance_end(last_word_end))
        return send

    async def _utterance_end(self, last_word_end: float) -> None:
        await asyncio.sleep(self.utterance_end_s or 0)
        await self._send(
            {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end}
        )

    async def _close_stream(self) -> None:
        if self.final_task is not None:
            self.final_task.cancel()
        if self.speech_start is not None:
            await self._final(from_finalize=True)
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await self._send(
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self.request_id,
                "sha256": hashlib.sha256(self.request_id.encode()).hexdigest(),
                "created": created,
                "duration": round(self.audio_s, 3),
                "channels": 1,
                "models": [_MODEL_UUID],
                "model_info": {_MODEL_UUID: self._model_info()},
            }
        )
        self.record.close_reason = "CloseStream"
        await self.connection.close(1000)

    # --- sending ---------------------------------------------------------------------------------

    def _heard(self) -> str:
        if not self.fake.utterances:
            return ""
        utterance = self.fake.utterances[0]
        misheard = {_plain(k): v for k, v in utterance.misheard.items()}
        words = [
            word if _plain(word) in self.boosted else misheard.get(_plain(word), word)
            for word in utterance.text.split()
        ]
        text = " ".join(words)
        return text if self.formatted else _plain(text)

    def _model_info(self) -> dict[str, str]:
        model = self.record.param("model") or "base"
        return {"name": f"general-{model}", "version": "2025-01-01.0", "arch": model}

    def _results(
        self,
        text: str,
        *,
        final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
        confidence: float = 0.9,
    ) -> Coroutine[Any, Any, None]:
        """The sending of a Results message about the current utterance as it is now."""
        start = self.speech_start or 0.0
        end = self.last_voiced if final else self.audio_s
        words = text.split()
        step = (end - start) / max(len(words), 1)
        return self._send(
            {
                "type": "Results",
                "channel_index": [0, 1],
                "duration": round(end - start, 3),
                "start": round(start, 3),
                "is_final": final,
                "speech_final": speech_final,
                "from_finalize": from_finalize,
                "channel": {
                    "alternatives": [
                        {
                            "transcript": text,
                            "confidence": confidence if text else 0.0,
                            "words": [
                                {
                                    "word": _plain(w) or w,
                                    "start": round(start + i * step, 3),
                                    "end": round(start + (i + 1) * step, 3),
                                    "confidence": confidence,
                                    **({"punctuated_word": w} if self.formatted else {}),
                                }
                                for i, w in enumerate(words)
                            ],
                        }
                    ]
                },
                "metadata": {
                    "request_id": self.request_id,
                    "model_info": self._model_info(),
                    "model_uuid": _MODEL_UUID,
                },
            }
        )

    async def _send(self, message: dict[str, Any]) -> None:
        if self.stalled:
            return
        self.record.sent.append(message)
        self.record.sent_at.append(time.monotonic())
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(json.dumps(message))


_MODEL_UUID = "1dbdfb4d-85b2-4659-9c1a-2e3c2d1f9d1e"
