"""Capacity: how many concurrent calls one core holds, and CPU and memory per call.

    uv run python -m bench.capacity [--steps 50,100,...] [--engines instant|offline] [--quick]

Steps of N concurrent calls whose agent speaks nearly all the time (every answer long). Over a
steady window with all N up, from inside the server: outbound pacing jitter (chunk send time -
due time), the turn overhead of turns ending in the window, server CPU (with the engines' own
processes), RSS growth per call and cyclic-GC pauses. A step holds when jitter p99 < 20 ms,
overhead p95 < 40 ms and every call is up, none failed or stuck; capacity is the largest step
that holds (goal ≥ 200 calls with instant providers; ≤ 2 MB per call). The ramp stops after
two failing steps. ``--engines offline`` runs the same with pocketsphinx, flite and the
RuleAgent (callers say a line flite spoke), whose capacity DESIGN.md asks us to report.
Exits non-zero only on errors (a caller process failing), never on goals or overload.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.common import Row, format_grid, print_table
from bench.goals import CALLS_PER_CORE, JITTER_P99_MS, MEMORY_MB_PER_CALL, OVERHEAD_P95_MS_MANY
from bench.report import new_figure, save_chart, write_results
from bench.voice.harness import (
    PhaseResult,
    add_server_args,
    cpu_per_call_ms,
    fmt,
    pct,
    run_benchmark,
    serve,
)

DEFAULT_STEPS = {"instant": [50, 100, 150, 200, 250, 300], "offline": [2, 4, 8, 12, 16, 24]}
QUICK_STEPS = {"instant": [50, 100], "offline": [2, 4]}


def holds(phase: PhaseResult) -> bool:
    jitter = pct(phase.window.lateness_ms, 99)
    overhead = pct(phase.window_overhead_ms, 95)
    return (
        jitter is not None
        and jitter < JITTER_P99_MS
        and overhead is not None
        and overhead < OVERHEAD_P95_MS_MANY
        and not phase.errors
        and not phase.timeouts
        and not phase.fatal
        and not any(item.startswith("session ") for item in phase.leftovers)
        and phase.window.active_min >= phase.calls
    )


def step_table(steps: Sequence[PhaseResult]) -> str:
    header = [
        "calls", "up", "jitter p50", "jitter p99", "turns", "overhead p95", "server CPU",
        "CPU/call", "waiting", "GC max (wall, CPU)", "RSS/call", "peer queue max", "failed",
        "wrap-ups", "holds",
    ]  # fmt: skip
    body = []
    for step in steps:
        w = step.window
        body.append(
            [
                str(step.calls),
                str(w.active_min),
                fmt(pct(w.lateness_ms, 50), 2, " ms"),
                fmt(pct(w.lateness_ms, 99), 1, " ms"),
                str(len(step.window_overhead_ms)),
                fmt(pct(step.window_overhead_ms, 95), 1, " ms"),
                f"{w.cpu_share * 100:.0f}%",
                fmt(cpu_per_call_ms(step), 1, " ms/s"),
                f"{w.runqueue_wait_share * 100:.0f}%",
                f"{fmt(max(w.gc_pauses_ms, default=None), 0)} ms "
                f"({fmt(max(w.gc_pauses_cpu_ms, default=None), 0)} CPU)",
                fmt(step.rss_per_call_mb, 2, " MB"),
                fmt(max(step.peer_max_buffered_ms, default=None), 0, " ms"),
                str(len(step.timeouts) + len(step.errors)),
                f"{step.wrapups_persisted}/{len(step.call_sids)}",
                "yes" if holds(step) else "NO",
            ]
        )
    return format_grid(header, body)


def chart(steps: Sequence[PhaseResult], engines: str) -> None:
    figure, axes = new_figure(f"Capacity on one core, {engines} engines")
    calls = [s.calls for s in steps]
    axes.plot(calls, [pct(s.window.lateness_ms, 99) or 0 for s in steps], "o-", label="jitter p99")
    axes.plot(calls, [pct(s.window_overhead_ms, 95) or 0 for s in steps], "s-",
              label="turn overhead p95")  # fmt: skip
    axes.axhline(JITTER_P99_MS, color="red", linestyle="--", label="jitter goal")
    axes.axhline(OVERHEAD_P95_MS_MANY, color="orange", linestyle=":", label="overhead goal")
    axes.set_xlabel("concurrent calls")
    axes.set_ylabel("ms")
    cpu = axes.twinx()
    cpu.plot(calls, [s.window.cpu_share * 100 for s in steps], "g^--", label="server CPU %")
    cpu.set_ylabel("server CPU, % of one core")
    lines = axes.get_legend_handles_labels()
    more = cpu.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    save_chart(figure, f"capacity_{engines}")


async def benchmark(args: argparse.Namespace) -> int:
    steps: list[PhaseResult] = []
    async with serve(args, f"capacity on one core, {args.engines} engines") as served:
        errors = list(served.errors)
        failing = 0
        for n in args.steps:
            mode = "offline" if args.engines == "offline" else "capacity"
            step = await served.bench.run_phase(f"capacity@{n}", mode, n, 1000, args.window_s)
            steps.append(step)
            errors += [f"capacity@{n}: {e}" for e in step.fatal]  # overload is a result
            print(
                f"capacity @{n}: jitter p99 {fmt(pct(step.window.lateness_ms, 99))} ms, overhead "
                f"p95 {fmt(pct(step.window_overhead_ms, 95))} ms, server CPU "
                f"{step.window.cpu_share * 100:.0f}%, {step.window.active_min} up, failed "
                f"{len(step.timeouts) + len(step.errors)}",
                flush=True,
            )
            failing = 0 if holds(step) else failing + 1
            if failing >= 2:
                break  # two failing steps in a row: the rest would only be worse
        gc_info = (
            f"{served.gc_tracked} GC-tracked objects, full collection {served.gc_full_ms:.0f} ms"
        )
    print()
    print(step_table(steps))
    best = max((s.calls for s in steps if holds(s)), default=0)
    unsaturated = [c for s in steps if s.window.cpu_share < 0.9 and (c := cpu_per_call_ms(s))]
    cpu_call = pct(unsaturated, 50)
    memory = [s.rss_per_call_mb for s in steps if s.rss_per_call_mb is not None]
    biggest = max(steps, key=lambda s: s.calls, default=None)
    instant = args.engines == "instant"
    rows = [
        Row.of(f"jitter @{s.calls} calls", s.window.lateness_ms, JITTER_P99_MS, goal_stat="p99")
        for s in steps
    ]
    rows.append(
        Row(f"capacity ({args.engines}), calls held", 1, float(best),
            goal=float(CALLS_PER_CORE) if instant else None, unit="calls", goal_stat="median",
            at_least=True)
    )  # fmt: skip
    if biggest is not None and biggest.rss_per_call_mb is not None:
        rows.append(
            Row(f"memory per call at {biggest.calls} calls", 1, biggest.rss_per_call_mb,
                goal=MEMORY_MB_PER_CALL if instant else None, unit="MB", goal_stat="median")
        )  # fmt: skip
    if cpu_call is not None:
        rows.append(Row("server CPU per call-second", len(unsaturated), cpu_call, unit="ms"))
    print()
    print_table(rows)
    headline = [
        f"{best} concurrent calls on one core with {args.engines} engines at jitter p99 < "
        f"{JITTER_P99_MS:.0f} ms" + (f" (goal >= {CALLS_PER_CORE})" if instant else ""),
        f"memory {fmt(biggest.rss_per_call_mb if biggest else None, 2)} MB per call at "
        f"{biggest.calls if biggest else 0} calls (range {fmt(min(memory, default=None), 2)}-"
        f"{fmt(max(memory, default=None), 2)})"
        + (f" (goal <= {MEMORY_MB_PER_CALL:.0f} MB)" if instant else ""),
        f"server CPU {fmt(cpu_call)} ms per call-second: a core is full at "
        f"~{fmt(1000 / cpu_call if cpu_call else None, 0)} calls",
    ]
    for line in headline:
        print(line)
    print(f"  ({gc_info})")
    write_results(
        f"capacity_{args.engines}", rows, headline=headline,
        notes=[step_table(steps), gc_info, *served.description],
        extra={"capacity_calls": best, "cpu_ms_per_call_second": cpu_call, "errors": errors},
    )  # fmt: skip
    chart(steps, args.engines)
    for error in errors[:20]:
        print(f"error: {error}")
    return 1 if errors else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",") if x.strip()], default=None,
        help="concurrent calls per step (instant: 50,...,300; offline: 2,...,24)",
    )  # fmt: skip
    parser.add_argument("--window-s", type=float, default=None, help="steady window (8 s)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    add_server_args(parser)
    args = parser.parse_args(argv)
    args.steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)[args.engines]
    args.window_s = args.window_s or (4.0 if args.quick else 8.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(benchmark, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
