"""The server side of the voice benchmarks: the real API (uvicorn, the Twilio edge,
``CallSession``) served in this process pinned to one CPU, a Temporal worker for the wrap-ups,
and phases of simulated calls (``bench.voice.callers``) measured from inside the server.

``VoiceBench`` starts it all on a private stack (``bench.common.bench_stack``) and warms it
up; ``Bench.run_phase`` runs N concurrent calls of one kind and returns what the sessions
recorded: per-turn stage timings, pacing jitter, barge-in onset → ``clear``, CPU and memory
over a steady window, and whether every call's wrap-up persisted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing as mp
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.common import percentile
from bench.instant import LONG_ANSWER, SHORT_ANSWER, Script, instant_engines, is_loud
from bench.voice.callers import AUTH_TOKEN, CallerPlan, caller_process
from bench.voice.host import (
    CALLER_CPU,
    affinity,
    children_cpu_seconds,
    cpu_seconds,
    new_loop_factory,
    pin,
    pin_process_tree,
    reaped_children_cpu_seconds,
    rss_bytes,
    runqueue_wait_s,
    tempdir,
)
from phonesim.local_api import serve_api

ASK = "what time do you close today"
TELL_ME = "tell me everything"
INTERRUPT = "wait can i book thursday"
OFFLINE_LINE = "what are your hours"  # the RuleAgent answers with the whole week's hours


def pct(values: Sequence[float], q: float) -> float | None:
    return percentile(values, q) if values else None


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
        self._peak = 0

    @property
    def current(self) -> int:
        """Open sessions of the running phase."""
        return sum(1 for key in self if key not in self.stale)

    def __setitem__(self, key: str, session: Any) -> None:
        self.seen.append(session)
        if self.on_new is not None:
            self.on_new(session)
        super().__setitem__(key, session)
        self._peak = max(self._peak, self.current)

    def take_peak(self) -> int:
        peak, self._peak = self._peak, 0
        return peak

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
    turn_reports: list[dict[str, float]] = field(default_factory=list)  # TurnTiming.as_report
    frames_sent: dict[str, int] = field(default_factory=dict)  # per call, by the peer
    frames_received: dict[str, int] = field(default_factory=dict)  # per call, by the session
    sessions_peak: int = 0  # most sessions open at once
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


class FrameCounter:
    """Counts the caller's media frames a session receives (the edge load test compares them
    with what each peer sent: a difference is a dropped frame)."""

    def __init__(self, session: Any, into: dict[str, int]) -> None:
        from realtime.twilio_protocol import Media

        call_sid = session.info.call_sid
        into[call_sid] = 0
        handle = session.handle

        async def counted(event: Any) -> None:
            if type(event) is Media:
                into[call_sid] += 1
            await handle(event)

        session.handle = counted


class Bench:
    """Runs phases of simulated calls against the served API and measures them."""

    def __init__(
        self, args: argparse.Namespace, base_url: str, voice: Any, script: Script | None, db: Any
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
        # The engines' own processes (the offline STT's decoders) count as the server's CPU.
        self.child_pids: Callable[[], list[int]] = list

    def server_cpu_s(self) -> float:
        return (
            cpu_seconds() + reaped_children_cpu_seconds() + children_cpu_seconds(self.child_pids())
        )

    def configure(self, mode: str) -> None:
        if self.script is None:  # real engines: the callers' lines decide
            return
        if mode in ("turns", "edge"):
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
        frames_in: dict[str, int] = {}
        if mode == "edge":
            self.recorder.on_new = lambda s: FrameCounter(s, frames_in)
        per_proc = max(1, self.args.peers_per_proc)
        procs = math.ceil(calls / per_proc)
        result = PhaseResult(name, mode, calls, procs)
        stagger = min(6.0, max(0.5, calls / 50))
        if mode in ("capacity", "offline"):  # calls keep taking turns until it is measured
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
                "deflate" if self.args.peer_deflate else None,
                OFFLINE_LINE if self.script is None else None, mode == "edge",
            )  # fmt: skip
            self.seed += 1000
            parent, child = self.ctx.Pipe(duplex=False)
            process = self.ctx.Process(
                target=caller_process, args=(asdict(plan), child, hang_up), daemon=True
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
        if mode in ("capacity", "offline"):
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
                if call["call_sid"] and "sent_media" in call:
                    result.frames_sent[call["call_sid"]] = call["sent_media"]
                if call.get("status_code") not in (None, 204):
                    code = call["status_code"]
                    result.errors.append(f"{call['call_sid']}: status callback {code}")
        result.caller_lag_p99_ms = pct(lag, 99)
        result.caller_lag_max_ms = max(lag) if lag else None

        sessions = self.recorder.take()
        for session in sessions:
            for timing in session.timings:
                report = timing.as_report()
                result.turns_reported += 1
                result.turn_reports.append(report)
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
        result.frames_received = frames_in
        result.sessions_peak = self.recorder.take_peak()
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
        cpu0, wait0, wall0 = self.server_cpu_s(), runqueue_wait_s(), time.monotonic()
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
            window.cpu_share = (self.server_cpu_s() - cpu0) / window.seconds
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


# --- serving the API for a benchmark ------------------------------------------------------------


@dataclass
class Served:
    """A running voice benchmark: the ``Bench`` to run phases with, and what describes it."""

    bench: Bench
    description: list[str]
    turn_settings: Any
    warm_up: PhaseResult
    gc_tracked: int
    gc_full_ms: float
    temporal: Any  # the stack's Temporal client
    errors: list[str] = field(default_factory=list)


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """The options every voice benchmark shares (how the server and callers run)."""
    parser.add_argument("--engines", choices=["instant", "offline"], default="instant")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default=None,
        help="server and caller loop (uvloop; asyncio for the offline engines)",
    )
    parser.add_argument(
        "--peers-per-proc", type=int, default=100, help="simulated calls per caller process (100)"
    )
    parser.add_argument(
        "--peer-deflate", action="store_true", help="callers offer permessage-deflate (Twilio does)"
    )
    parser.add_argument(
        "--ws-deflate",
        action="store_true",
        help="the server accepts permessage-deflate (off in production: cli.py)",
    )
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="undo the API's gc.freeze() after startup (the 'before' figures)",
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no CPU pinning")
    parser.add_argument("--settle-s", type=float, default=2.0, help="before a window (2 s)")
    parser.add_argument("--wrapup-timeout-s", type=float, default=120.0)
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the server during each window, to PATH.<calls>"
    )
    parser.add_argument(
        "--chunk-ms",
        type=int,
        default=None,
        help="audio per media frame (and mark) sent; TurnSettings' default",
    )
    parser.add_argument("--seed", type=int, default=7)  # fmt: skip


def resolve_server_args(args: argparse.Namespace) -> None:
    """Defaults that depend on other options; pins this process before any thread starts."""
    import os

    if args.loop is None:
        # uvloop's subprocess pipes do not suit flite (see cli.py): the offline engines need
        # the standard loop.
        args.loop = "asyncio" if args.engines == "offline" else "uvloop"
    if args.pin:
        cpus = os.sched_getaffinity(0)
        if not {0, CALLER_CPU} <= cpus:
            print(f"note: CPUs {sorted(cpus)} available; running without pinning", flush=True)
            args.pin = False
        else:
            pin(0)  # every thread of the server inherits it


def _engines(kind: str, script: Script) -> Any:
    if kind == "instant":
        return instant_engines(script)
    from realtime.engines import offline_engines

    return offline_engines()


@contextlib.asynccontextmanager
async def serve(args: argparse.Namespace, title: str) -> AsyncIterator[Served]:
    """The private stack, a wrap-up worker, the API on uvicorn, warmed up with two calls."""
    import logging

    import uvicorn

    from bench.common import bench_stack, machine_description
    from core.settings import Settings
    from realtime.turns import TurnSettings
    from stack.devserver import free_port

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    caller_cpu = CALLER_CPU if args.pin else None
    async with bench_stack() as stack, tempdir() as data_dir:
        if args.pin and stack.server.process is not None:
            pin_process_tree(stack.server.process.pid, CALLER_CPU)
        description = [
            *machine_description(stack.temporal_binary),
            f"server: this process, {args.loop} loop, uvicorn {uvicorn.__version__} "
            f"ws=websockets-sansio (permessage-deflate {'on' if args.ws_deflate else 'off'}), "
            f"gc.freeze after startup {'on' if args.gc_freeze else 'off'}, pinned to CPU "
            f"{0 if args.pin else 'none'}; callers, worker and Temporal on CPU "
            f"{CALLER_CPU if args.pin else 'any'}; database: {stack.db_kind}; engines: "
            f"{args.engines}; audio chunk (and mark) every "
            f"{args.chunk_ms or TurnSettings().chunk_ms} ms",
        ]
        print(f"== {title} ==", *description, sep="\n", flush=True)
        prefix = f"vbench{uuid.uuid4().hex[:6]}-"
        db_url = stack.db.url.render_as_string(hide_password=False)
        ctx = mp.get_context("spawn")
        stop_worker = ctx.Event()
        worker = ctx.Process(
            target=worker_process,
            args=(db_url, stack.server.address, prefix, stop_worker, caller_cpu),
            daemon=True,
        )
        with affinity(caller_cpu):
            worker.start()
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=db_url, temporal_address=stack.server.address, task_queue_prefix=prefix,
            data_dir=Path(data_dir), public_base_url=base_url, twilio_auth_token=AUTH_TOKEN,
        )  # fmt: skip
        script = Script()
        turn_settings = TurnSettings()
        if args.chunk_ms:
            turn_settings = replace(turn_settings, chunk_ms=args.chunk_ms)
        engines = _engines(args.engines, script)
        try:
            async with serve_api(
                settings, port, engines, turn_settings, ws_per_message_deflate=args.ws_deflate
            ) as api:
                if not args.gc_freeze:
                    gc.unfreeze()
                bench = Bench(
                    args, base_url, api.app.state.services.voice,
                    script if args.engines == "instant" else None, stack.db,
                )  # fmt: skip
                async with _measuring(bench, engines) as (warm, tracked, full_gc_ms):
                    served = Served(
                        bench, description, turn_settings, warm, tracked, full_gc_ms, stack.client
                    )
                    served.errors += [f"warm-up: {e}" for e in phase_failures(warm)]
                    yield served
        finally:
            stop_worker.set()
            await asyncio.to_thread(worker.join, 30)
            if worker.is_alive():
                worker.terminate()
                await asyncio.to_thread(worker.join, 10)
            aclose = getattr(engines.stt, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


@contextlib.asynccontextmanager
async def _measuring(bench: Bench, engines: Any) -> AsyncIterator[tuple[PhaseResult, int, float]]:
    """Monitors on, a warm-up phase, the baseline heap; on exit, every session released."""
    worker_pids = getattr(engines.stt, "worker_pids", None)
    if worker_pids is not None:
        bench.child_pids = worker_pids
    lag_monitor = asyncio.create_task(bench.monitor_loop())
    try:
        warm = await bench.run_phase("warm-up", "turns", 2, 2, 1.0)
        gc.collect()
        tracked = len(gc.get_objects())
        t0 = time.perf_counter()
        gc.collect()
        full_gc_ms = (time.perf_counter() - t0) * 1000
        await asyncio.sleep(1.0)
        bench.rss_0 = rss_bytes()
        print(
            f"warm-up: 2 calls, {len(warm.overhead_ms)} turns (excluded); baseline RSS "
            f"{bench.rss_0 / 2**20:.0f} MB; {tracked} GC-tracked objects (not frozen), a "
            f"full collection takes {full_gc_ms:.0f} ms",
            flush=True,
        )
        yield warm, tracked, full_gc_ms
    finally:
        lag_monitor.cancel()
        gc.callbacks.remove(bench._on_gc)
        for line in group_leftovers(await bench.wait_until_idle()):
            print(f"  at shutdown: {line}", flush=True)
        await bench.release_stuck()


# --- describing a phase ----------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}{unit}"


def cpu_per_call_ms(phase: PhaseResult) -> float | None:
    """Server CPU per call per second of call, in ms (load-independent, unlike jitter)."""
    if not phase.window.seconds or not phase.window.active_min:
        return None
    return phase.window.cpu_share * 1000 / phase.window.active_min


def phase_line(phase: PhaseResult) -> str:
    """The conditions a phase ran under, for the reader to judge its figures."""
    w = phase.window
    return (
        f"@{phase.calls}: turns {len(phase.overhead_ms)}/{phase.turns_reported} measured; "
        f"wrap-ups {phase.wrapups_persisted}/{len(phase.call_sids)}; server CPU "
        f"{w.cpu_share * 100:.0f}% of a core (runnable but waiting "
        f"{w.runqueue_wait_share * 100:.0f}%) over {w.seconds:.1f} s; loop lag p99 "
        f"{fmt(pct(w.loop_lag_ms, 99))} ms; GC max "
        f"{fmt(max(w.gc_pauses_ms, default=None))} ms; RSS/call "
        f"{fmt(phase.rss_per_call_mb, 2, ' MB')}; callers: {phase.caller_procs} proc(s), "
        f"{phase.caller_cpu_share * 100:.0f}% CPU, loop lag p99 {fmt(phase.caller_lag_p99_ms)} ms;"
        f" timeouts {len(phase.timeouts)}, errors {len(phase.errors)}"
    )


def phase_failures(phase: PhaseResult) -> list[str]:
    return [*phase.fatal, *phase.errors, *phase.timeouts]


def run_benchmark(
    benchmark: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
) -> int:
    """A voice benchmark's ``main``: logging, pinning, the chosen event loop."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    resolve_server_args(args)
    with asyncio.Runner(loop_factory=new_loop_factory(args.loop)) as runner:
        return runner.run(benchmark(args))
