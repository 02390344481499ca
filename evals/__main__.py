"""Run the conversation evals.

    uv run python -m evals [--agent rule|claude|all] [--only TEXT] [--audio] [--verbose]
        [--markdown evals/RESULTS.md]

Text calls (default) drive the agent through the real tools, database and Temporal without
audio: seconds per scenario. ``--audio`` places each scenario as a real call through the
Twilio Media Streams protocol with the offline speech engines (flite speaks the caller,
pocketsphinx hears them): minutes in all. The Claude agent runs when ANTHROPIC_API_KEY is set.
Exits non-zero when a scenario fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.agents import AGENTS, agent_factory, available_agents
from evals.report import format_markdown, format_text
from evals.runner import ScenarioResult, run_text_scenario, running_workers
from evals.scenario import Scenario, ScenarioError, load_scenarios
from evals.stack import EvalStack, eval_stack


async def run_text(
    stack: EvalStack, scenarios: Sequence[Scenario], agent: str
) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        async with stack.fresh_database() as db, running_workers(stack.client, db) as prefix:
            result = await run_text_scenario(
                scenario, agent_factory(agent), agent, db, stack.client, stack.clinic_id, prefix
            )
        print(f"  {'pass' if result.passed else 'FAIL'}  {scenario.name}", flush=True)
        results.append(result)
    return results


async def run(
    args: argparse.Namespace, scenarios: Sequence[Scenario]
) -> list[list[ScenarioResult]]:
    agents = available_agents() if args.agent == "all" else [args.agent]
    runs = []
    async with eval_stack() as stack:
        for agent in agents:
            mode = "audio" if args.audio else "text"
            print(f"-- {agent} agent, {mode} calls, {len(scenarios)} scenarios --", flush=True)
            if args.audio:
                from evals.audio import run_audio

                runs.append(await run_audio(stack, scenarios, agent))
            else:
                runs.append(await run_text(stack, scenarios, agent))
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    parser.add_argument("--agent", choices=[*AGENTS, "all"], default="rule")
    parser.add_argument("--only", help="run the scenarios whose name contains this text")
    parser.add_argument("--audio", action="store_true", help="full audio calls (slow)")
    parser.add_argument("--verbose", action="store_true", help="transcripts of failures")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        scenarios = load_scenarios(only=args.only)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("error: no scenario matches", file=sys.stderr)
        return 2
    if args.agent != "rule" and args.agent not in available_agents():
        print(f"error: the {args.agent} agent needs ANTHROPIC_API_KEY", file=sys.stderr)
        return 2
    runs = asyncio.run(run(args, scenarios))
    failed = False
    sections = []
    for results in runs:
        print()
        print(format_text(results, verbose=args.verbose), flush=True)
        failed = failed or not all(r.passed for r in results)
        sections.append(results)
    if args.markdown is not None:
        header = [
            f"Taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} CPUs), `uv run python -m evals"
            f"{' --audio' if args.audio else ''} --agent {args.agent}`.",
        ]
        args.markdown.write_text("\n".join(format_markdown(r, header) for r in sections))
        print(f"report: {args.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
