"""Benchmark of the realtime voice loop with instant fake providers, on loopback.

    uv run python -m bench.voice_loop [--calls 1,100] [--capacity-max 300] [--turns 5]
        [--capacity-step 50] [--barge-in-calls 10] [--barge-ins-per-call 3]
        [--peers-per-proc 100] [--loop uvloop|asyncio]

The API (uvicorn, the real Twilio edge and ``CallSession``) is served in this process, pinned to
CPU 0, with instant STT/TTS/agent (``bench/instant.py``), so every millisecond measured is the
voice loop's own. Simulated callers (``phonesim.TwilioPeer``, 20 ms ticks) run in spawned
processes pinned to CPU 1, as do the Temporal dev server and a worker for the wrap-ups.

1. Turn overhead at N concurrent calls (``--calls``): each call waits for the greeting, then
   ``--turns`` times speaks a 600 ms tone and waits for the reply to finish. Per turn, server
   side (``TurnTiming.as_report()["overhead_ms"]``): first media sent - STT final - agent time -
   TTS time. Goal p95 <= 15 ms at 1 call, <= 40 ms at 100.
2. Barge-in: callers speak over a long answer; server side, from the first voiced frame of the
   caller's speech reaching the session to the ``clear`` frame handed to the WebSocket. Goal
   <= 120 ms. The VAD needs ``speech_start_ms`` of voiced audio first (the floor).
3. Capacity: N = step, 2*step, ... <= ``--capacity-max`` calls, each agent answer long (the agent
   speaks almost all the time). Outbound pacing jitter (``PacedOutput.stats.lateness_ms``) p99
   over a steady window, server CPU, RSS per call, turn overhead. Capacity = the largest N with
   jitter p99 < 20 ms and overhead p95 < 40 ms (goal >= 200). Memory goal <= 2 MB per call.

The instant TTS hands over each piece's audio whole (``--tts-chunk-ms 40`` streams it in 40 ms
chunks instead, which shows ``PacedOutput`` sending faster than real time once its queue runs
dry between chunks: see "peer queue max"). Raw numbers go to ``bench/out/voice_loop.json``. All
data is synthetic. Exits non-zero only on errors (a call failing, or its wrap-up not persisted,
in the warm-up, turn or barge-in phases; a caller process failing), never on goals; failed calls
in the capacity ramp are overload, reported in its table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect as ws_connect

from bench.instant import LONG_ANSWER, SHORT_ANSWER, is_loud, tone
from phonesim.twilio_peer import StreamTarget, TwilioPeer
from realtime.twilio_security import sign

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
CLINIC_NUMBER = "+12075550100"  # the seeded demo clinic
CALLER_NUMBER = "+12075550111"
SERVER_CPU, CALLER_CPU = 0, 1

OVERHEAD_GOAL_1_MS = 15.0
OVERHEAD_GOAL_N_MS = 40.0
BARGE_IN_GOAL_MS = 120.0
JITTER_GOAL_P99_MS = 20.0
CAPACITY_GOAL = 200
MEMORY_GOAL_MB = 2.0

ASK = "what time do you close today"
TELL_ME = "tell me everything"
INTERRUPT = "wait can i book thursday"

OUT = Path(__file__).resolve().parent / "out" / "voice_loop.json"


# --- shared -----------------------------------------------------------------------------------


def _entry(name: str) -> Callable[..., None]:
    """A child-process entry point by its importable name (also when this file runs as
    ``__main__`` or under ``python -m cProfile``, whose ``__main__`` a spawned child lacks)."""
    import importlib

    return getattr(importlib.import_module("bench.voice_loop"), name)  # type: ignore[no-any-return]


def new_loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pin_process_tree(pid: int, cpu: int) -> None:
    """Every thread of another process (``sched_setaffinity`` on a pid is per thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(tid), {cpu})


@contextlib.contextmanager
def affinity(cpu: int | None) -> Iterator[None]:
    """Run the calling thread on ``cpu`` for a moment (a child started here inherits it)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.asynccontextmanager
async def _tempdir() -> AsyncIterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="receptionist-voice-bench-") as path:
        yield path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def runqueue_wait_s() -> float:
    """Time the calling thread has spent runnable but waiting for a CPU (another process had
    it): the share of a window lost to other load on the machine."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- the simulated callers (spawned processes on CPU 1) ------------------------------------------


@dataclass(frozen=True)
class CallerPlan:
    base_url: str
    mode: str  # "turns" | "barge_in" | "capacity"
    calls: int
    first_index: int  # of this process's calls in the whole phase (for the stagger)
    total_calls: int
    turns: int
    stagger_s: float
    seed: int
    deadline_s: float
    loop: str
    cpu: int | None
    compression: str | None = "deflate"


class CallTimeout(RuntimeError):
    pass


class BenchPeer(TwilioPeer):
    """A ``TwilioPeer`` that notes when the first frame of each utterance is sent and how much
    of the receptionist's audio it holds unplayed (how far ahead of real time the server sends),
    and posts its webhooks with one HTTP client per process (a new ``httpx.AsyncClient`` per
    call builds an SSL context: tens of ms that would stall every other peer's ticks)."""

    http: httpx.AsyncClient | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_frame_sent: list[float] = []
        self.max_buffered_ms = 0
        self._new_utterance = False
        self._ticks = 0

    compression: str | None = "deflate"  # what TwilioPeer (the websockets client) offers

    async def connect(self, target: StreamTarget, *, signature: str | None = None) -> None:
        if self.compression == "deflate":
            return await super().connect(target, signature=signature)
        # TwilioPeer.connect, without offering permessage-deflate.
        signature = signature if signature is not None else sign(self.auth_token, target.url, {})
        self._ws = await ws_connect(
            target.url, additional_headers={"X-Twilio-Signature": signature}, compression=None
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

    async def _post(self, path: str, params: dict[str, str]) -> httpx.Response:
        assert self.http is not None
        url = f"{self.api_base}{path}"
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, params)}
        return await self.http.post(url, data=params, headers=headers)

    def speak(self, ulaw: bytes) -> None:
        super().speak(ulaw)
        self._new_utterance = True

    async def _tick(self) -> None:
        if self._new_utterance and self._outgoing:
            self._new_utterance = False
            self.first_frame_sent.append(time.monotonic())
        self._ticks += 1
        if self._ticks % 10 == 0:
            buffered = sum(len(item) for kind, item in self._playback if kind == "audio") // 8
            self.max_buffered_ms = max(self.max_buffered_ms, buffered)
        await super()._tick()


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CallTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.04)


