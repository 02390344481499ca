"""Run every benchmark and write ``bench/RESULTS.md``.

    uv run python -m bench [--quick] [--only NAME,...] [--note TEXT]      (or ./run bench)

Each benchmark runs as its own process (each pins CPUs and starts a private stack), printing
its table as it goes; their figures (``bench/results/*.json``) and charts
(``bench/results/*.png``) are collected into ``bench/RESULTS.md`` with the machine, the date
and every figure against its DESIGN.md §7 goal. ``--quick`` is a smoke run of a few minutes
whose figures are not the published ones. Benchmarks other issues add (``cloud_turn``,
``campaigns``, ``cloud_adapters``, ``hl7_interface``, ``admin_api``) run when their module
exists and are listed as not available otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import RESULTS

BENCH = Path(__file__).resolve().parent
RESULTS_MD = BENCH / "RESULTS.md"
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    title: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)
    results: tuple[str, ...] = ()  # names of its JSON/PNG in bench/results


SUITE = (
    Benchmark("turn_latency", "bench.turn_latency", "Turn latency, instant providers",
              results=("turn_latency",)),
    Benchmark("cloud_turn", "bench.cloud_turn",
              "Turn latency, published cloud latency profile", results=("cloud_turn",)),
    Benchmark("barge_in", "bench.barge_in", "Barge-in: onset to clear", results=("barge_in",)),
    Benchmark("capacity", "bench.capacity", "Capacity per core, instant providers",
              results=("capacity_instant",)),
    Benchmark("capacity_offline", "bench.capacity", "Capacity per core, offline speech engines",
              args=("--engines", "offline"), quick_args=("--engines", "offline", "--quick"),
              results=("capacity_offline",)),
    Benchmark("durable_path", "bench.durable_path", "Durable path (SQLite, local dev server)",
              quick_args=("--bookings", "20", "--wrapups", "50"),
              results=("durable_path_sqlite",)),
    Benchmark("campaigns", "bench.campaigns", "Campaigns: 10,000 targets",
              results=("campaigns",)),
    Benchmark("edge_load", "bench.edge_load", "API edge load test", results=("edge_load",)),
    Benchmark("cloud_adapters", "bench.cloud_adapters", "Cloud speech adapters' own latency",
              results=("cloud_adapters",)),
    Benchmark("hl7_interface", "bench.hl7_interface", "HL7 v2 interface round trips",
              results=("hl7_interface",)),
    Benchmark("admin_api", "bench.admin_api", "Admin API on a busy clinic",
              results=("admin_api",)),
)  # fmt: skip


@dataclass
class Outcome:
    benchmark: Benchmark
    available: bool
    command: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    charts: list[Path] = field(default_factory=list)


def available(benchmark: Benchmark) -> bool:
    return (BENCH / f"{benchmark.module.rsplit('.', 1)[1]}.py").exists()


def supports_quick(benchmark: Benchmark) -> bool:
    """A benchmark written elsewhere may not take ``--quick``: ask its help text."""
    if benchmark.quick_args != ("--quick",):
        return True
    helped = subprocess.run(
        [sys.executable, "-m", benchmark.module, "--help"],
        capture_output=True, text=True, timeout=120, cwd=BENCH.parent,
    )  # fmt: skip
    return "--quick" in helped.stdout


def run_one(benchmark: Benchmark, quick: bool) -> Outcome:
    outcome = Outcome(benchmark, available(benchmark))
    if not outcome.available:
        print(f"\n### {benchmark.name}: not available (bench/{benchmark.module[6:]}.py missing)")
        return outcome
    args = list(benchmark.quick_args if quick and supports_quick(benchmark) else benchmark.args)
    command = [sys.executable, "-m", benchmark.module, *args]
    outcome.command = "uv run python " + " ".join(command[1:])
    print(f"\n### {benchmark.name}: {outcome.command}", flush=True)
    started = time.monotonic()
    for stale in benchmark.results:
        (RESULTS / f"{stale}.json").unlink(missing_ok=True)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH.parent
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            outcome.output.append(line.rstrip("\n"))
        try:
            outcome.exit_code = process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            outcome.exit_code = -9
    outcome.seconds = time.monotonic() - started
    for name in benchmark.results:
        figures = RESULTS / f"{name}.json"
        if figures.exists():
            outcome.figures[name] = json.loads(figures.read_text())
        chart = RESULTS / f"{name}.png"
        if chart.exists() and chart.stat().st_mtime >= time.time() - outcome.seconds - 5:
            outcome.charts.append(chart)
    return outcome


def machine() -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{memory_kb / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        memory = "RAM unknown"
    return [
        f"{os.cpu_count()} CPUs ({model}), {memory}",
        f"{platform.platform()}; Python {platform.python_version()}",
    ]


def _ratio_cell(row: dict[str, Any]) -> str:
    ratio = row.get("ratio")
    if ratio is None:
        return "-"
    met = ratio >= 1 if row.get("at_least") else ratio <= 1
    return f"{ratio:.2f} {'met' if met else '**missed**'}"


def _value(row: dict[str, Any]) -> str:
    stat = row.get("goal_stat", "p95")
    value = row.get(stat)
    unit = row.get("unit", "ms")
    return "-" if value is None else f"{stat} {value:.1f} {unit}"


def goal_table(outcomes: Sequence[Outcome]) -> list[str]:
    lines = ["| benchmark | figure | measured | goal | ratio |", "|---|---|---|---|---|"]
    for outcome in outcomes:
        for figures in outcome.figures.values():
            for row in figures.get("rows", []):
                if row.get("goal") is None:
                    continue
                sign = ">=" if row.get("at_least") else "<="
                lines.append(
                    f"| {outcome.benchmark.name} | {row['name'].strip()} | {_value(row)} | "
                    f"{sign} {row['goal']:g} {row.get('unit', 'ms')} | {_ratio_cell(row)} |"
                )
    return lines


def section(outcome: Outcome) -> list[str]:
    bench = outcome.benchmark
    lines = [f"## {bench.title}", ""]
    if not outcome.available:
        return [*lines, f"Not available: `bench/{bench.module[6:]}.py` is not in this tree.", ""]
    lines.append(f"`{outcome.command}` — exit {outcome.exit_code}, {outcome.seconds:.0f} s")
    lines.append("")
    for figures in outcome.figures.values():
        lines += [f"- {line}" for line in figures.get("headline", [])]
    if outcome.figures:
        lines.append("")
    for chart in outcome.charts:
        lines += [f"![{chart.stem}](results/{chart.name})", ""]
    table = [line for line in outcome.output if "|" in line or set(line) <= set("-+ ")]
    shown = table or outcome.output[-30:]
    lines += ["```", *[line for line in shown if line.strip()], "```", ""]
    return lines


def write_markdown(outcomes: Sequence[Outcome], args: argparse.Namespace, load: str) -> None:
    kind = "a QUICK smoke run: short windows, few calls" if args.quick else "a full run"
    out = [
        "# Benchmark results",
        "",
        f"Taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `uv run python -m bench"
        f"{' --quick' if args.quick else ''}` ({kind}).",
        "",
        *[f"- {line}" for line in machine()],
        f"- load average (1/5/15 min) at start: {load}; at end: "
        + " ".join(f"{v:.2f}" for v in os.getloadavg()),
    ]
    if args.note:
        out.append(f"- **{args.note}**")
    out += ["", "## Figures against the goals of DESIGN.md §7", "", *goal_table(outcomes), ""]
    for outcome in outcomes:
        out += section(outcome)
    RESULTS_MD.write_text("\n".join(out) + "\n")
    print(f"\nwrote {RESULTS_MD}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names: "
                        + ", ".join(b.name for b in SUITE))  # fmt: skip
    parser.add_argument("--note", help="a line for RESULTS.md (e.g. the conditions of the run)")
    args = parser.parse_args(argv)
    names = {b.name for b in SUITE}
    args.only = [n.strip() for n in args.only.split(",")] if args.only else None
    if args.only and not set(args.only) <= names:
        parser.error(f"unknown benchmark(s) {sorted(set(args.only) - names)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    chosen = [b for b in SUITE if args.only is None or b.name in args.only]
    outcomes = [run_one(b, args.quick) for b in chosen]
    write_markdown(outcomes, args, load)
    failed = [o.benchmark.name for o in outcomes if o.available and o.exit_code != 0]
    if failed:
        print(f"benchmarks that reported errors: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
