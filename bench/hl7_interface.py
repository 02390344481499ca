"""HL7 v2 interface: outbound SIU round trips and inbound SIU applied to the schedule.

    uv run python -m bench.hl7_interface [--messages 200] [--quick]

- outbound: ``Hl7Ehr.book`` → SIU^S12 over the persistent MLLP connection to the scripted EHR
  peer process (tests/peers/hl7_peer.py) → AA, including our two database writes per message;
- inbound: a python-hl7 MLLP client sends SIU^S12 to ``MllpListener`` → the appointment is
  applied (cells claimed, gone from ``find_slots``) → AA back at the client.

On a temporary SQLite database with the demo clinic. DESIGN.md has no budget for these; ours: a
front-desk booking must leave our availability well within a caller's turn (≤ 100 ms p95), and
the SIU round trip may take at most an eighth of the 2 s call-end → confirmation budget
(≤ 250 ms p95; hl7apy's building and validation is most of it). Exits non-zero only on errors,
never on goals.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bench.common import Row, print_table
from bench.report import write_results
from core.db import Database
from core.demo.seed import seed_demo
from core.migrate import upgrade
from core.models import Clinic, Provider
from core.settings import Settings
from integrations.ehr.hl7.adapter import Hl7Ehr
from integrations.ehr.hl7.listener import MllpListener
from integrations.ehr.protocol import EhrBooking, EhrPatient
from integrations.registry import AdapterContext
from tests.integrations.hl7_support import MllpClient, ack_code, running_peer, siu

OUTBOUND_P95_MS = 250.0
INBOUND_P95_MS = 100.0
FIRST = datetime(2031, 1, 6, 14, 0, tzinfo=UTC)  # far ahead: no clash with seeded bookings


def booking(clinic_id: str, provider_id: str, index: int) -> EhrBooking:
    start = FIRST + timedelta(hours=index)
    return EhrBooking(
        booking_key=f"bench-{uuid.uuid4().hex}/ehr",
        appointment_id=uuid.uuid4().hex,
        clinic_id=clinic_id,
        patient=EhrPatient(uuid.uuid4().hex, "Bench", "Patient", "1980-01-01", "+12075550100"),
        provider_id=provider_id,
        provider_external_id="dr-bench",
        appointment_type_code="cleaning",
        starts_at=start,
        ends_at=start + timedelta(minutes=60),
    )


async def outbound(db: Database, clinic_id: str, provider_id: str, count: int) -> list[float]:
    with tempfile.TemporaryDirectory() as directory, running_peer(Path(directory)) as peer:
        settings = peer.settings()
        ehr = Hl7Ehr(settings, AdapterContext(db=db, settings=Settings()))
        samples = []
        for index in range(count):
            started = time.perf_counter()
            stored = await ehr.book(booking(clinic_id, provider_id, index))
            samples.append((time.perf_counter() - started) * 1000)
            assert stored.status == "booked"
        await ehr.close()
        return samples


async def inbound(db: Database, provider_key: str, count: int) -> list[float]:
    listener = MllpListener(db, "127.0.0.1", 0)
    client = MllpClient(await listener.start())
    samples = []
    try:
        for index in range(count):
            start = FIRST + timedelta(days=400, hours=index)
            text = siu(
                "S12",
                control=f"B{index}",
                placer=f"PMS-B{index}",
                provider=provider_key,
                starts_at=start,
                ends_at=start + timedelta(minutes=60),
            )
            started = time.perf_counter()
            ack = await client.send(text)
            samples.append((time.perf_counter() - started) * 1000)
            assert ack_code(ack) == "AA"
    finally:
        await client.close()
        await listener.close()
    return samples


async def benchmark(args: argparse.Namespace) -> Sequence[Row]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        upgrade(url)
        db = Database(url)
        try:
            demo = await seed_demo(db)
            async with db.write() as session:
                clinic = await session.get(Clinic, demo.clinic_id)
                assert clinic is not None
                clinic.adapters = {
                    **clinic.adapters,
                    "ehr": {
                        "name": "hl7",
                        "settings": {"host": "127.0.0.1", "port": 1, "facility": "BRIGHTSMILE"},
                    },
                }
                session.add(clinic)
            providers = await _providers(db, demo.clinic_id)
            warm = 5
            out = await outbound(db, demo.clinic_id, providers[0][0], args.messages + warm)
            into = await inbound(db, providers[0][1], args.messages + warm)
        finally:
            await db.dispose()
    return [
        Row.of("outbound SIU^S12 -> AA (book, persistent conn.)", out[warm:], OUTBOUND_P95_MS),
        Row.of("inbound SIU^S12 -> applied -> AA", into[warm:], INBOUND_P95_MS),
    ]


async def _providers(db: Database, clinic_id: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.exec(select(Provider).where(Provider.clinic_id == clinic_id))).all()
    return [(p.id, p.key) for p in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (30 messages)")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = 30
    rows = asyncio.run(benchmark(args))
    print_table(rows)
    write_results(
        "hl7_interface",
        rows,
        notes=["SQLite, demo clinic; peer = tests/peers/hl7_peer.py in its own process."],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
