"""Crash proofs on the real dev server: a worker SIGKILLed mid-flight, a server restarted."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus, OutboxMessage
from core.security.crypto import dump_keyring, keyring
from core.temporal import data_converter
from durable.booking import BookingRequest, Bookings
from durable.calls import CallEvents
from stack.devserver import DevServer, free_port
from tests.support.booking import free_slots, seeded_patient
from tests.support.workers import running_worker
from workflows.contracts import (
    BookingOutcome,
    SessionReport,
    TranscriptLine,
    WrapUpInput,
    WrapUpOutcome,
)

ROOT = Path(__file__).resolve().parents[2]


def worker_process(
    database_url: str, temporal_address: str, prefix: str, log: Path
) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECEPTIONIST_", "DATABASE_URL", "TEMPORAL_"))
    }
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        RECEPTIONIST_TASK_QUEUE_PREFIX=prefix,
        RECEPTIONIST_DATA_DIR=str(log.parent),
        # The same keys as this process: the worker decrypts what the test's client encrypted.
        RECEPTIONIST_KEYRING=dump_keyring(keyring()),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def count(db: Database, model, *where) -> int:
    async with db.read() as session:
        return (await session.exec(select(func.count()).select_from(model).where(*where))).one()


async def test_worker_killed_mid_bookings_loses_and_duplicates_nothing(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> None:  # fmt: skip
    patient = await seeded_patient(db)
    slots = await free_slots(db, demo.clinic_id, count=20)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    before = await count(db, Appointment)
    worker = worker_process(database_url, temporal_server.address, prefix, tmp_path / "worker.log")
    try:
        await wait_for(lambda: _logged(tmp_path / "worker.log", "worker started"))
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        requests = [
            BookingRequest(
                demo.clinic_id,
                f"crash-{n}",
                s.provider_id,
                "cleaning",
                s.starts_at,
                patient_id=patient.id,
            )
            for n, s in enumerate(slots)
        ]
        pending = [
            asyncio.create_task(bookings.book(r, answer_within=timedelta(seconds=90)))
            for r in requests
        ]
        await wait_for(lambda: _any_appointment(db, before))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        confirmed_at_kill = await count(db, OutboxMessage, OutboxMessage.purpose == "confirmation")
    finally:
        if worker.poll() is None:
            worker.kill()
    assert confirmed_at_kill < 20, "the worker was not killed mid-flight"

    async with running_worker(temporal_client, db, prefix=prefix):
        decisions = await asyncio.gather(*pending)
        outcomes = await asyncio.gather(
            *(
                temporal_client.get_workflow_handle(
                    d.workflow_id, result_type=BookingOutcome
                ).result()
                for d in decisions
            )
        )
    assert {d.status for d in decisions} == {"accepted"}
    assert {o.status for o in outcomes} == {"booked"}
    assert await count(db, Appointment) - before == 20
    assert (
        await count(
            db,
            Appointment,
            col(Appointment.idempotency_key).like("booking-%crash-%"),
            Appointment.status == AppointmentStatus.BOOKED,
        )
        == 20
    )
    assert await count(db, OutboxMessage, OutboxMessage.purpose == "confirmation") == 20


async def _logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text()


async def _any_appointment(db: Database, before: int) -> bool:
    return await count(db, Appointment) > before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_server_restart_during_wrap_ups_finishes_them_all(
    db: Database, demo: SeedReport, temporal_binary: Path, tmp_path: Path
) -> None:
    server = DevServer(
        temporal_binary, tmp_path / "temporal.db", port=free_port(), ui_port=None,
        log_file=tmp_path / "temporal.log",
    )  # fmt: skip
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=data_converter())
        now = datetime.now(UTC)
        calls = [
            WrapUpInput(demo.clinic_id, f"CArestart{n:04d}{uuid.uuid4().hex[:8]}")
            for n in range(10)
        ]
        report = SessionReport(
            ended_at=now,
            outcome="answered",
            transcript=[TranscriptLine("caller", "What are your hours?", now)],
        )
        async with running_worker(client, db) as prefix:
            events = CallEvents(client, task_queue_prefix=prefix)
            await asyncio.gather(*(events.session_ended(c, report) for c in calls))
            server.stop(kill=True)
            server.start()
            await server.wait_ready()
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        client.get_workflow_handle(
                            f"call-{c.call_sid}", result_type=WrapUpOutcome
                        ).result()
                        for c in calls
                    )
                ),
                timeout=120,
            )
        assert len({r.call_id for r in results}) == 10
        assert all("had questions answered" in r.summary for r in results)
    finally:
        server.stop()
