"""Load test of the API edge: many concurrent calls through the signed webhook and the media
WebSocket against one API process, and proof that nothing is lost.

    uv run python -m bench.edge_load [--calls 200] [--turns 2] [--quick]

Every simulated call does what Twilio does: ``POST /twilio/voice`` (signed), opens the
``<Stream>`` WebSocket it was given (signed upgrade, one-time token), streams 20 ms frames in
real time through the greeting and ``--turns`` short exchanges, hangs up (``stop``), then posts
the ``completed`` status callback. Loopback only, and bounded (``--calls`` at most 1000).

Reported: calls placed and held at once, caller frames dropped (sent by the peer but never
handed to the call's session), errors (failed or timed-out calls, refused callbacks), and the
check that nothing was lost: every call has its call record with the wrap-up's end time, and a
completed ``call-{CallSid}`` wrap-up workflow. Exits non-zero if anything was lost or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from bench.common import Row, print_table
from bench.report import new_figure, save_chart, write_results
from bench.voice.harness import (
    PhaseResult,
    add_server_args,
    fmt,
    pct,
    phase_failures,
    phase_line,
    run_benchmark,
    serve,
)

MAX_CALLS = 1000


async def wrap_ups_completed(client: Any, call_sids: Sequence[str]) -> list[str]:
    """The calls whose ``call-{sid}`` wrap-up workflow is missing or did not complete."""
    missing: list[str] = []
    semaphore = asyncio.Semaphore(20)

    async def check(call_sid: str) -> None:
        async with semaphore:
            try:
                described = await client.get_workflow_handle(f"call-{call_sid}").describe()
                if described.status != WorkflowExecutionStatus.COMPLETED:
                    missing.append(f"{call_sid}: wrap-up {described.status}")
            except Exception as exc:
                missing.append(f"{call_sid}: no wrap-up workflow ({type(exc).__name__})")

    await asyncio.gather(*(check(sid) for sid in call_sids))
    return missing


def dropped_frames(phase: PhaseResult) -> tuple[int, int, list[str]]:
    """(frames sent, frames dropped, the calls that dropped some)."""
    sent = sum(phase.frames_sent.values())
    dropped, calls = 0, []
    for call_sid, count in phase.frames_sent.items():
        lost = count - phase.frames_received.get(call_sid, 0)
        if lost > 0:
            dropped += lost
            calls.append(f"{call_sid}: {lost} of {count} frames never reached the session")
    return sent, dropped, calls


def chart(phase: PhaseResult) -> None:
    figure, axes = new_figure(f"Edge load: {phase.calls} calls on one API process")
    axes.hist(phase.window.lateness_ms, bins=40, label="outbound pacing jitter")
    axes.set_xlabel("ms late")
    axes.set_ylabel("chunks")
    axes.legend(fontsize=8)
    save_chart(figure, "edge_load")


async def benchmark(args: argparse.Namespace) -> int:
    async with serve(args, f"edge load: {args.calls} calls, one API process") as served:
        errors = list(served.errors)
        phase = await served.bench.run_phase("edge", "edge", args.calls, args.turns, 4.0)
        errors += [f"edge: {e}" for e in phase_failures(phase)]
        lost = await wrap_ups_completed(served.temporal, phase.call_sids)
    sent, dropped, dropping = dropped_frames(phase)
    records = phase.wrapups_persisted or 0
    placed = len(phase.call_sids)
    rows = [
        Row.of("outbound pacing jitter (window)", phase.window.lateness_ms),
        Row.of("turn overhead", phase.overhead_ms),
    ]
    print()
    print_table(rows)
    headline = [
        f"{placed} calls placed, {phase.sessions_peak} held at once on one API process",
        f"caller frames: {sent} sent, {dropped} dropped",
        f"errors: {len(phase_failures(phase))}",
        f"call records with the wrap-up's end time: {records}/{placed}; completed wrap-up "
        f"workflows: {placed - len(lost)}/{placed}",
    ]
    for line in headline:
        print(line)
    print("  " + phase_line(phase))
    for problem in [*dropping, *lost][:20]:
        print(f"lost: {problem}")
    write_results(
        "edge_load", rows, headline=headline, notes=[phase_line(phase), *served.description],
        extra={"errors": errors, "lost": lost, "dropped": dropping,
               "jitter_p99_ms": pct(phase.window.lateness_ms, 99)},
    )  # fmt: skip
    chart(phase)
    for error in errors[:20]:
        print(f"error: {error}")
    print(f"jitter p99 {fmt(pct(phase.window.lateness_ms, 99))} ms")
    nothing_lost = not lost and not dropping and records == placed == args.calls
    return 0 if nothing_lost and not errors else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_load", description=__doc__)
    parser.add_argument("--calls", type=int, default=None, help="concurrent calls (200; quick 30)")
    parser.add_argument("--turns", type=int, default=2, help="exchanges per call (2)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    add_server_args(parser)
    args = parser.parse_args(argv)
    args.calls = args.calls or (30 if args.quick else 200)
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls must be within 1..{MAX_CALLS} (loopback, bounded)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(benchmark, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