async def quiet(peer: TwilioPeer, seconds: float = 0.3, timeout: float = 60.0) -> None:
    await until(
        lambda: (
            not peer.receptionist_playing
            and time.monotonic() - peer.last_receptionist_audio > seconds
        ),
        timeout,
        "the receptionist to finish",
    )


TONE_600 = tone(600)
TONE_900 = tone(900, freq=330.0)


async def reply_turn(peer: TwilioPeer, utterance: bytes = TONE_600) -> None:
    before = peer.receptionist_audio_ms
    peer.speak(utterance)
    await until(lambda: peer.receptionist_audio_ms > before + 100, 20, "a reply")
    await quiet(peer)


async def barge_in(peer: BenchPeer, rng: random.Random, out: list[float]) -> None:
    before = peer.receptionist_audio_ms
    peer.speak(TONE_600)  # "tell me everything": a long answer
    into = rng.uniform(800, 1800)  # ms into the answer, so onsets fall anywhere in a chunk
    await until(lambda: peer.receptionist_audio_ms > before + into, 20, "the long answer")
    clears = peer.stats.clears
    peer.speak(TONE_900)  # "wait can i book thursday"
    await until(lambda: peer.stats.clears > clears, 5, "a clear")
    out.append((peer.stats.clear_times[-1] - peer.first_frame_sent[-1]) * 1000)
    await until(lambda: not peer.speaking, 5, "the caller to finish")
    after = peer.receptionist_audio_ms
    await until(lambda: peer.receptionist_audio_ms > after + 100, 20, "the answer to it")
    await quiet(peer)


async def one_call(plan: CallerPlan, index: int, rng: random.Random) -> dict[str, Any]:
    """One call as the plan says; on cancellation (the benchmark's "hang up now") it hangs up
    and returns what it has."""
    peer = BenchPeer(plan.base_url, AUTH_TOKEN, to_number=CLINIC_NUMBER, from_number=CALLER_NUMBER)
    result: dict[str, Any] = {"call_sid": peer.call_sid, "error": None, "timeout": None}
    barge_ins: list[float] = []
    runner: asyncio.Task[None] | None = None
    try:
        await asyncio.sleep(plan.stagger_s * (plan.first_index + index) / max(1, plan.total_calls))
        await peer.connect(await peer.dial())
        runner = asyncio.create_task(peer.run())
        await until(lambda: peer.receptionist_audio_ms > 200, 30, "the greeting")
        await quiet(peer)
        for _ in range(plan.turns):
            if plan.mode == "barge_in":
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                await barge_in(peer, rng, barge_ins)
            else:
                await asyncio.sleep(rng.uniform(0.2, 1.0))  # de-phase the calls' turns
                await reply_turn(peer)
    except asyncio.CancelledError:
        result["stopped"] = True
    except CallTimeout as exc:
        result["timeout"] = str(exc)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(peer.hang_up(), 10)
        if runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, 10)
    result["barge_in_peer_ms"] = barge_ins
    result["max_buffered_ms"] = peer.max_buffered_ms
    result["received_media"] = peer.stats.media_received
    return result


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late a 20 ms sleep wakes up: the event loop's ability to keep 20 ms ticks."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.02)
        samples.append((time.monotonic() - started - 0.02) * 1000)


async def run_callers(plan: CallerPlan, hang_up: Any) -> dict[str, Any]:
    """All of this process's calls; ``hang_up`` (a multiprocessing event) ends them early."""
    rng = random.Random(plan.seed)
    lag: list[float] = []
    stop = asyncio.Event()
    monitor = asyncio.create_task(loop_lag(lag, stop))
    cpu0, wait0, wall0 = cpu_seconds(), runqueue_wait_s(), time.monotonic()
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    BenchPeer.http = httpx.AsyncClient(timeout=30, limits=limits)
    BenchPeer.compression = plan.compression
    calls = [
        asyncio.create_task(one_call(plan, i, random.Random(rng.random())))
        for i in range(plan.calls)
    ]
    deadline = time.monotonic() + plan.deadline_s
    try:
        while True:  # polled: a multiprocessing event has no awaitable side
            if all(c.done() for c in calls) or hang_up.is_set() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        for call in calls:
            call.cancel()
        results = []
        for call in calls:
            try:
                results.append(await call)
            except asyncio.CancelledError:  # cancelled before it started
                results.append({"call_sid": "", "error": None, "timeout": None})
    finally:
        await BenchPeer.http.aclose()
    if time.monotonic() > deadline:
        results.append({"call_sid": "", "error": None, "timeout": "caller process deadline"})
    stop.set()
    await monitor
    wall = time.monotonic() - wall0
    return {
        "pid": os.getpid(),
        "calls": results,
        "lag_ms": lag,
        "cpu_share": (cpu_seconds() - cpu0) / wall if wall > 0 else 0.0,
        "runqueue_wait_share": (runqueue_wait_s() - wait0) / wall if wall > 0 else 0.0,
        "wall_s": wall,
    }


def caller_process(fields: dict[str, Any], conn: Any, hang_up: Any) -> None:
    plan = CallerPlan(**fields)  # sent as a dict: plain data pickles whatever __main__ is
    pin(plan.cpu)
    try:
        with asyncio.Runner(loop_factory=new_loop_factory(plan.loop)) as runner:
            result = runner.run(run_callers(plan, hang_up))
    except BaseException:
        result = {"fatal": traceback.format_exc()}
    conn.send(result)
    conn.close()


# --- the wrap-up worker (a spawned process on CPU 1) --------------------------------------------


def worker_process(
    db_url: str, temporal_address: str, prefix: str, stop: Any, cpu: int | None
) -> None:
    pin(cpu)

    async def run() -> None:
        from temporalio.client import Client

        from core.db import Database
        from core.settings import Settings
        from core.temporal import data_converter
        from worker import build_workers

        db = Database(db_url)
        client = await Client.connect(temporal_address, data_converter=data_converter())
        settings = Settings(task_queue_prefix=prefix, database_url=db_url)
        workers = build_workers(client, db, settings)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await asyncio.to_thread(stop.wait)
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)
            await db.dispose()

    asyncio.run(run())


