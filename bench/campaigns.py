"""Benchmark: one SMS recall campaign of 10,000 targets against the embedded outbox.

    uv run python -m bench.campaigns [--targets N] [--window W] [--database-url URL] [--quick]

A private dev server and database (``bench.common.bench_stack``), N synthetic patients due a
recall, and the real worker in this process. The campaign run is started directly (as its
schedule would) with the send window always open, a one-second reply wait and the clinic's
send rate at its maximum (6,000 a minute), so the figures are the machinery's own:

- snapshot + render: the run's first step, which renders the template for every target;
- targets/s: messages sent per second once the sliding window is full, and overall;
- end to end: start of the run -> its result (every target done);
- worker memory: this process's peak RSS (worker, driver and database client together) and
  the dev server's RSS; in-flight children and continue-as-new runs show the dev server's
  limits (pending children per workflow <= 2,000; history <= 51,200 events).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from bench.common import Row, bench_stack, machine_description, print_table
from bench.report import new_figure, save_chart, write_results
from core.campaigns.config import OutreachConfig
from core.db import Database
from core.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Campaign,
    OutboxMessage,
    OutreachSettings,
    Patient,
    Provider,
)
from core.settings import Settings
from worker import build_workers
from workflows.campaigns import CampaignRunWorkflow
from workflows.outreach_types import CampaignRunInput, RunFinished, Window

ALWAYS_OPEN = Window("00:00", "23:59:59", "UTC")


def _cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _seed(db: Database, clinic_id: str, count: int) -> None:
    async with db.read() as session:
        cleaning = (
            await session.exec(
                select(AppointmentType).where(
                    AppointmentType.clinic_id == clinic_id, AppointmentType.code == "cleaning"
                )
            )
        ).one()
        provider = (
            await session.exec(select(Provider).where(Provider.clinic_id == clinic_id))
        ).first()
    assert provider is not None
    from datetime import UTC, datetime

    visit = datetime.now(UTC) - timedelta(days=240)
    for start in range(0, count, 1000):
        async with db.write() as session:
            for n in range(start, min(count, start + 1000)):
                patient = Patient(
                    clinic_id=clinic_id,
                    first_name=f"P{n}",
                    last_name="Bench",
                    date_of_birth="1980-01-01",
                    phone=f"+1207{5600000 + n}",
                )
                session.add(patient)
                await session.flush()
                session.add(
                    Appointment(
                        clinic_id=clinic_id,
                        patient_id=patient.id,
                        provider_id=provider.id,
                        appointment_type_id=cleaning.id,
                        starts_at=visit,
                        ends_at=visit + timedelta(hours=1),
                        status=AppointmentStatus.COMPLETED,
                    )
                )
        async with db.write() as session:
            await session.merge(OutreachSettings(
                clinic_id=clinic_id,
                config=OutreachConfig(sms_per_minute=6000).model_dump(mode="json"),
            ))  # fmt: skip


async def run(targets: int, window: int, database_url: str | None) -> int:
    async with bench_stack(database_url) as stack:
        for line in machine_description(stack.temporal_binary):
            print(line)
        print(f"database: {stack.db_kind}; targets {targets}; window {window}", flush=True)
        db, client = stack.db, stack.client
        await _seed(db, stack.demo.clinic_id, targets)
        campaign = Campaign(clinic_id=stack.demo.clinic_id, name="bench", audience="hygiene_recall",
                            channel="sms", template="{clinic_name}: hi {first_name}, time to book.",
                            max_targets=targets + 100, window=window)  # fmt: skip
        async with db.write() as session:
            session.add(campaign)
        prefix = f"b{uuid.uuid4().hex[:6]}-"
        workers = build_workers(client, db, Settings(task_queue_prefix=prefix),
                                max_concurrent_activities=200)  # fmt: skip
        tasks = [asyncio.create_task(w.run()) for w in workers]
        run_id = f"campaign-{campaign.id}-bench"
        server_pid = stack.server.process.pid if stack.server.process else None
        cpu_before = (_cpu_s(), _cpu_s(server_pid) if server_pid else float("nan"))
        started = time.perf_counter()
        handle = await client.start_workflow(
            CampaignRunWorkflow.run,
            CampaignRunInput(campaign.id, window=ALWAYS_OPEN, reply_window_seconds=1),
            id=run_id, task_queue=f"{prefix}campaigns",
        )  # fmt: skip
        samples: list[tuple[float, int, int]] = []  # (seconds, sent, in flight)
        server_rss: list[float] = []
        result: RunFinished | None = None
        while result is None:
            with contextlib.suppress(TimeoutError):
                result = await asyncio.wait_for(asyncio.shield(handle.result()), 2.0)
            async with db.read() as session:
                sent = (await session.exec(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.purpose == "recall"))).one()  # fmt: skip
            try:
                flying = int((await handle.query(CampaignRunWorkflow.progress))["in_flight"])
            except Exception:  # between runs of a continue-as-new
                flying = -1
            samples.append((time.perf_counter() - started, int(sent), flying))
            if stack.server.process is not None:
                server_rss.append(_rss_mb(stack.server.process.pid))
        elapsed = time.perf_counter() - started
        worker_cpu = _cpu_s() - cpu_before[0]
        server_cpu = (_cpu_s(server_pid) if server_pid else float("nan")) - cpu_before[1]
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{run_id}'")]
        lengths = []
        for execution in runs:
            history = await client.get_workflow_handle(
                run_id, run_id=execution.run_id
            ).fetch_history()
            lengths.append(len(history.events))
        for w in workers:
            await w.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        total_sent = samples[-1][1] if samples else 0
    prepared_at = next((t for t, s, _ in samples if s > 0), float("nan"))
    full = [(t, s) for t, s, f in samples if f >= window * 0.9]
    steady = (
        (full[-1][1] - full[0][1]) / (full[-1][0] - full[0][0]) if len(full) > 1 else float("nan")
    )
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        Row("snapshot + render (to 1st send)", 1, prepared_at * 1000),
        Row("targets/s, window full", len(full), steady, unit="/s"),
        Row("targets/s, overall", targets, total_sent / elapsed, unit="/s"),
        Row("end to end", 1, elapsed * 1000),
        Row(
            "in flight (max)",
            len(samples),
            float(max((f for _, _, f in samples), default=0)),
            unit="",
        ),
        Row("continue-as-new runs", 1, float(len(runs)), unit=""),
        Row("history events per run (max)", len(lengths), float(max(lengths, default=0)), unit=""),
        Row("worker CPU per target", targets, worker_cpu * 1000 / max(total_sent, 1)),
        Row("dev server CPU per target", targets, server_cpu * 1000 / max(total_sent, 1)),
        Row("process peak RSS (worker+driver)", 1, peak_rss, unit="MB"),
        Row(
            "dev server RSS (max)",
            len(server_rss),
            max(server_rss, default=float("nan")),
            unit="MB",
        ),
    ]
    print(f"result: {result.status if result else 'none'}; sent {total_sent} of {targets}+demo")
    print_table(rows)
    figure, axes = new_figure(f"SMS campaign, {targets} targets, window {window}")
    axes.plot([t for t, _, _ in samples], [s for _, s, _ in samples], label="sent")
    axes.plot([t for t, _, f in samples], [max(f, 0) for _, _, f in samples], label="in flight")
    axes.set_xlabel("seconds")
    axes.legend()
    save_chart(figure, "campaigns")
    write_results("campaigns", rows, headline=[f"{targets} targets in {elapsed:.0f} s "
                  f"({total_sent / elapsed:.1f}/s), {len(runs)} runs"])  # fmt: skip
    return 0 if result is not None and result.status == "completed" else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 500 targets")
    args = parser.parse_args()
    if args.quick:
        args.targets, args.window = 500, 100
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(asyncio.run(run(args.targets, args.window, args.database_url)))


if __name__ == "__main__":
    main()
