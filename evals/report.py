"""The eval report: booking completion, correct transfers, invented slots, turns per booking,
and every scenario's pass/fail with the reasons."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from evals.runner import ScenarioResult


@dataclass(frozen=True)
class Summary:
    agent: str
    mode: str
    scenarios: int
    passed: int
    bookings_expected: int
    bookings_completed: int
    transfers_expected: int
    transfers_correct: int
    wrongful_transfers: int  # transferred in a scenario that should not be
    invented_slots: int
    turns_per_booking: float | None

    @property
    def booking_rate(self) -> float | None:
        return self.bookings_completed / self.bookings_expected if self.bookings_expected else None

    @property
    def transfer_rate(self) -> float | None:
        return self.transfers_correct / self.transfers_expected if self.transfers_expected else None


def _booking_ok(result: ScenarioResult) -> bool:
    """The expected appointment exists with the right type, provider and time window."""
    booking_words = ("booked", "appointments made", "expected a reschedule", "moved, not")
    return (
        result.error is None
        and result.verdict.booked is not None
        and not any(f.startswith(booking_words) for f in result.verdict.failures)
    )


def _transfer_ok(result: ScenarioResult) -> bool:
    prefixes = ("outcome", "transfer reason", "emergency instructions")
    return result.error is None and not any(f.startswith(prefixes) for f in result.verdict.failures)


def summarise(results: Sequence[ScenarioResult]) -> Summary:
    booking = [r for r in results if r.scenario.expects_booking]
    transfer = [r for r in results if r.scenario.expects_transfer]
    turns = [
        r.turns_to_booking for r in booking if _booking_ok(r) and r.turns_to_booking is not None
    ]
    return Summary(
        agent=results[0].agent if results else "-",
        mode=results[0].mode if results else "-",
        scenarios=len(results),
        passed=sum(r.passed for r in results),
        bookings_expected=len(booking),
        bookings_completed=sum(_booking_ok(r) for r in booking),
        transfers_expected=len(transfer),
        transfers_correct=sum(_transfer_ok(r) for r in transfer),
        wrongful_transfers=sum(
            1
            for r in results
            if not r.scenario.expects_transfer
            and any(f.startswith("transferred") for f in r.verdict.failures)
        ),
        invented_slots=sum(len(r.verdict.invented) for r in results),
        turns_per_booking=statistics.mean(turns) if turns else None,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def summary_lines(summary: Summary) -> list[str]:
    turns = summary.turns_per_booking
    return [
        f"scenarios passed      {summary.passed}/{summary.scenarios}",
        f"booking completion    {summary.bookings_completed}/{summary.bookings_expected} "
        f"({_pct(summary.booking_rate)})",
        f"correct transfers     {summary.transfers_correct}/{summary.transfers_expected} "
        f"({_pct(summary.transfer_rate)}); wrongful transfers {summary.wrongful_transfers}",
        f"invented slots        {summary.invented_slots} (must be 0)",
        f"turns per booking     {'-' if turns is None else f'{turns:.1f}'} (caller turns until "
        "the booking was accepted)",
    ]


def format_text(results: Sequence[ScenarioResult], *, verbose: bool = False) -> str:
    summary = summarise(results)
    width = max((len(r.scenario.name) for r in results), default=10)
    lines = [f"== conversation evals: {summary.agent} agent, {summary.mode} calls =="]
    for r in results:
        status = "pass" if r.passed else "FAIL"
        turns = f"{r.caller_turns} turns"
        lines.append(f"{status}  {r.scenario.name.ljust(width)}  {turns:>8}  {r.seconds:5.1f} s")
        if not r.passed:
            for failure in [*([r.error] if r.error else []), *r.verdict.failures]:
                lines.append(f"        - {failure}")
            if verbose:
                lines.extend(r.transcript)
    lines.append("")
    lines.extend(summary_lines(summary))
    return "\n".join(lines)


def format_markdown(results: Sequence[ScenarioResult], header: Sequence[str]) -> str:
    summary = summarise(results)
    out = ["# Conversation eval results", "", *header, ""]
    out += [f"- {line}" for line in summary_lines(summary)]
    out += [
        "",
        "| scenario | category | result | caller turns | why it failed |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        why = "; ".join([*([r.error] if r.error else []), *r.verdict.failures]).replace("|", "/")
        result = "pass" if r.passed else "**FAIL**"
        out.append(
            f"| {r.scenario.name} | {r.scenario.category} | {result} | {r.caller_turns} | {why} |"
        )
    return "\n".join(out) + "\n"
