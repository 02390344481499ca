"""The simulated callers of the voice benchmarks: spawned processes (pinned to the callers'
CPU) each placing many calls with ``phonesim.TwilioPeer`` and reporting what they saw.

A call dials the signed webhook, opens the media WebSocket, waits for the greeting, then takes
the plan's turns: a reply turn (speak, wait for the answer to finish), a barge-in (speak over a
long answer, wait for ``clear``), or, for the offline engines, a line flite spoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.instant import tone
from bench.voice.host import cpu_seconds, new_loop_factory, pin, runqueue_wait_s
from phonesim.twilio_peer import TwilioPeer

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
CLINIC_NUMBER = "+12075550100"  # the seeded demo clinic
CALLER_NUMBER = "+12075550111"


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
    compression: str | None = None  # permessage-deflate offered by the peer (Twilio does)
    utterance: str | None = None  # a line flite speaks for the offline engines; else a tone
    status_callback: bool = False  # post Twilio's "completed" status after hanging up


class CallTimeout(RuntimeError):
    pass


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


async def reply_turn(peer: TwilioPeer, utterance: bytes) -> None:
    before = peer.receptionist_audio_ms
    peer.speak(utterance)
    await until(lambda: peer.receptionist_audio_ms > before + 100, 20, "a reply")
    await quiet(peer)


async def barge_in(peer: TwilioPeer, rng: random.Random, out: list[float]) -> None:
    before = peer.receptionist_audio_ms
    peer.speak(TONE_600)  # "tell me everything": a long answer
    into = rng.uniform(800, 1800)  # ms into the answer, so onsets fall anywhere in a chunk
    await until(lambda: peer.receptionist_audio_ms > before + into, 20, "the long answer")
    clears = peer.stats.clears
    peer.speak(TONE_900)  # "wait can i book thursday"
    await until(lambda: peer.stats.clears > clears, 5, "a clear")
    out.append((peer.stats.clear_times[-1] - peer.stats.first_frames_sent[-1]) * 1000)
    await until(lambda: not peer.speaking, 5, "the caller to finish")
    after = peer.receptionist_audio_ms
    await until(lambda: peer.receptionist_audio_ms > after + 100, 20, "the answer to it")
    await quiet(peer)


async def one_call(
    plan: CallerPlan, index: int, rng: random.Random, http: httpx.AsyncClient, utterance: bytes
) -> dict[str, Any]:
    """One call as the plan says; on cancellation (the benchmark's "hang up now") it hangs up
    and returns what it has."""
    peer = TwilioPeer(
        plan.base_url, AUTH_TOKEN, to_number=CLINIC_NUMBER, from_number=CALLER_NUMBER,
        http=http, compression=plan.compression,
    )  # fmt: skip
    started = time.monotonic()
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
                await reply_turn(peer, utterance)
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
        if plan.status_callback and runner is not None:
            with contextlib.suppress(Exception):
                seconds = int(time.monotonic() - started)
                result["status_code"] = await asyncio.wait_for(
                    peer.status("completed", seconds), 10
                )
    result["barge_in_peer_ms"] = barge_ins
    result["max_buffered_ms"] = peer.stats.max_buffered_ms
    result["sent_media"] = peer.stats.media_sent
    result["received_media"] = peer.stats.media_received
    return result


async def spoken(text: str) -> bytes:
    """``text`` as flite says it, in 8 kHz μ-law (the offline STT's best-recognised voice)."""
    from realtime.tts.flite_tts import FliteTTS

    return b"".join([chunk async for chunk in FliteTTS().synthesize(text, "kal")])


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
    http = httpx.AsyncClient(timeout=30, limits=limits)
    utterance = await spoken(plan.utterance) if plan.utterance else TONE_600
    calls = [
        asyncio.create_task(one_call(plan, i, random.Random(rng.random()), http, utterance))
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
        await http.aclose()
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
