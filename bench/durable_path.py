"""Benchmark of the durable path on the local dev server, with the real worker in-process.

    uv run python -m bench.durable_path [--bookings N] [--wrapups M]
        [--database-url URL | --postgres] [--warmup N] [--answer-within-ms MS]

1. hold + Update-with-Start answer: N sequential ``Bookings.book`` calls for distinct,
   non-overlapping slots (providers, appointment types and days mixed), each timed until the
   decision returns. Goal: p95 <= 150 ms.
2. call end -> confirmation sent: from the moment ``book`` returned "accepted" (the caller hangs
   up) until the booking's "confirmation" outbox row was sent (its ``sent_at``). Goal: p95 <= 2 s.
3. wrap-ups on one worker: M ``CallWrapUpWorkflow`` started at once by ``session_ended`` with a
   five-line transcript; workflows per second, and per-workflow start -> result latency.

Warm-up requests come first and are excluded. All data is synthetic. Exits non-zero only on
errors (a booking not accepted, a missing confirmation, a failed wrap-up), never on goals.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from temporalio.client import Client

import durable.booking
from bench.common import BenchStack, Row, bench_stack, machine_description, print_table
from bench.report import new_figure, save_chart, write_results
from core.db import Database
from core.models import OutboxMessage, OutboxStatus, Patient
from core.scheduling import Slot, SlotQuery, find_slots
from core.settings import Settings
from durable.booking import DEFAULT_ANSWER_WITHIN, BookingDecision, BookingRequest, Bookings
from durable.calls import CallEvents
from worker import build_workers
from workflows.contracts import (
    BookingOutcome,
    SessionReport,
    TranscriptLine,
    WrapUpInput,
    WrapUpOutcome,
)

BOOK_GOAL_MS = 150.0
CONFIRMATION_GOAL_MS = 2000.0
# Existing-patient appointment types of the demo clinic ("new-patient-exam" needs a new patient).
CODES = ("cleaning", "exam", "filling", "crown", "whitening", "emergency")
# Wider than any buffer plus grid rounding, so picked slots never contend for a cell.
MARGIN = timedelta(minutes=30)
RESULT_TIMEOUT = 120.0


# --- slots and patients -----------------------------------------------------------------------


async def pick_slots(
    db: Database, clinic_id: str, count: int, seed: int = 7
) -> list[tuple[str, Slot]]:
    """``count`` bookable (type, slot) pairs, no two overlapping on one provider, spread over
    appointment types, providers and days (shuffled with a fixed seed)."""
    rng = random.Random(seed)
    pools: dict[str, list[Slot]] = {}
    async with db.read() as session:
        for code in CODES:
            slots = await find_slots(session, clinic_id, SlotQuery(code, limit=10_000))
            rng.shuffle(slots)
            pools[code] = slots
    taken: dict[str, list[tuple[datetime, datetime]]] = {}
    chosen: list[tuple[str, Slot]] = []

    def free(slot: Slot) -> bool:
        return all(
            slot.starts_at >= end + MARGIN or slot.ends_at + MARGIN <= start
            for start, end in taken.get(slot.provider_id, [])
        )

    while len(chosen) < count and any(pools.values()):
        for code in CODES:
            pool = pools[code]
            while pool:
                slot = pool.pop()
                if free(slot):
                    taken.setdefault(slot.provider_id, []).append((slot.starts_at, slot.ends_at))
                    chosen.append((code, slot))
                    break
            if len(chosen) == count:
                break
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} non-overlapping free slots for {count} bookings")
    return chosen


async def seeded_patient_ids(db: Database, clinic_id: str) -> list[str]:
    async with db.read() as session:
        rows = await session.exec(
            select(Patient.id).where(Patient.clinic_id == clinic_id).order_by(Patient.last_name)
        )
        ids = list(rows.all())
    if not ids:
        raise RuntimeError("the seeded clinic has no patients")
    return ids


# --- 1 and 2: bookings ------------------------------------------------------------------------


class HoldTimer:
    """Times the ``hold_slot`` step inside ``Bookings.book`` (a thin wrapper around the module's
    own reference; calls pass straight through), to split the answer into hold and
    Update-with-Start."""

    def __init__(self) -> None:
        self.last_ms = 0.0
        self._original = durable.booking.hold_slot

    async def _timed(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._original(*args, **kwargs)
        finally:
            self.last_ms = (time.perf_counter() - started) * 1000

    def __enter__(self) -> HoldTimer:
        durable.booking.hold_slot = self._timed
        return self

    def __exit__(self, *exc: object) -> None:
        durable.booking.hold_slot = self._original


@dataclass
class BookingSample:
    code: str
    slot: Slot
    decision: BookingDecision
    answer_ms: float
    answered_at: datetime  # wall clock (UTC) when book() returned: the caller hangs up
    hold_ms: float = 0.0  # of answer_ms: the database hold (the rest is Update-with-Start)
    confirmation_ms: float | None = None
    error: str | None = None


@dataclass
class BookingResults:
    samples: list[BookingSample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[BookingSample]:
        return [s for s in self.samples if s.decision.status == "accepted"]


async def run_bookings(
    stack: BenchStack,
    bookings: Bookings,
    picks: Sequence[tuple[str, Slot]],
    patients: Sequence[str],
    run_id: str,
    answer_within: timedelta,
    timer: HoldTimer,
) -> BookingResults:
    results = BookingResults()
    for i, (code, slot) in enumerate(picks):
        request = BookingRequest(
            clinic_id=stack.demo.clinic_id,
            request_id=f"{run_id}-b{i}",
            provider_id=slot.provider_id,
            appointment_type=code,
            starts_at=slot.starts_at,
            patient_id=patients[i % len(patients)],
            call_sid=f"CAbench{run_id}b{i}",
        )
        timer.last_ms = 0.0
        started = time.perf_counter()
        decision = await bookings.book(request, answer_within=answer_within)
        answer_ms = (time.perf_counter() - started) * 1000
        answered_at = datetime.now(UTC)
        results.samples.append(
            BookingSample(code, slot, decision, answer_ms, answered_at, timer.last_ms)
        )
        if decision.status == "rejected":
            results.errors.append(f"booking {i} ({code}) rejected: {decision.reason}")
    await collect_confirmations(stack.client, stack.db, results)
    return results


async def collect_confirmations(client: Client, db: Database, results: BookingResults) -> None:
    """Await every saga, then read when each confirmation was sent."""
    waiting = [s for s in results.samples if s.decision.status in ("accepted", "pending")]

    async def outcome(sample: BookingSample) -> BookingOutcome:
        handle = client.get_workflow_handle(sample.decision.workflow_id, result_type=BookingOutcome)
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)

    outcomes = await asyncio.gather(*(outcome(s) for s in waiting), return_exceptions=True)
    keys = {f"{s.decision.workflow_id}/confirmation": s for s in waiting}
    async with db.read() as session:
        rows = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.idempotency_key).in_(list(keys)))
            )
        ).all()
    by_key = {row.idempotency_key: row for row in rows}
    for sample, result in zip(waiting, outcomes, strict=True):
        wid = sample.decision.workflow_id
        if isinstance(result, BaseException):
            sample.error = f"{wid}: {type(result).__name__}: {result}"
        elif result.status != "booked":
            sample.error = f"{wid}: saga ended {result.status} ({result.reason})"
        else:
            row = by_key.get(f"{wid}/confirmation")
            if row is None or row.status != OutboxStatus.SENT or row.sent_at is None:
                sample.error = f"{wid}: no sent confirmation ({row.status if row else 'no row'})"
            else:
                sample.confirmation_ms = (row.sent_at - sample.answered_at).total_seconds() * 1000
        if sample.error:
            results.errors.append(sample.error)


# --- 3: wrap-ups ------------------------------------------------------------------------------


def synthetic_report(now: datetime, patient_id: str | None) -> SessionReport:
    lines = [
        ("agent", "Thank you for calling Bright Smile Dental, this is Ava. How can I help?"),
        ("caller", "Hi, what time do you open on Friday?"),
        ("agent", "We open at eight in the morning on Fridays and close at two."),
        ("caller", "Great, thanks. That's all I needed."),
        ("agent", "You're welcome. Have a great day!"),
    ]
    start = now - timedelta(seconds=len(lines) * 6)
    return SessionReport(
        ended_at=now,
        outcome="answered",
        transcript=[
            TranscriptLine(role, text, start + timedelta(seconds=6 * n))  # type: ignore[arg-type]
            for n, (role, text) in enumerate(lines)
        ],
        tools_used=["clinic_hours"],
        turn_latencies=[{"first_audio_ms": 620.0}, {"first_audio_ms": 580.0}],
        patient_id=patient_id,
    )


@dataclass
class WrapUpResults:
    started: int
    elapsed_s: float
    latencies_ms: list[float]
    start_ack_ms: list[float]
    errors: list[str]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def run_wrapups(
    stack: BenchStack, events: CallEvents, count: int, patients: Sequence[str], run_id: str
) -> WrapUpResults:
    latencies: list[float] = []
    acks: list[float] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        now = datetime.now(UTC)
        call = WrapUpInput(
            clinic_id=stack.demo.clinic_id,
            call_sid=f"CAbench{run_id}w{i}",
            from_number=f"+1207555{i % 10000:04d}",
            to_number="+12075550100",
            started_at=now - timedelta(minutes=1),
        )
        started = time.perf_counter()
        try:
            workflow_id = await events.session_ended(
                call, synthetic_report(now, patients[i % len(patients)])
            )
            acks.append((time.perf_counter() - started) * 1000)
            handle = stack.client.get_workflow_handle(workflow_id, result_type=WrapUpOutcome)
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
            latencies.append((time.perf_counter() - started) * 1000)
        except Exception as exc:
            errors.append(f"wrap-up {i}: {type(exc).__name__}: {exc}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    return WrapUpResults(count, elapsed, latencies, acks, errors)


# --- main -------------------------------------------------------------------------------------


def chart(booked: BookingResults, confirmations: Sequence[float], name: str) -> None:
    figure, axes = new_figure("Durable path: booking answer and confirmation")
    axes.hist([s.answer_ms for s in booked.samples], bins=30, label="hold + Update-with-Start")
    axes.axvline(BOOK_GOAL_MS, color="red", linestyle="--", label="answer goal (p95)")
    axes.set_xlabel("ms")
    axes.set_ylabel("bookings")
    if confirmations:
        inset = axes.inset_axes((0.55, 0.45, 0.4, 0.45))
        inset.hist(list(confirmations), bins=20, color="green")
        inset.set_title("call end -> confirmation (ms)", fontsize=8)
        inset.tick_params(labelsize=7)
    axes.legend(fontsize=8, loc="upper left")
    save_chart(figure, name)


async def benchmark(args: argparse.Namespace, database_url: str | None) -> int:
    async with bench_stack(database_url) as stack:
        print("== durable path benchmark ==")
        for line in machine_description(stack.temporal_binary):
            print(line)
        print(f"database: {stack.db_kind}  [{stack.database_url}]")
        print(f"temporal dev server: {stack.server.address} (headless, SQLite state)")
        print(
            f"bookings: {args.bookings} (+{args.warmup} warm-up), answer_within="
            f"{args.answer_within_ms} ms; wrap-ups: {args.wrapups} (+{args.warmup} warm-up)",
            flush=True,
        )
        run_id = uuid.uuid4().hex[:6]
        prefix = f"bench{run_id}-"
        workers = build_workers(stack.client, stack.db, Settings(task_queue_prefix=prefix))
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            patients = await seeded_patient_ids(stack.db, stack.demo.clinic_id)
            picks = await pick_slots(stack.db, stack.demo.clinic_id, args.warmup + args.bookings)
            spread = {
                "types": len({c for c, _ in picks}),
                "providers": len({s.provider_id for _, s in picks}),
                "days": len({s.local_start.date() for _, s in picks}),
            }
            print(f"slots: {len(picks)} non-overlapping across {spread}", flush=True)
            bookings = Bookings(stack.client, stack.db, task_queue_prefix=prefix)
            answer_within = timedelta(milliseconds=args.answer_within_ms)

            t0 = time.perf_counter()
            with HoldTimer() as timer:
                warm = await run_bookings(
                    stack, bookings, picks[: args.warmup], patients, f"{run_id}w",
                    answer_within, timer,
                )  # fmt: skip
                booked = await run_bookings(
                    stack, bookings, picks[args.warmup :], patients, run_id, answer_within, timer
                )
            print(f"bookings done in {time.perf_counter() - t0:.1f} s", flush=True)

            events = CallEvents(stack.client, task_queue_prefix=prefix)
            warm_wrapups = await run_wrapups(stack, events, args.warmup, patients, f"{run_id}x")
            wrapups = await run_wrapups(stack, events, args.wrapups, patients, run_id)
            print(f"wrap-ups done in {wrapups.elapsed_s:.1f} s", flush=True)
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)

    statuses: dict[str, int] = {}
    for sample in booked.samples:
        statuses[sample.decision.status] = statuses.get(sample.decision.status, 0) + 1
    confirmations = [s.confirmation_ms for s in booked.accepted if s.confirmation_ms is not None]
    rows = [
        Row.of(
            "book: hold + Update-with-Start answer",
            [s.answer_ms for s in booked.samples],
            BOOK_GOAL_MS,
        ),
        Row.of("  of which: hold_slot (database)", [s.hold_ms for s in booked.samples]),
        Row.of(
            "  of which: Update-with-Start",
            [s.answer_ms - s.hold_ms for s in booked.samples],
        ),
        Row.of("call end -> confirmation sent", confirmations, CONFIRMATION_GOAL_MS),
        Row.of("wrap-up: signal-with-start ack", wrapups.start_ack_ms),
        Row.of("wrap-up: start -> result (concurrent)", wrapups.latencies_ms),
        Row(
            f"wrap-up throughput ({args.wrapups} at once)",
            len(wrapups.latencies_ms),
            wrapups.per_second,
            unit="wf/s",
        ),
    ]
    errors = warm.errors + booked.errors + warm_wrapups.errors + wrapups.errors
    print()
    print_table(rows)
    print()
    print(f"decisions: {statuses}")
    for error in errors[:20]:
        print(f"error: {error}")
    if len(errors) > 20:
        print(f"... and {len(errors) - 20} more errors")
    book, confirm = rows[0], rows[3]

    def verdict(row: Row) -> str:
        ratio = row.ratio
        return "n/a" if ratio is None else f"{ratio:.2f}x goal"

    headline = [
        f"hold + Update-with-Start answer p95 {book.p95 or 0:.1f} ms on {stack.db_kind.split()[0]} "
        f"(goal {BOOK_GOAL_MS:.0f} ms)",
        f"call end -> confirmation sent p95 {confirm.p95 or 0:.0f} ms "
        f"(goal {CONFIRMATION_GOAL_MS:.0f} ms)",
        f"wrap-ups {wrapups.per_second:.1f} workflows/s on one worker ({args.wrapups} at once)",
    ]
    name = f"durable_path_{stack.db_kind.split()[0]}"
    write_results(name, rows, headline=headline, extra={"errors": errors, "decisions": statuses})
    chart(booked, confirmations, name)
    print(
        f"SUMMARY [{stack.db_kind.split()[0]}, {len(booked.samples)} bookings, "
        f"{args.wrapups} wrap-ups]: book p95 {book.p95 or 0:.1f} ms ({verdict(book)}); "
        f"confirmation p95 {confirm.p95 or 0:.0f} ms ({verdict(confirm)}); "
        f"wrap-ups {wrapups.per_second:.1f} wf/s; "
        f"accepted {statuses.get('accepted', 0)}/{len(booked.samples)}, "
        f"confirmed {len(confirmations)}/{len(booked.accepted)}, errors {len(errors)}",
        flush=True,
    )
    return 1 if errors else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.durable_path", description=__doc__)
    parser.add_argument("--bookings", type=int, default=100, help="measured bookings (100)")
    parser.add_argument("--wrapups", type=int, default=200, help="concurrent wrap-ups (200)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up requests, excluded (5)")
    parser.add_argument(
        "--answer-within-ms",
        type=int,
        default=int(DEFAULT_ANSWER_WITHIN.total_seconds() * 1000),
        help="the bounded wait of book(); the production default unless set",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--database-url", help="a PostgreSQL server to create a scratch db on")
    target.add_argument(
        "--postgres", action="store_true", help="start a private PostgreSQL server for the run"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.postgres:
        return asyncio.run(benchmark(args, args.database_url))
    # The one import from tests: the private server the test suite also uses.
    from tests.support.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        print("error: PostgreSQL server binaries not found", file=sys.stderr)
        return 2
    server = PostgresServer(bindir)
    try:
        url = server.start()
        return asyncio.run(benchmark(args, url))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
