"""Streaming recognition with Deepgram's live API through the official ``deepgram-sdk``.

The caller's μ-law 8 kHz audio is forwarded as it arrives (``encoding=mulaw&sample_rate=8000``,
no transcoding) with interim results, endpointing, utterance-end events, smart formatting and
the clinic's words boosted (``keyterm`` on Nova-3, ``keywords`` on older models).

Turn contract (``SttStream``): Deepgram segments speech on its own, but the session's VAD owns
the turn, so a final ``Transcript`` is emitted only for ``end_of_speech`` — exactly one each:
the ``is_final`` segments of the utterance joined, released by Deepgram's ``speech_final``
(its endpointing) or by the ``from_finalize`` answer to the ``Finalize`` we send, or, when
Deepgram had already closed the utterance, at once. Results are placed on the audio timeline
(their ``start`` + ``duration``), so a late answer about an utterance already finalised is
never taken for the next one.

Silence is not streamed forever: after ``silence_gate_ms`` of quiet (caller listening while the
agent speaks), audio stops and ``KeepAlive`` messages hold the socket open; the first loud frame
reopens the gate with ``preroll_ms`` of the quiet audio before it, so no word onset is cut.

A dropped or stalled socket is reopened (``reconnect_attempts`` times) and the audio not yet
finalised is replayed to it, so the turn in progress is not lost; after that the stream fails
with ``SttError`` and ``stt.failover`` moves the call to the offline recogniser. Opening never
holds a call up for more than ``open_wait_s``: audio is kept until the socket is up. Neither
transcripts nor the API key are logged (the SDK's ``ApiError`` carries the request headers:
only its status is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.socket_client import AsyncV1SocketClient
from deepgram.listen.v1.types import ListenV1Results, ListenV1UtteranceEnd

from realtime.stt.protocol import ResultQueue, Transcript, Vocabulary, drain_results
from realtime.vad import frame_dbfs

log = logging.getLogger(__name__)

RATE = 8000  # μ-law bytes per second
# Dental and medical words a general model misses; boosted in every clinic's stream.
CLINICAL_TERMS = (
    "cleaning", "checkup", "crown", "filling", "root canal", "extraction", "implant",
    "periodontal", "hygienist", "orthodontist", "Invisalign", "whitening", "x-ray",
    "wisdom tooth", "cavity", "toothache", "new patient", "copay", "deductible", "referral",
    "prescription", "refill", "physical", "follow-up", "vaccination", "blood work",
)  # fmt: skip
MAX_TERMS = 100
MAX_TERM_WORDS = 250  # Deepgram caps the keyterm prompt at 500 tokens; stay well inside
CLOSE_WAIT_S = 0.5  # for Deepgram to close after CloseStream, at the end of a call


class SttError(RuntimeError):
    """The cloud recogniser cannot serve this call any more (a failover takes over)."""


@dataclass(frozen=True)
class DeepgramOptions:
    """Stream behaviour; the defaults suit telephone calls."""

    model: str = "nova-3"
    language: str = "en-US"
    endpointing_ms: int = 300
    utterance_end_ms: int = 1000  # Deepgram's minimum; needs interim results
    smart_format: bool = True
    keepalive_s: float = 4.0  # Deepgram closes a socket that hears nothing for 10 s
    silence_gate_ms: int | None = 2000  # None: stream every frame
    preroll_ms: int = 300
    gate_dbfs: float = -50.0  # quieter than this counts as silence for the gate
    finalize_timeout_s: float = 0.8  # no answer to Finalize: finalise with what we have
    stall_s: float = 1.5  # speech streamed, no message back this long: the socket is dead
    connect_timeout_s: float = 3.0
    open_wait_s: float = 1.0  # how long opening may hold up the call (see DeepgramStream.start)
    reconnect_attempts: int = 2
    max_buffer_s: float = 30.0  # un-finalised audio kept for replay


def boost_terms(vocabulary: Vocabulary, extra: Sequence[str] = CLINICAL_TERMS) -> list[str]:
    """The phrases to boost, most important first. Patient names are left out on purpose: the
    terms travel in the URL's query string, and PHI stays out of URLs."""
    seen: dict[str, str] = {}
    for term in (
        vocabulary.clinic_name, vocabulary.agent_name, *vocabulary.providers,
        *vocabulary.appointment_types, *vocabulary.payers, *vocabulary.places, *extra,
    ):  # fmt: skip
        term = " ".join(term.split())
        if term and len(term) <= 50:
            seen.setdefault(term.lower(), term)
    chosen: list[str] = []
    words = 0
    for term in seen.values():
        words += len(term.split())
        if len(chosen) == MAX_TERMS or words > MAX_TERM_WORDS:
            break
        chosen.append(term)
    return chosen