# --- the server side (this process, CPU 0) ------------------------------------------------------


class SessionRecorder(dict):  # type: ignore[type-arg]
    """Stands in for ``VoiceSessions.active``: also keeps every session it saw (until ``take``)
    and lets the benchmark instrument a session before it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.stale: set[str] = set()  # still open from an earlier phase (stuck)
        self.on_new: Callable[[Any], None] | None = None

    @property
    def current(self) -> int:
        """Open sessions of the running phase."""
        return sum(1 for key in self if key not in self.stale)

    def __setitem__(self, key: str, session: Any) -> None:
        self.seen.append(session)
        if self.on_new is not None:
            self.on_new(session)
        super().__setitem__(key, session)

    def take(self) -> list[Any]:
        seen, self.seen = self.seen, []
        return seen


class BargeInProbe:
    """Server-side timestamps of one session: each run of loud caller frames as the session
    receives it (first frame; the frame on which the VAD can declare an onset), and each
    ``clear`` handed to the WebSocket."""

    def __init__(self, session: Any, frames_to_onset: int) -> None:
        from realtime.twilio_protocol import Media

        self.onsets: list[float] = []
        self.triggers: list[float] = []
        self.clears: list[float] = []
        self._run = 0
        handle, raw_send = session.handle, session.output._raw_send

        async def probed_handle(event: Any) -> None:
            if type(event) is Media:
                if is_loud(event.payload):
                    self._run += 1
                    if self._run == 1:
                        self.onsets.append(time.monotonic())
                    if self._run == frames_to_onset:
                        self.triggers.append(time.monotonic())
                else:
                    self._run = 0
            await handle(event)

        async def probed_send(frame: str) -> None:
            await raw_send(frame)
            if frame.startswith('{"event": "clear"'):
                self.clears.append(time.monotonic())

        session.handle = probed_handle
        session.output._raw_send = probed_send

    def pairs(self) -> list[tuple[float, float, float]]:
        """(onset → clear, onset → VAD trigger frame, trigger frame → clear) in ms, per clear."""
        out = []
        for clear in self.clears:
            onset = max((t for t in self.onsets if t <= clear), default=None)
            trigger = max((t for t in self.triggers if t <= clear), default=None)
            if onset is None or trigger is None or trigger < onset:
                continue
            out.append(((clear - onset) * 1000, (trigger - onset) * 1000, (clear - trigger) * 1000))
        return out


@dataclass
class Window:
    """Server measurements while all of a phase's calls are up."""

    seconds: float = 0.0
    active_min: int = 0
    cpu_share: float = 0.0  # of one core
    runqueue_wait_share: float = 0.0  # the server thread runnable but another process on its CPU
    rss_peak: int = 0
    lateness_ms: list[float] = field(default_factory=list)  # chunks sent inside the window
    per_call_p99_ms: list[float] = field(default_factory=list)
    loop_lag_ms: list[float] = field(default_factory=list)  # server loop: 20 ms sleeps, late by
    gc_pauses_ms: list[float] = field(default_factory=list)  # server: cyclic GC runs (wall)
    gc_pauses_cpu_ms: list[float] = field(default_factory=list)  # the same, thread CPU time
    started: float = 0.0  # monotonic
    ended: float = 0.0


@dataclass
class PhaseResult:
    name: str
    mode: str
    calls: int
    caller_procs: int
    overhead_ms: list[float] = field(default_factory=list)
    window_overhead_ms: list[float] = field(default_factory=list)  # turns ended in the window
    detect_to_media_ms: list[float] = field(default_factory=list)
    turns_reported: int = 0
    lateness_all_ms: list[float] = field(default_factory=list)
    window: Window = field(default_factory=Window)
    rss_per_call_mb: float | None = None
    barge_in_ms: list[float] = field(default_factory=list)
    barge_in_floor_ms: list[float] = field(default_factory=list)
    barge_in_processing_ms: list[float] = field(default_factory=list)
    barge_in_peer_ms: list[float] = field(default_factory=list)
    peer_max_buffered_ms: list[float] = field(default_factory=list)  # per call
    caller_cpu_share: float = 0.0
    caller_wait_share: float = 0.0  # largest of the caller processes' run-queue wait
    caller_lag_p99_ms: float | None = None
    caller_lag_max_ms: float | None = None
    call_sids: list[str] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # calls failing, wrap-ups not persisted
    fatal: list[str] = field(default_factory=list)  # a caller process failing
    leftovers: list[str] = field(default_factory=list)  # sessions/turns outliving the phase
    wrapups_persisted: int | None = None
    db_turn_reports: int | None = None
    elapsed_s: float = 0.0


def group_leftovers(leftovers: Sequence[str]) -> list[str]:
    """Identical findings (but for the call) counted once."""
    import collections
    import re

    counts = collections.Counter(re.sub(r"CA[0-9a-f]{32}", "CA...", item) for item in leftovers)
    return [f"{n} x {item}" for item, n in counts.most_common()]


def _chain(task: asyncio.Task[Any]) -> list[Any]:
    """The coroutines a task is suspended in, outermost first (following ``await``)."""
    chain, coro = [], task.get_coro()
    while coro is not None and len(chain) < 100:
        chain.append(coro)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return chain


def _where(task: asyncio.Task[Any] | None) -> str:
    """Where a task is suspended: its innermost coroutine frame."""
    if task is None:
        return "?"
    frames = [
        frame
        for coro in _chain(task)
        if (frame := getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None))
    ]
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} ({frame.f_code.co_name})"


def _handler_of(ended: asyncio.Event) -> asyncio.Task[Any] | None:
    """The task running ``VoiceSessions.run`` for the session owning ``ended``."""
    for task in asyncio.all_tasks():
        for coro in _chain(task):
            frame = getattr(coro, "cr_frame", None)
            if getattr(coro, "__qualname__", "") != "VoiceSessions.run" or frame is None:
                continue
            session = frame.f_locals.get("session")
            if session is not None and session.ended is ended:
                return task
    return None


