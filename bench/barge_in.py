"""Barge-in: caller speech onset → ``clear`` sent, with instant providers.

    uv run python -m bench.barge_in [--calls 10] [--per-call 3] [--quick]

Callers speak over a long answer at a random point of it; measured in the server from the
first voiced frame of the caller's speech reaching the session to the ``clear`` frame handed
to the WebSocket (goal ≤ 120 ms, DESIGN.md §7). The VAD needs ``speech_start_ms`` of voiced
audio before it may call it speech: that floor is shown apart from our own processing.
Exits non-zero only on errors, never on goals.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.common import Row, print_table
from bench.goals import BARGE_IN_MS
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


def rows_for(phase: PhaseResult) -> list[Row]:
    return [
        Row.of("onset -> clear sent (server: 1st voiced frame in)", phase.barge_in_ms, BARGE_IN_MS),
        Row.of("  of which VAD floor (1st -> onset frame in)", phase.barge_in_floor_ms),
        Row.of("  of which ours (onset frame in -> clear sent)", phase.barge_in_processing_ms),
        Row.of("onset -> clear received (peer, incl. loopback)", phase.barge_in_peer_ms),
    ]


def chart(phase: PhaseResult) -> None:
    figure, axes = new_figure("Barge-in: caller speech onset -> clear sent")
    axes.hist(phase.barge_in_ms, bins=30, label="onset -> clear (server)")
    axes.hist(phase.barge_in_processing_ms, bins=30, alpha=0.6, label="of which ours")
    axes.axvline(BARGE_IN_MS, color="red", linestyle="--", label="goal")
    axes.set_xlabel("ms")
    axes.set_ylabel("barge-ins")
    axes.legend(fontsize=8)
    save_chart(figure, "barge_in")


async def benchmark(args: argparse.Namespace) -> int:
    async with serve(args, "barge-in, instant providers") as served:
        errors = list(served.errors)
        phase = await served.bench.run_phase("barge-in", "barge_in", args.calls, args.per_call, 4)
        errors += [f"barge-in: {e}" for e in phase_failures(phase)]
        settings = served.turn_settings
    rows = rows_for(phase)
    print()
    print_table(rows)
    start_ms, frame_ms = settings.speech_start_ms, settings.frame_ms
    floor = (
        f"VAD floor: speech_start_ms={start_ms} ms of voiced audio = {start_ms // frame_ms} "
        f"frames; the simulated caller sends each 20 ms frame at its start, so the onset frame "
        f"arrives {start_ms - frame_ms} ms after the first (on a real line the floor is the full "
        f"{start_ms} ms)"
    )
    print(f"  {args.calls} concurrent calls x {args.per_call} barge-ins; {floor}")
    print("  " + phase_line(phase))
    p95 = pct(phase.barge_in_ms, 95)
    write_results(
        "barge_in", rows,
        headline=[f"barge-in onset -> clear p95 {fmt(p95)} ms (goal {BARGE_IN_MS:.0f} ms)"],
        notes=[floor, phase_line(phase), *served.description], extra={"errors": errors},
    )  # fmt: skip
    chart(phase)
    for error in errors[:20]:
        print(f"error: {error}")
    return 1 if errors else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.barge_in", description=__doc__)
    parser.add_argument("--calls", type=int, default=None, help="concurrent calls (10; quick 4)")
    parser.add_argument("--per-call", type=int, default=None, help="barge-ins per call (3)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    add_server_args(parser)
    args = parser.parse_args(argv)
    args.calls = args.calls or (4 if args.quick else 10)
    args.per_call = args.per_call or (2 if args.quick else 3)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(benchmark, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
