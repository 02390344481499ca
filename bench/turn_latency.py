"""Turn latency with instant providers: end of caller speech → first media frame, by stage.

    uv run python -m bench.turn_latency [--calls 1,50,100,200] [--turns 5] [--quick]

The API is served in this process on one CPU with instant STT/TTS/agent (``bench/instant.py``)
so every millisecond is the voice loop's own; the simulated callers run in other processes
(``bench/voice/``). Each call waits for the greeting, then ``--turns`` times says a 600 ms
tone and waits for the answer. Per turn, from the session's own timestamps
(``TurnTiming.as_report``), measured from the end of the endpointing silence:

  STT final          the final transcript arrives
  agent first token  the agent's first event, after the final
  first sentence     the first speakable piece is handed to the TTS, after the first token
  TTS first byte     the TTS's first audio, after the request
  send               the first media frame handed to the WebSocket, after the first audio
  overhead           first media - providers' own time (goal p95 ≤ 15 ms at 1, ≤ 40 ms at 200)

With the cloud providers' published latencies, see ``bench/cloud_turn.py``. Exits non-zero only
on errors (a failed call, a wrap-up not persisted), never on goals.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.common import Row, print_table
from bench.goals import overhead_goal
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

# (label, later timestamp, earlier timestamp) of TurnTiming.as_report(), in ms
STAGES = (
    ("STT final", "stt_final_ms", "endpointing_ms"),
    ("agent first token", "agent_first_token_ms", "stt_final_ms"),
    ("first sentence", "tts_requested_ms", "agent_first_token_ms"),
    ("TTS first byte", "tts_first_byte_ms", "tts_requested_ms"),
    ("send", "first_media_ms", "tts_first_byte_ms"),
)


def stage_samples(phase: PhaseResult) -> dict[str, list[float]]:
    complete = [r for r in phase.turn_reports if "overhead_ms" in r]
    samples = {label: [r[late] - r[early] for r in complete] for label, late, early in STAGES}
    samples["total"] = [r["first_media_ms"] - r["endpointing_ms"] for r in complete]
    return samples


def rows_for(phase: PhaseResult) -> list[Row]:
    n = phase.calls
    stages = stage_samples(phase)
    rows = [
        Row.of(f"overhead @{n} (media - final - providers)", phase.overhead_ms, overhead_goal(n)),
        Row.of(f"  end of speech -> first media @{n}", stages["total"]),
    ]
    rows += [Row.of(f"    {label}", stages[label]) for label, _, _ in STAGES]
    rows.append(Row.of("  pacing lateness, all chunks", phase.lateness_all_ms))
    return rows


def chart(phases: Sequence[PhaseResult]) -> None:
    figure, axes = new_figure("Turn latency by stage, instant providers (median per stage)")
    labels = [str(p.calls) for p in phases]
    bottoms = [0.0] * len(phases)
    for label, _, _ in STAGES:
        heights = [pct(stage_samples(p)[label], 50) or 0.0 for p in phases]
        axes.bar(labels, heights, bottom=bottoms, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    p95 = [pct(p.overhead_ms, 95) or 0.0 for p in phases]
    axes.plot(labels, p95, "k^-", label="overhead p95")
    goals = [overhead_goal(p.calls) for p in phases]
    axes.plot(labels, goals, "r_", markersize=40, linestyle="none", label="goal (overhead p95)")
    axes.set_xlabel("concurrent calls (one server core)")
    axes.set_ylabel("ms after the end of speech")
    axes.legend(fontsize=8)
    save_chart(figure, "turn_latency")


async def benchmark(args: argparse.Namespace) -> int:
    phases: list[PhaseResult] = []
    async with serve(args, "turn latency, instant providers") as served:
        errors = list(served.errors)
        for n in args.calls:
            phase = await served.bench.run_phase(f"turns@{n}", "turns", n, args.turns, 6.0)
            phases.append(phase)
            errors += [f"turns@{n}: {e}" for e in phase_failures(phase)]
            print(f"turns @{n}: {phase.elapsed_s:.0f} s, overhead p95 "
                  f"{fmt(pct(phase.overhead_ms, 95))} ms", flush=True)  # fmt: skip
    rows = [row for phase in phases for row in rows_for(phase)]
    print()
    print_table(rows)
    for phase in phases:
        print("  " + phase_line(phase))
    headline = [
        f"overhead p95 {fmt(pct(p.overhead_ms, 95))} ms at {p.calls} concurrent calls "
        f"(goal {overhead_goal(p.calls):.0f} ms)"
        for p in phases
    ]
    write_results(
        "turn_latency", rows, headline=headline,
        notes=[phase_line(p) for p in phases] + served.description, extra={"errors": errors},
    )  # fmt: skip
    chart(phases)
    for error in errors[:20]:
        print(f"error: {error}")
    return 1 if errors else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_latency", description=__doc__)
    parser.add_argument(
        "--calls", type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=None, help="concurrent calls per phase (1,50,100,200; quick: 1,20)",
    )  # fmt: skip
    parser.add_argument("--turns", type=int, default=None, help="caller turns per call (5)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    add_server_args(parser)
    args = parser.parse_args(argv)
    args.calls = args.calls or ([1, 20] if args.quick else [1, 50, 100, 200])
    args.turns = args.turns or (2 if args.quick else 5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(benchmark, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