class Bench:
    def __init__(
        self, args: argparse.Namespace, base_url: str, voice: Any, script: Any, db: Any
    ) -> None:
        self.args = args
        self.db = db
        self.base_url = base_url
        self.voice = voice
        self.script = script
        self.recorder = SessionRecorder()
        voice.active = self.recorder
        self.rss_0 = 0
        self.ctx = mp.get_context("spawn")
        self.seed = args.seed
        self.loop_lag_ms: list[float] = []
        self.gc_pauses_ms: list[float] = []
        self.gc_pauses_cpu_ms: list[float] = []
        self._gc_started: tuple[float, float] | None = None
        gc.callbacks.append(self._on_gc)

    def configure(self, mode: str) -> None:
        if mode == "turns":
            self.script.lines, self.script.answers = [ASK], {}
            self.script.default_answer = SHORT_ANSWER
        elif mode == "barge_in":
            self.script.lines = [TELL_ME, INTERRUPT]
            self.script.answers = {TELL_ME: LONG_ANSWER}
            self.script.default_answer = SHORT_ANSWER
        else:  # capacity: every answer long, so the agent speaks nearly all the time
            self.script.lines, self.script.answers = [TELL_ME], {}
            self.script.default_answer = LONG_ANSWER

    async def run_phase(
        self, name: str, mode: str, calls: int, turns: int, window_s: float
    ) -> PhaseResult:
        self.configure(mode)
        self.recorder.take()
        self.recorder.stale = set(self.recorder)
        probes: list[BargeInProbe] = []
        if mode == "barge_in":
            frames = self.voice._turns.speech_start_ms // self.voice._turns.frame_ms
            self.recorder.on_new = lambda s: probes.append(BargeInProbe(s, frames))
        per_proc = max(1, self.args.peers_per_proc)
        procs = math.ceil(calls / per_proc)
        result = PhaseResult(name, mode, calls, procs)
        stagger = min(6.0, max(0.5, calls / 50))
        if mode == "capacity":  # calls keep taking turns until the window has been measured
            turns, deadline = 1000, 90.0 + stagger + window_s
        else:
            deadline = 60.0 + stagger + turns * 10.0
        hang_up = self.ctx.Event()
        started = time.monotonic()
        children = []
        for p in range(procs):
            share = range(p * per_proc, min(calls, (p + 1) * per_proc))
            plan = CallerPlan(
                self.base_url, mode, len(share), share.start, calls, turns, stagger,
                self.seed + p, deadline, self.args.loop, CALLER_CPU if self.args.pin else None,
                None if self.args.ws_compression == "none" else "deflate",
            )  # fmt: skip
            self.seed += 1000
            parent, child = self.ctx.Pipe(duplex=False)
            process = self.ctx.Process(
                target=_entry("caller_process"), args=(asdict(plan), child, hang_up), daemon=True
            )
            with affinity(CALLER_CPU if self.args.pin else None):
                process.start()
            child.close()
            children.append((process, parent))

        async def receive(process: Any, conn: Any) -> dict[str, Any]:
            ready = await asyncio.to_thread(conn.poll, deadline + 30)
            if not ready:
                process.terminate()
                return {"fatal": f"caller process {process.pid} did not report in time"}
            try:
                return await asyncio.to_thread(conn.recv)
            except EOFError:
                return {"fatal": f"caller process {process.pid} exited ({process.exitcode})"}

        receiving = [asyncio.create_task(receive(p, c)) for p, c in children]
        window = await self.measure_window(calls, window_s, receiving)
        if mode == "capacity":
            hang_up.set()
        reports = await asyncio.gather(*receiving)
        for process, conn in children:
            await asyncio.to_thread(process.join, 10)
            conn.close()
        self.recorder.on_new = None
        result.elapsed_s = time.monotonic() - started
        result.window = window
        if window.rss_peak and self.rss_0:
            result.rss_per_call_mb = (window.rss_peak - self.rss_0) / calls / 2**20

        lag: list[float] = []
        for report in reports:
            if "fatal" in report:
                result.fatal.append(f"caller process: {report['fatal']}")
                continue
            lag.extend(report["lag_ms"])
            result.caller_cpu_share += report["cpu_share"]
            result.caller_wait_share = max(result.caller_wait_share, report["runqueue_wait_share"])
            for call in report["calls"]:
                if call["call_sid"]:
                    result.call_sids.append(call["call_sid"])
                if call["error"]:
                    result.errors.append(f"{call['call_sid']}: {call['error']}")
                if call["timeout"]:
                    result.timeouts.append(f"{call['call_sid']}: {call['timeout']}")
                result.barge_in_peer_ms.extend(call.get("barge_in_peer_ms", []))
                if "max_buffered_ms" in call:
                    result.peer_max_buffered_ms.append(call["max_buffered_ms"])
        result.caller_lag_p99_ms = pct(lag, 99)
        result.caller_lag_max_ms = max(lag) if lag else None

        sessions = self.recorder.take()
        for session in sessions:
            for timing in session.timings:
                report = timing.as_report()
                result.turns_reported += 1
                if "overhead_ms" in report:
                    result.overhead_ms.append(report["overhead_ms"])
                    if window.started <= timing.end_of_speech <= window.ended:
                        result.window_overhead_ms.append(report["overhead_ms"])
                    result.detect_to_media_ms.append(
                        report["first_media_ms"] - report["endpointing_ms"]
                    )
            result.lateness_all_ms.extend(session.output.stats.lateness_ms)
        for probe in probes:
            for total, floor, processing in probe.pairs():
                result.barge_in_ms.append(total)
                result.barge_in_floor_ms.append(floor)
                result.barge_in_processing_ms.append(processing)
        del sessions
        probes.clear()
        result.leftovers = await self.wait_until_idle()
        for line in group_leftovers(result.leftovers):
            print(f"  {name}: {line}", flush=True)
        gc.collect()
        await self.wait_for_wrapups(result)
        return result

    async def measure_window(
        self, calls: int, window_s: float, receiving: Sequence[asyncio.Task[Any]]
    ) -> Window:
        """Wait (bounded) until all ``calls`` are up, settle, then measure for up to
        ``window_s`` or until a call ends. Under overload not every call may get up: then the
        window is measured with those that did (``active_min`` says how many)."""
        window = Window()
        active = self.recorder

        def finished() -> bool:
            return all(task.done() for task in receiving)

        deadline = time.monotonic() + 60
        while True:  # polled: the sessions are the server's, not ours to signal
            if active.current >= calls or finished() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        if finished() or not active.current:
            return window
        await asyncio.sleep(self.args.settle_s)
        sessions = [s for key, s in list(active.items()) if key not in active.stale]
        up = len(sessions)
        marks = [len(s.output.stats.lateness_ms) for s in sessions]
        lag_mark, gc_mark = len(self.loop_lag_ms), len(self.gc_pauses_ms)
        profiler = None
        if self.args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu0, wait0, wall0 = cpu_seconds(), runqueue_wait_s(), time.monotonic()
        window.started = wall0
        window.active_min = active.current
        window.rss_peak = rss_bytes()
        while True:
            if time.monotonic() - wall0 >= window_s or active.current < up or finished():
                break
            await asyncio.sleep(0.25)
            window.active_min = min(window.active_min, active.current)
            window.rss_peak = max(window.rss_peak, rss_bytes())
        window.ended = time.monotonic()
        if profiler is not None:
            profiler.disable()
            path = f"{self.args.profile}.{calls}"
            profiler.dump_stats(path)
            print(f"server profile of the window at {calls} calls: {path}", flush=True)
        window.seconds = window.ended - wall0
        if window.seconds:
            window.cpu_share = (cpu_seconds() - cpu0) / window.seconds
            window.runqueue_wait_share = (runqueue_wait_s() - wait0) / window.seconds
        window.loop_lag_ms = self.loop_lag_ms[lag_mark:]
        window.gc_pauses_ms = self.gc_pauses_ms[gc_mark:]
        window.gc_pauses_cpu_ms = self.gc_pauses_cpu_ms[gc_mark:]
        for session, mark in zip(sessions, marks, strict=True):
            chunk = session.output.stats.lateness_ms[mark:]
            window.lateness_ms.extend(chunk)
            if chunk:
                window.per_call_p99_ms.append(pct(chunk, 99) or 0.0)
        return window

    async def wait_until_idle(self, timeout: float = 20.0) -> list[str]:
        """Until every session of the phase has closed (and reported); then what is left over:
        sessions still open, and turn tasks still pending in sessions that have ended."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.recorder.current or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        earlier, self.recorder.stale = self.recorder.stale, set()
        leftovers = []
        for key, session in list(self.recorder.items()):
            if key in earlier:
                continue
            run = _handler_of(session.ended)
            leftovers.append(
                f"session {session.info.call_sid} still open {timeout:.0f} s after its phase "
                f"(ended={session.ended.is_set()}; its handler at {_where(run)})"
            )
        for task in asyncio.all_tasks():
            coro = task.get_coro()
            name = getattr(coro, "__qualname__", "")
            if name not in ("CallSession._agent_turn", "CallSession._speak_only"):
                continue
            owner = getattr(coro, "cr_frame", None)
            session = owner.f_locals.get("self") if owner is not None else None
            if (
                session is not None
                and session.ended.is_set()
                and session.info.call_sid not in earlier
            ):
                leftovers.append(
                    f"{name} of ended call {session.info.call_sid} still pending at {_where(task)}"
                )
        return leftovers

    async def release_stuck(self, timeout: float = 20.0) -> None:
        """Cancel the handlers and turns of sessions that never closed, while the database and
        Temporal are still up for their reports (else they report into a torn-down stack)."""
        deadline = time.monotonic() + timeout
        while self.recorder and time.monotonic() < deadline:
            for session in list(self.recorder.values()):
                handler = _handler_of(session.ended)
                if handler is not None:
                    handler.cancel()
                turn = getattr(session, "_turn", None)
                if turn is not None:
                    turn.cancel()
            await asyncio.sleep(0.5)

    async def monitor_loop(self) -> None:
        """The server loop's own lateness on 20 ms sleeps, for the whole run."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.02)
            self.loop_lag_ms.append((time.monotonic() - started - 0.02) * 1000)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.thread_time())
        elif self._gc_started is not None:
            wall, cpu = self._gc_started
            self.gc_pauses_ms.append((time.perf_counter() - wall) * 1000)
            self.gc_pauses_cpu_ms.append((time.thread_time() - cpu) * 1000)
            self._gc_started = None

    async def wait_for_wrapups(self, result: PhaseResult) -> None:
        """Until every call's wrap-up has persisted it (bounded); cross-checks turn reports.
        In the capacity ramp the wait is shorter and a shortfall is reported, not an error:
        the wrap-ups run in the worker on the callers' CPU, not in the voice loop."""
        capacity = result.mode == "capacity"
        timeout = min(20.0, self.args.wrapup_timeout_s) if capacity else self.args.wrapup_timeout_s
        from sqlmodel import col, select

        from core.models import Call

        if not result.call_sids:
            return
        deadline = time.monotonic() + timeout
        while True:
            async with self.db.read() as session:
                rows = (
                    await session.exec(
                        select(Call.ended_at, Call.turn_latencies).where(
                            col(Call.call_sid).in_(result.call_sids)
                        )
                    )
                ).all()
            done = [latencies for ended, latencies in rows if ended is not None]
            if len(done) >= len(result.call_sids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        result.wrapups_persisted = len(done)
        result.db_turn_reports = sum(
            1 for latencies in done for turn in latencies or [] if "overhead_ms" in turn
        )
        if len(done) < len(result.call_sids) and not capacity:
            result.errors.append(
                f"{len(result.call_sids) - len(done)} of {len(result.call_sids)} wrap-ups not "
                f"persisted within {timeout:.0f} s"
            )


# --- reporting ----------------------------------------------------------------------------------


def overhead_goal(calls: int) -> float:
    return OVERHEAD_GOAL_1_MS if calls <= 1 else OVERHEAD_GOAL_N_MS


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}{unit}"