def _websocket_base(base_url: str) -> str:
    base = base_url.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http) :]
    return base


class DeepgramSTT:
    """``SpeechToText`` with Deepgram: one live WebSocket per call.

    ``base_url`` (``https://``/``wss://`` host, default Deepgram's) lets tests point the SDK at
    a local server; ``model`` (default ``nova-3``) overrides ``options.model``; ``options`` tunes
    the stream (see ``DeepgramOptions``).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        model: str | None = None,
        *,
        options: DeepgramOptions | None = None,
        extra_terms: Sequence[str] = CLINICAL_TERMS,
    ) -> None:
        if not api_key:
            raise ValueError("DeepgramSTT needs an API key (DEEPGRAM_API_KEY)")
        self.options = options or DeepgramOptions()
        if model:
            self.options = replace(self.options, model=model)
        environment = DeepgramClientEnvironment.PRODUCTION
        if base_url:
            ws = _websocket_base(base_url)
            http = ws.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
            environment = DeepgramClientEnvironment(
                base=http, production=ws, agent=ws, agent_rest=http
            )
        self._client = AsyncDeepgramClient(api_key=api_key, environment=environment)
        self._extra_terms = tuple(extra_terms)

    def connect_parameters(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """The ``listen.v1.connect`` arguments for a call (the live query string)."""
        o = self.options
        terms = boost_terms(vocabulary, self._extra_terms)
        boost: dict[str, Any] = (
            {"keyterm": terms}
            if o.model.startswith("nova-3")
            else {"keywords": sorted({f"{w}:2" for t in terms for w in t.split()})[:MAX_TERMS]}
        )
        return {
            "model": o.model,
            "language": o.language,
            "encoding": "mulaw",
            "sample_rate": RATE,
            "channels": 1,
            "interim_results": True,
            "endpointing": o.endpointing_ms,
            "utterance_end_ms": o.utterance_end_ms,
            "smart_format": o.smart_format,
            **boost,
        }

    async def open(self, vocabulary: Vocabulary) -> DeepgramStream:
        """Start streaming; ``SttError`` if Deepgram refuses (see ``DeepgramStream.start``)."""
        stream = DeepgramStream(self._client, self.connect_parameters(vocabulary), self.options)
        await stream.start()
        return stream


class _SilenceGate:
    """Passes audio through, except long silences; a loud frame brings its preroll along."""

    def __init__(self, options: DeepgramOptions) -> None:
        self._hangover = options.silence_gate_ms
        self._threshold = options.gate_dbfs
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = options.preroll_ms * RATE // 1000
        self._quiet_ms = 0.0
        self.loud = False  # the last frame was loud

    def admit(self, ulaw: bytes) -> bytes:
        self.loud = frame_dbfs(ulaw) > self._threshold
        if self._hangover is None:
            return ulaw
        if self.loud:
            self._quiet_ms = 0.0
            out = b"".join([*self._preroll, ulaw])
            self._preroll.clear()
            return out
        self._quiet_ms += len(ulaw) * 1000 / RATE
        if self._quiet_ms <= self._hangover:
            return ulaw
        self._preroll.append(ulaw)
        while sum(map(len, self._preroll)) > self._preroll_bytes:
            self._preroll.popleft()
        return b""


class DeepgramStream:
    """One call's live recognition (``SttStream``); see the module docstring."""

    def __init__(
        self, client: AsyncDeepgramClient, parameters: dict[str, Any], options: DeepgramOptions
    ) -> None:
        self._client = client
        self._parameters = parameters
        self._o = options
        self._results: ResultQueue = asyncio.Queue()
        self._gate = _SilenceGate(options)
        # Audio since the last final, replayed to a new socket; positions are absolute byte
        # offsets in the call's (gated) audio, which is also Deepgram's timeline per socket.
        self._audio = bytearray()
        self._audio_start = 0
        self._sent = 0  # bytes of ``_audio`` sent on the current socket
        self._socket_base = 0  # absolute offset where the current socket's timeline starts
        self._final_boundary = 0  # audio before this offset is finalised
        self._pending_eos: int | None = None  # offset of an end_of_speech awaiting its final
        self._finalize_due = False
        self._deadline: asyncio.TimerHandle | None = None
        self._committed: list[str] = []
        self._confidences: list[float] = []
        self._interim = ""
        # Where Deepgram last closed an utterance (speech_final, UtteranceEnd), and where the
        # last loud audio was: if nothing loud came after it, an end_of_speech is final at once.
        self._endpoint_at: int | None = None
        self._last_loud = 0
        self._loud_unanswered_since: float | None = None  # speech sent, nothing heard back
        self._wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._stalled = False
        self._heard_back = False
        self._closed = False
        self._socket: AsyncV1SocketClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._abandoned: set[asyncio.Future[AsyncV1SocketClient]] = set()
        self.reconnects = 0

    async def start(self) -> None:
        """Connect; a refusal raises ``SttError`` at once, but a slow network delays the call
        by at most ``open_wait_s``: audio is kept until the socket is up, then streamed."""
        self._runner = asyncio.create_task(self._run(), name="deepgram-stream")
        connected = asyncio.create_task(self._connected.wait())
        await asyncio.wait(
            {connected, self._runner},
            timeout=self._o.open_wait_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        connected.cancel()
        if self._runner.done() and not self._connected.is_set():
            self._closed = True
            raise SttError("cannot connect to Deepgram")

    # --- SttStream -----------------------------------------------------------------------------

    async def push(self, ulaw: bytes) -> None:
        if self._closed or not ulaw:
            return
        data = self._gate.admit(ulaw)
        if not data:
            return
        self._audio += data
        if self._gate.loud:
            self._last_loud = self._audio_start + len(self._audio)
            if self._loud_unanswered_since is None:
                self._loud_unanswered_since = time.monotonic()
        excess = len(self._audio) - int(self._o.max_buffer_s * RATE)
        if excess > 0:  # only audio already sent can go (the socket timeline must stay whole)
            drop = min(excess, self._sent)
            del self._audio[:drop]
            self._audio_start += drop
            self._sent -= drop
        self._wakeup.set()

    async def end_of_speech(self) -> None:
        if self._closed:
            return
        if self._pending_eos is not None:  # the previous one is still open: close it now
            self._emit_final(with_interim=True)
        self._pending_eos = self._audio_start + len(self._audio)
        endpoint = self._endpoint_at
        if endpoint is not None and not self._interim and self._last_loud <= endpoint + RATE // 10:
            self._emit_final(with_interim=False)
            return
        self._finalize_due = True
        self._wakeup.set()
        self._arm_deadline()

    def transcripts(self) -> AsyncIterator[Transcript]:
        return drain_results(self._results)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_deadline()
        socket = self._socket
        if socket is not None and self._runner is not None:
            # Deepgram's graceful end: CloseStream, then it sends Metadata and closes.
            with contextlib.suppress(Exception):
                await socket.send_close_stream()
                await asyncio.wait({self._runner}, timeout=CLOSE_WAIT_S)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._results.put_nowait(None)

    # --- connection ----------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            self._heard_back = False
            try:
                await self._session()
                reason = "closed by server"
            except ApiError as exc:  # refused handshake (its text holds our headers: unused)
                reason = f"http {exc.status_code}"
            except Exception as exc:  # network errors, websockets' ConnectionClosed, a stall
                reason = type(exc).__name__
            if self._closed:
                return
            # A socket that answered before dropping was a good one: count afresh. One that
            # never answered (refused, stalled) counts towards giving up.
            failures = 1 if self._heard_back else failures + 1
            if failures > self._o.reconnect_attempts:
                log.warning("deepgram gave up", extra={"reason": reason})
                self._fail(SttError(f"deepgram stream lost: {reason}"))
                return
            log.info("deepgram reconnecting", extra={"reason": reason, "attempt": failures})
            self.reconnects += 1
            await asyncio.sleep(0.05 * failures)

    async def _session(self) -> None:
        manager: AbstractAsyncContextManager[AsyncV1SocketClient] = self._client.listen.v1.connect(
            **self._parameters
        )
        socket = await self._connect(manager)
        tasks: list[asyncio.Task[None]] = []
        try:
            self._on_connected(socket)
            tasks = [
                asyncio.create_task(self._receive(socket)),
                asyncio.create_task(self._send(socket)),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            errors = await asyncio.gather(*tasks, return_exceptions=True)
            self._socket = None
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)
        for error in errors:
            if isinstance(error, Exception):
                raise error

    async def _connect(
        self, manager: AbstractAsyncContextManager[AsyncV1SocketClient]
    ) -> AsyncV1SocketClient:
        # Not asyncio.timeout around the SDK's connect: the websockets client it uses waits for
        # a silent peer's close on cancellation (up to its own 10 s). Give up on the attempt
        # instead, and let it end in the background.
        attempt = asyncio.ensure_future(manager.__aenter__())
        done, _ = await asyncio.wait({attempt}, timeout=self._o.connect_timeout_s)
        if attempt in done:
            return attempt.result()
        attempt.cancel()
        self._abandoned.add(attempt)
        attempt.add_done_callback(self._abandoned.discard)
        attempt.add_done_callback(lambda task: task.cancelled() or task.exception())
        raise TimeoutError("deepgram did not answer the connection")

    def _on_connected(self, socket: AsyncV1SocketClient) -> None:
        # Everything not finalised is sent again and recognised afresh on the new timeline.
        self._socket = socket
        self._sent = 0
        self._socket_base = self._audio_start
        self._committed, self._confidences, self._interim = [], [], ""
        self._endpoint_at = None
        if self._loud_unanswered_since is not None:
            self._loud_unanswered_since = time.monotonic()
        if self._pending_eos is not None:
            self._finalize_due = True
            self._arm_deadline()
        self._wakeup.set()
        self._connected.set()

    async def _send(self, socket: AsyncV1SocketClient) -> None:
        last_sent = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._o.keepalive_s):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if self._stalled:
                self._stalled = False
                raise SttError("deepgram stopped answering")
            if self._sent < len(self._audio):
                chunk = bytes(self._audio[self._sent :])
                self._sent = len(self._audio)
                await socket.send_media(chunk)
                last_sent = time.monotonic()
            if self._finalize_due and self._sent == len(self._audio):
                self._finalize_due = False
                await socket.send_finalize()
                last_sent = time.monotonic()
            if time.monotonic() - last_sent >= self._o.keepalive_s:
                await socket.send_keep_alive()
                last_sent = time.monotonic()

    async def _receive(self, socket: AsyncV1SocketClient) -> None:
        async for message in socket:
            self._loud_unanswered_since = None
            self._heard_back = True
            if isinstance(message, ListenV1Results):
                self._on_results(message)
            elif isinstance(message, ListenV1UtteranceEnd) and not self._interim:
                # Deepgram heard no words for utterance_end_ms after this point.
                self._endpoint_at = self._socket_base + round(message.last_word_end * RATE)
        raise ConnectionError("deepgram closed the stream")

    # --- results -------------------------------------------------------------------------------

    def _on_results(self, result: ListenV1Results) -> None:
        end = self._socket_base + round((result.start + result.duration) * RATE)
        if end <= self._final_boundary + RATE // 25:
            return  # about audio already finalised (a late answer to an earlier Finalize)
        alternative = result.channel.alternatives[0] if result.channel.alternatives else None
        text = alternative.transcript.strip() if alternative else ""
        start = self._socket_base + round(result.start * RATE)
        if text and self._pending_eos is not None and start >= self._pending_eos - RATE // 50:
            # Words spoken after the end of speech: the pending turn heard all it will.
            self._emit_final(with_interim=True)
        if result.is_final:
            if text:
                self._committed.append(text)
                self._confidences.append(alternative.confidence if alternative else 0.0)
            self._interim = ""
            if text:
                self._endpoint_at = None
            if result.speech_final or result.from_finalize:
                self._endpoint_at = end
                if self._pending_eos is not None:
                    self._emit_final(with_interim=False)
                    return
        else:
            self._interim = text
            if text:
                self._endpoint_at = None
        if text:
            partial = " ".join([*self._committed, *([self._interim] if self._interim else [])])
            self._results.put_nowait(Transcript(partial, False, 0.0))

    def _emit_final(self, *, with_interim: bool) -> None:
        words = [*self._committed, *([self._interim] if with_interim and self._interim else [])]
        confidence = (
            sum(self._confidences) / len(self._confidences)
            if self._confidences
            else (0.5 if words else 0.0)
        )
        self._results.put_nowait(Transcript(" ".join(words), True, confidence))
        boundary = self._pending_eos if self._pending_eos is not None else self._final_boundary
        self._final_boundary = max(self._final_boundary, boundary)
        self._pending_eos = None
        self._finalize_due = False
        self._cancel_deadline()
        self._committed, self._confidences, self._interim = [], [], ""
        self._endpoint_at = None
        # Finalised audio that the socket already has is no longer needed for a replay.
        drop = min(self._final_boundary - self._audio_start, self._sent)
        if drop > 0:
            del self._audio[:drop]
            self._audio_start += drop
            self._sent -= drop

    def _arm_deadline(self, delay_s: float | None = None) -> None:
        self._cancel_deadline()
        delay = self._o.finalize_timeout_s if delay_s is None else delay_s
        self._deadline = asyncio.get_running_loop().call_later(delay, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline = None
        if self._pending_eos is None or self._closed or self._socket is None:
            return  # (reconnecting: the next socket gets the turn again and re-arms this)
        unanswered = self._loud_unanswered_since
        if unanswered is not None:
            # Speech went out and nothing at all came back (a live socket sends results, empty
            # ones too). Give it ``stall_s``; then it is dead, not slow: reconnect and replay
            # rather than finalise a turn nobody heard.
            waited = time.monotonic() - unanswered
            if waited < self._o.stall_s:
                self._arm_deadline(self._o.stall_s - waited)
                return
            self._stalled = True
            self._wakeup.set()
            return
        self._emit_final(with_interim=True)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _fail(self, error: SttError) -> None:
        self._closed = True
        self._cancel_deadline()
        self._results.put_nowait(error)
