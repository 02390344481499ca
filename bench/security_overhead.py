"""What protecting PHI costs: per-value encryption, blind indexes, the Temporal codec, a patient
lookup through a blind index, and an audit append, on this machine.

    uv run python -m bench.security_overhead [--rounds N]

There is no DESIGN.md goal for these; the budget they eat is the voice loop's per-turn
overhead (p95 <= 15 ms), so each figure is printed with its share of that budget.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlmodel import select
from temporalio.api.common.v1 import Payload

from bench.common import median, p95
from core.db import Database
from core.demo.seed import seed_demo
from core.migrate import upgrade
from core.models import Patient
from core.security import audit, crypto
from core.security.payload_codec import EncryptionCodec

TURN_BUDGET_MS = 15.0


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def timed_async(fn: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    return (
        f"{name:42} median {median(samples):8.3f} ms  p95 {p95(samples):8.3f} ms  "
        f"p95/turn budget {p95(samples) / TURN_BUDGET_MS:6.1%}"
    )


async def main(rounds: int) -> None:
    ring = crypto.keyring()
    token = ring.encrypt_text("+12075550111")
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"x" * 1024)
    codec = EncryptionCodec()
    print(row("encrypt one value", timed(lambda: ring.encrypt_text("+12075550111"), rounds)))
    print(row("decrypt one value", timed(lambda: ring.decrypt_text(token), rounds)))
    print(
        row("blind index (phone)", timed(lambda: ring.blind_index("phone", "+12075550111"), rounds))
    )

    async def codec_round_trip() -> None:
        await codec.decode(await codec.encode([payload]))

    print(row("codec encode+decode, 1 KiB payload", await timed_async(codec_round_trip, rounds)))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        try:
            await seed_demo(db)
            index = crypto.blind_index("phone", "+12075550111")

            async def lookup() -> None:
                async with db.read() as session:
                    patient = (
                        await session.exec(select(Patient).where(Patient.phone_index == index))
                    ).one()
                    assert patient.last_name == "Rivera"

            async def append() -> None:
                await audit.system_access(
                    db, "bench", clinic_id="c", record_type="patient", record_id="p"
                )

            lookups = max(50, rounds // 20)
            print(row("patient by phone (SQLite, decrypting)", await timed_async(lookup, lookups)))
            print(row("audit append (SQLite, own transaction)", await timed_async(append, lookups)))
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    asyncio.run(main(parser.parse_args().rounds))