def cpu_per_call_ms(phase: PhaseResult) -> float | None:
    """Server CPU per call per second of call, in ms (load-independent, unlike jitter)."""
    if not phase.window.seconds or not phase.window.active_min:
        return None
    return phase.window.cpu_share * 1000 / phase.window.active_min


def capacity_ok(phase: PhaseResult) -> bool:
    jitter = pct(phase.window.lateness_ms, 99)
    overhead = pct(phase.window_overhead_ms, 95)
    return (
        jitter is not None
        and jitter < JITTER_GOAL_P99_MS
        and overhead is not None
        and overhead < OVERHEAD_GOAL_N_MS
        and not phase.errors
        and not phase.timeouts
        and not phase.fatal
        and not any(item.startswith("session ") for item in phase.leftovers)
        and phase.window.active_min >= phase.calls
    )


def phase_json(phase: PhaseResult) -> dict[str, Any]:
    data = asdict(phase)
    lateness = data.pop("lateness_all_ms")
    window = data["window"]
    window_lateness = window.pop("lateness_ms")
    summary = {
        q: pct(lateness, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    }
    data["lateness_all_summary_ms"] = summary | {"n": len(lateness)}
    window["lateness_summary_ms"] = {
        q: pct(window_lateness, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    } | {"n": len(window_lateness)}
    return data


def print_turn_section(phases: Sequence[PhaseResult]) -> None:
    from bench.common import Row, print_table

    rows: list[Row] = []
    for phase in phases:
        n = phase.calls
        rows.append(
            Row.of(
                f"overhead @{n} call{'s' if n > 1 else ''} (media - final - providers)",
                phase.overhead_ms,
                overhead_goal(n),
            )
        )
        rows.append(Row.of("  end-of-speech detected -> first media", phase.detect_to_media_ms))
        rows.append(Row.of("  pacing lateness, all chunks", phase.lateness_all_ms))
        rows.append(Row.of("  audio queued at the peer, max per call", phase.peer_max_buffered_ms))
    print_table(rows)
    for phase in phases:
        print(
            f"  @{phase.calls}: turns {len(phase.overhead_ms)}/{phase.turns_reported} measured, "
            f"db cross-check {phase.db_turn_reports} turn reports in "
            f"{phase.wrapups_persisted}/{len(phase.call_sids)} wrap-ups; "
            f"server CPU {phase.window.cpu_share * 100:.0f}% of core (waiting for it "
            f"{phase.window.runqueue_wait_share * 100:.0f}%) over {phase.window.seconds:.1f} s, "
            f"loop lag p99 {fmt(pct(phase.window.loop_lag_ms, 99))} ms, GC max "
            f"{fmt(max(phase.window.gc_pauses_ms, default=None))} ms; "
            f"RSS/call {fmt(phase.rss_per_call_mb, 2, ' MB')}; callers: {phase.caller_procs} "
            f"proc(s) on CPU {CALLER_CPU}, {phase.caller_cpu_share * 100:.0f}% CPU, "
            f"loop lag p99 {fmt(phase.caller_lag_p99_ms)} ms (max {fmt(phase.caller_lag_max_ms)})"
            f"; timeouts {len(phase.timeouts)}, errors {len(phase.errors)}",
            flush=True,
        )


def print_barge_in_section(
    phase: PhaseResult, per_call: int, speech_start_ms: int, frame_ms: int
) -> None:
    from bench.common import Row, print_table

    print_table(
        [
            Row.of(
                "onset -> clear sent (server: 1st voiced frame in)",
                phase.barge_in_ms,
                BARGE_IN_GOAL_MS,
            ),
            Row.of("  of which VAD floor (1st -> onset frame in)", phase.barge_in_floor_ms),
            Row.of("  of which ours (onset frame in -> clear sent)", phase.barge_in_processing_ms),
            Row.of("onset -> clear received (peer, incl. loopback)", phase.barge_in_peer_ms),
        ]
    )
    print(
        f"  {phase.calls} concurrent calls x {per_call} barge-ins; VAD floor: "
        f"speech_start_ms={speech_start_ms} ms of voiced audio = {speech_start_ms // frame_ms} "
        f"frames; the simulated caller sends each 20 ms frame at its start, so the onset frame "
        f"arrives {speech_start_ms - frame_ms} ms after the first (on a real line, where a frame "
        f"leaves when its audio is complete, the floor is the full {speech_start_ms} ms); "
        f"timeouts {len(phase.timeouts)}, errors {len(phase.errors)}",
        flush=True,
    )


def print_capacity_section(steps: Sequence[PhaseResult]) -> int:
    from bench.common import format_grid

    header = [
        "calls", "up", "jitter p50", "jitter p99", "worst call p99", "turns",
        "overhead p50", "overhead p95", "server CPU", "CPU/call", "waiting", "loop lag p99",
        "GC max",
        "RSS/call",
        "peer queue max", "callers: procs, CPU, lag p99", "failed", "wrap-ups", "stuck", "ok",
    ]  # fmt: skip
    body = []
    best = 0
    for step in steps:
        ok = capacity_ok(step)
        if ok:
            best = max(best, step.calls)
        w = step.window
        body.append(
            [
                str(step.calls),
                str(w.active_min),
                fmt(pct(w.lateness_ms, 50), 2, " ms"),
                fmt(pct(w.lateness_ms, 99), 1, " ms"),
                fmt(max(w.per_call_p99_ms, default=None), 1, " ms"),
                str(len(step.window_overhead_ms)),
                fmt(pct(step.window_overhead_ms, 50), 1, " ms"),
                fmt(pct(step.window_overhead_ms, 95), 1, " ms"),
                f"{w.cpu_share * 100:.0f}%",
                fmt(cpu_per_call_ms(step), 1, " ms/s"),
                f"{w.runqueue_wait_share * 100:.0f}%",
                fmt(pct(w.loop_lag_ms, 99), 1, " ms"),
                f"{fmt(max(w.gc_pauses_ms, default=None), 0)} ms "
                f"({fmt(max(w.gc_pauses_cpu_ms, default=None), 0)} CPU)",
                fmt(step.rss_per_call_mb, 2, " MB"),
                fmt(max(step.peer_max_buffered_ms, default=None), 0, " ms"),
                f"{step.caller_procs}, {step.caller_cpu_share * 100:.0f}%, "
                f"{fmt(step.caller_lag_p99_ms)} ms",
                str(len(step.timeouts) + len(step.errors)),
                f"{step.wrapups_persisted}/{len(step.call_sids)}",
                str(sum(1 for x in step.leftovers if x.startswith("session "))),
                "yes" if ok else "NO",
            ]
        )
    print(format_grid(header, body), flush=True)
    window = max((s.window.seconds for s in steps), default=0.0)
    goal, overhead = JITTER_GOAL_P99_MS, OVERHEAD_GOAL_N_MS
    print(
        f"  all figures over a steady window of up to {window:.0f} s with the step's calls up "
        f"(up = the fewest sessions open in it); jitter = chunk send time - due time; turns = "
        f"caller turns that ended in the window; CPU/call = server CPU per second of call; "
        f"waiting = share of the window the server "
        f"thread was runnable while another process held CPU {SERVER_CPU}; GC max = longest "
        f"cyclic-GC pause in the server; stuck = sessions still open 20 s after their callers "
        f"hung up; ok = jitter p99 < {goal:.0f} ms, overhead "
        f"p95 < {overhead:.0f} ms, every call up, none failed or stuck",
        flush=True,
    )
    for step in steps:
        for failure in (step.timeouts + step.errors)[:3]:
            print(f"  @{step.calls} failed: {failure}")
        more = len(step.timeouts) + len(step.errors) - 3
        if more > 0:
            print(f"  @{step.calls} ... and {more} more failed calls")
    return best


# --- main -------------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from api import create_app
    from bench.common import bench_stack, machine_description
    from bench.instant import Script, instant_engines
    from core.settings import Settings
    from realtime.turns import TurnSettings
    from stack.devserver import free_port

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    errors: list[str] = []
    async with bench_stack() as stack, _tempdir() as data_dir:
        if args.pin and stack.server.process is not None:
            pin_process_tree(stack.server.process.pid, CALLER_CPU)
        print("== voice loop benchmark ==")
        for line in machine_description(stack.temporal_binary):
            print(line)
        print(
            f"server: this process (pid {os.getpid()}), {args.loop} loop, uvicorn "
            f"{uvicorn.__version__} ws=websockets-sansio, pinned to CPU "
            f"{SERVER_CPU if args.pin else 'none'}; callers, worker and Temporal on CPU "
            f"{CALLER_CPU if args.pin else 'any'}; database: {stack.db_kind}; providers: instant "
            f"(TTS chunk: {args.tts_chunk_ms or 'whole piece'}{' ms' if args.tts_chunk_ms else ''})"
            f"; peer WebSocket compression: {args.ws_compression}",
            flush=True,
        )
        prefix = f"vbench{uuid.uuid4().hex[:6]}-"
        db_url = stack.db.url.render_as_string(hide_password=False)
        stop_worker = mp.get_context("spawn").Event()
        worker = mp.get_context("spawn").Process(
            target=_entry("worker_process"),
            args=(db_url, stack.server.address, prefix, stop_worker,
                  CALLER_CPU if args.pin else None),
            daemon=True,
        )  # fmt: skip
        with affinity(CALLER_CPU if args.pin else None):
            worker.start()

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=db_url, temporal_address=stack.server.address, task_queue_prefix=prefix,
            data_dir=Path(data_dir),
            public_base_url=base_url, twilio_auth_token=AUTH_TOKEN,
        )  # fmt: skip
        script = Script()
        turn_settings = TurnSettings()
        engines = instant_engines(script, tts_chunk_bytes=args.tts_chunk_ms * 8)
        app = create_app(settings, engines, turn_settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_config=None, ws="websockets-sansio",
                lifespan="on", log_level="warning",
            )
        )  # fmt: skip
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                raise RuntimeError("uvicorn failed to start")
            await asyncio.sleep(0.01)
        bench = Bench(args, base_url, app.state.services.voice, script, stack.db)
        lag_monitor = asyncio.create_task(bench.monitor_loop())
        phases: list[PhaseResult] = []
        barge: PhaseResult | None = None
        steps: list[PhaseResult] = []
        started = time.monotonic()
        tracked, full_gc_ms = 0, 0.0
        try:
            warm = await bench.run_phase("warm-up", "turns", 2, 2, 1.0)
            errors += [f"warm-up: {e}" for e in warm.fatal + warm.errors + warm.timeouts]
            gc.collect()
            tracked = len(gc.get_objects())
            t0 = time.perf_counter()
            gc.collect()
            full_gc_ms = (time.perf_counter() - t0) * 1000
            if args.gc_freeze:  # an experiment: what freezing the startup heap would buy
                gc.freeze()
            await asyncio.sleep(1.0)
            bench.rss_0 = rss_bytes()
            print(
                f"warm-up: 2 calls, {len(warm.overhead_ms)} turns (excluded); "
                f"baseline RSS {bench.rss_0 / 2**20:.0f} MB; {tracked} GC-tracked objects, "
                f"a full collection takes {full_gc_ms:.0f} ms"
                + ("; gc.freeze() applied (--gc-freeze)" if args.gc_freeze else ""),
                flush=True,
            )

            if not args.skip_turns:
                for n in args.calls:
                    phase = await bench.run_phase(f"turns@{n}", "turns", n, args.turns, 6.0)
                    phases.append(phase)
                    failures = phase.fatal + phase.errors + phase.timeouts
                    errors += [f"turns@{n}: {e}" for e in failures]
                    print(
                        f"turns @{n}: {phase.elapsed_s:.0f} s, overhead p95 "
                        f"{fmt(pct(phase.overhead_ms, 95))} ms",
                        flush=True,
                    )

            if not args.skip_barge_in:
                barge = await bench.run_phase(
                    "barge-in", "barge_in", args.barge_in_calls, args.barge_ins_per_call, 4.0
                )
                errors += [f"barge-in: {e}" for e in barge.fatal + barge.errors + barge.timeouts]
                print(
                    f"barge-in: {barge.elapsed_s:.0f} s, {len(barge.barge_in_ms)} barge-ins",
                    flush=True,
                )

            n, failing = args.capacity_step, 0
            while n <= args.capacity_max:
                step = await bench.run_phase(
                    f"capacity@{n}", "capacity", n, args.capacity_turns, args.window_s
                )
                steps.append(step)
                errors += [f"capacity@{n}: {e}" for e in step.fatal]  # overload is a result
                print(
                    f"capacity @{n}: {step.elapsed_s:.0f} s, jitter p99 "
                    f"{fmt(pct(step.window.lateness_ms, 99), 2)} ms, overhead p95 "
                    f"{fmt(pct(step.window_overhead_ms, 95))} ms, server CPU "
                    f"{step.window.cpu_share * 100:.0f}%, {step.window.active_min} up, failed "
                    f"calls {len(step.timeouts) + len(step.errors)}",
                    flush=True,
                )
                failing = 0 if capacity_ok(step) else failing + 1
                if failing >= 2 and not args.full_ramp:
                    break  # two failing steps in a row: the rest would only be worse
                n += args.capacity_step
        finally:
            lag_monitor.cancel()
            gc.callbacks.remove(bench._on_gc)
            for line in group_leftovers(await bench.wait_until_idle()):
                print(f"  at shutdown: {line}", flush=True)
            await bench.release_stuck()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serving, 30)
            stop_worker.set()
            await asyncio.to_thread(worker.join, 30)
            if worker.is_alive():
                worker.terminate()
                await asyncio.to_thread(worker.join, 10)
    total_s = time.monotonic() - started

    print()
    if phases:
        print("-- 1. turn overhead (server side, per turn) --")
        print_turn_section(phases)
        print()
    if barge is not None:
        print("-- 2. barge-in (server side unless noted) --")
        print_barge_in_section(
            barge, args.barge_ins_per_call, turn_settings.speech_start_ms, turn_settings.frame_ms
        )
        print()
    best = 0
    if steps:
        print("-- 3. capacity on one core (long answers: the agent speaks ~all the time) --")
        best = print_capacity_section(steps)
        print()

    unsaturated = [c for st in steps if st.window.cpu_share < 0.9 and (c := cpu_per_call_ms(st))]
    cpu_call = pct(unsaturated, 50)
    memory = [p.rss_per_call_mb for p in [*phases, *steps] if p.rss_per_call_mb is not None]
    biggest = max([*phases, *steps], key=lambda p: p.calls, default=None)
    mem_at_max = biggest.rss_per_call_mb if biggest else None
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "args": vars(args),
                "goals": {
                    "overhead_p95_ms_at_1": OVERHEAD_GOAL_1_MS,
                    "overhead_p95_ms_at_100": OVERHEAD_GOAL_N_MS,
                    "barge_in_ms": BARGE_IN_GOAL_MS,
                    "jitter_p99_ms": JITTER_GOAL_P99_MS,
                    "capacity_calls": CAPACITY_GOAL,
                    "memory_mb_per_call": MEMORY_GOAL_MB,
                },
                "turn_settings": asdict(turn_settings) | {"backchannels": None},
                "baseline_rss_bytes": bench.rss_0,
                "baseline_gc": {"tracked_objects": tracked, "full_collection_ms": full_gc_ms},
                "turns": [phase_json(p) for p in phases],
                "barge_in": phase_json(barge) if barge else None,
                "capacity": [phase_json(s) for s in steps],
                "capacity_calls": best,
                "server_cpu_ms_per_call_second": cpu_call,
                "errors": errors,
                "elapsed_s": total_s,
            },
            indent=1,
            default=str,
        )
    )

    def p95_of(phase: PhaseResult | None) -> str:
        return fmt(pct(phase.overhead_ms, 95)) if phase else "-"

    at = {p.calls: p for p in phases}
    print(
        "SUMMARY [instant providers, "
        f"{args.loop}, server on 1 core]: overhead p95 "
        + ", ".join(
            f"{p95_of(at[n])} ms @{n} (goal {overhead_goal(n):.0f})" for n in args.calls if n in at
        )
        + f"; barge-in onset->clear p95 {fmt(pct(barge.barge_in_ms, 95) if barge else None)} ms "
        f"(goal {BARGE_IN_GOAL_MS:.0f}, VAD floor {turn_settings.speech_start_ms} ms of audio); "
        f"capacity {best} calls at jitter p99 < {JITTER_GOAL_P99_MS:.0f} ms "
        f"(goal >= {CAPACITY_GOAL}"
        + (", ramp stopped after two failing steps" if steps and not capacity_ok(steps[-1])
           else "")
        + f"; server CPU {fmt(cpu_call, 1)} ms per call-second, i.e. a core is full at "
        f"~{fmt(1000 / cpu_call if cpu_call else None, 0)} calls"
        + f"); memory {fmt(mem_at_max, 2)} MB/call at {biggest.calls if biggest else 0} calls "
        f"(range {fmt(min(memory) if memory else None, 2)}-"
        f"{fmt(max(memory) if memory else None, 2)}, goal <= {MEMORY_GOAL_MB:.0f}); "
        f"errors {len(errors)}; {total_s:.0f} s; raw: {OUT.relative_to(Path.cwd())}",
        flush=True,
    )  # fmt: skip
    for error in errors[:20]:
        print(f"error: {error}")
    if len(errors) > 20:
        print(f"... and {len(errors) - 20} more errors")
    return 1 if errors else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_loop", description=__doc__)
    parser.add_argument(
        "--calls",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 100],
        help="concurrent calls for the turn-overhead phases (1,100)",
    )
    parser.add_argument("--turns", type=int, default=5, help="caller turns per call (5)")
    parser.add_argument("--capacity-max", type=int, default=300, help="largest ramp step (300)")
    parser.add_argument("--capacity-step", type=int, default=50, help="ramp step (50)")
    parser.add_argument("--capacity-turns", type=int, default=2, help="long answers/call (2)")
    parser.add_argument("--window-s", type=float, default=8.0, help="steady window (8 s)")
    parser.add_argument("--settle-s", type=float, default=2.0, help="before the window (2 s)")
    parser.add_argument("--barge-in-calls", type=int, default=10, help="concurrent calls (10)")
    parser.add_argument("--barge-ins-per-call", type=int, default=3, help="per call (3)")
    parser.add_argument(
        "--peers-per-proc", type=int, default=100, help="simulated calls per caller process (100)"
    )
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument(
        "--ws-compression",
        choices=["deflate", "none"],
        default="deflate",
        help="whether the simulated Twilio offers permessage-deflate (deflate, as TwilioPeer)",
    )
    parser.add_argument(
        "--tts-chunk-ms",
        type=int,
        default=0,
        help="instant TTS chunk size; 0 (default) = each piece's audio whole, 40 = streaming",
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no CPU pinning")
    parser.add_argument(
        "--full-ramp", action="store_true", help="keep ramping after a failing step"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="experiment: gc.freeze() the server process after the warm-up (not what the API does)",
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the server thread during each window, to PATH.<calls> (slows it down)",
    )
    parser.add_argument("--skip-turns", action="store_true")
    parser.add_argument("--skip-barge-in", action="store_true")
    parser.add_argument("--wrapup-timeout-s", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.pin:
        cpus = os.sched_getaffinity(0)
        if not {SERVER_CPU, CALLER_CPU} <= cpus:
            print(f"note: CPUs {sorted(cpus)} available; running without pinning", flush=True)
            args.pin = False
        else:
            pin(SERVER_CPU)  # before any thread exists: every thread of the server inherits it
    with asyncio.Runner(loop_factory=new_loop_factory(args.loop)) as runner:
        return runner.run(benchmark(args))


if __name__ == "__main__":
    sys.exit(main())
