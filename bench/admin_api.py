"""Admin API speed on a busy clinic: login (Argon2id), the call log, a call's detail (with its
audit event), the appointment list (an audit event per patient record), metrics over 30 and 90
days, and a Prometheus scrape. In-process (httpx over ASGI) on a SQLite file, one clinic with
``--calls`` calls spread over 90 days (6 turns each).

    uv run python -m bench.admin_api [--calls 5000] [--rounds 20] [--quick]

Goals are this project's own (DESIGN.md sets none for the admin path): a page of the dashboard
should answer within a tenth of a second, metrics within half a second.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from api import create_app
from bench.common import Row, print_table
from core.db import Database
from core.migrate import upgrade
from core.models import Call, CallOutcome, Role, TranscriptTurn, utcnow
from core.settings import Settings
from tests.admin.tenants import make_tenant
from tests.conftest import DEMO_NOW
from tests.support.accounts import create_account

OUTCOMES = [
    CallOutcome.BOOKED,
    CallOutcome.ANSWERED,
    CallOutcome.TRANSFERRED,
    CallOutcome.CANCELLED,
]


async def _fill(db: Database, clinic_id: str, calls: int) -> None:
    now = utcnow()
    for start in range(0, calls, 500):
        async with db.write() as session:
            for i in range(start, min(calls, start + 500)):
                began = now - timedelta(minutes=i * 90 * 24 * 60 / calls)
                call = Call(
                    clinic_id=clinic_id, call_sid=f"CAbench{i}", started_at=began,
                    ended_at=began + timedelta(seconds=60 + i % 240), outcome=OUTCOMES[i % 4],
                    transfer_reason="caller asked for a person" if i % 4 == 2 else None,
                    tools_used=["find_slots", "book_appointment"] if i % 2 == 0 else [],
                    workflow_ids=[f"call-CAbench{i}"],
                    turn_latencies=[{"first_media_ms": 300.0 + (i * 7 + t * 13) % 400}
                                    for t in range(6)],
                )  # fmt: skip
                session.add(call)
                await session.flush()
                for seq in range(6):
                    role = "caller" if seq % 2 else "agent"
                    session.add(
                        TranscriptTurn(call_id=call.id, seq=seq, role=role, text=f"line {seq}")
                    )


async def _time(
    client: httpx.AsyncClient, rounds: int, method: str, url: str, **kw: Any
) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.request(method, url, **kw)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code < 400, (url, response.status_code, response.text[:200])
    return samples


async def main(calls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.db"
        upgrade(url)
        settings = Settings(
            database_url=url, data_dir=Path(scratch), temporal_address="127.0.0.1:1"
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            db = app.state.services.db
            tenant = await make_tenant(db, Path(scratch), DEMO_NOW)
            await _fill(db, tenant.clinic_id, calls)
            operator = await create_account(db, None, Role.OPERATOR)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="https://bench") as client:
                base = f"/api/clinics/{tenant.clinic_id}"
                auth = tenant.admin.headers
                today = utcnow().date()
                # The login limiter lets 5 attempts through at once: time that many.
                login = await _time(
                    client, 5, "POST", "/api/auth/login",
                    json={"email": tenant.admin.email, "password": tenant.admin.password},
                )  # fmt: skip
                month, quarter = (
                    {"from": str(today - timedelta(days=days - 1)), "to": str(today)}
                    for days in (30, 90)
                )
                cases = [
                    ("call log, 50 newest", f"{base}/calls", {}, auth, 100),
                    ("call detail + audit", f"{base}/calls/{tenant.call_id}", {}, auth, 100),
                    ("appointments + audit", f"{base}/appointments", {}, auth, 100),
                    ("metrics, 30 days", f"{base}/metrics", month, auth, 500),
                    ("metrics, 90 days", f"{base}/metrics", quarter, auth, 500),
                    ("prometheus scrape", "/metrics", {}, operator.headers, 100),
                ]
                rows = [Row.of("login (Argon2id)", login, goal=500)]
                for name, path, params, headers, goal in cases:
                    samples = await _time(
                        client, rounds, "GET", path, params=params, headers=headers
                    )
                    rows.append(Row.of(name, samples, goal=goal))
    print(f"admin API, one clinic with {calls} calls over 90 days, SQLite, {rounds} rounds each")
    print_table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1000 calls, 5 rounds (smoke run)")
    args = parser.parse_args()
    asyncio.run(main(1000, 5) if args.quick else main(args.calls, args.rounds))
