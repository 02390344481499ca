"""`receptionist mllp-listen` as its own process, fed by a real MLLP client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.db import Database
from core.demo.seed import seed_demo
from core.models import Appointment, Clinic, Provider
from tests.conftest import DEMO_NOW
from tests.integrations.hl7_support import ROOT, MllpClient, ack_code, siu
from tests.support.booking import free_slots


@pytest.fixture
def listener_process(sqlite_url: str) -> Iterator[int]:
    env = {**os.environ, "DATABASE_URL": sqlite_url, "RECEPTIONIST_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "mllp-listen", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r":(\d+) \(MLLP\)", line)
        assert found, f"unexpected output: {line!r}"
        yield int(found.group(1))
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


async def test_listener_command_applies_siu(sqlite_url: str, listener_process: int) -> None:
    db = Database(sqlite_url)
    try:
        demo = await seed_demo(db, now=DEMO_NOW)
        async with db.write() as session:
            clinic = await session.get(Clinic, demo.clinic_id)
            assert clinic is not None
            clinic.adapters = {
                **clinic.adapters,
                "ehr": {
                    "name": "hl7",
                    "settings": {"host": "pms", "port": 2575, "facility": "BRIGHTSMILE"},
                },
            }
            session.add(clinic)
        [slot] = await free_slots(db, demo.clinic_id)
        async with db.read() as session:
            provider = await session.get(Provider, slot.provider_id)
        assert provider is not None
        client = MllpClient(listener_process)
        try:
            ack = await client.send(
                siu(
                    "S12",
                    control="CLI1",
                    placer="PMS-CLI",
                    provider=provider.key,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                )
            )
        finally:
            await client.close()
        assert ack_code(ack) == "AA"
        async with db.read() as session:
            stored = (
                await session.exec(
                    select(Appointment).where(Appointment.external_ehr_id == "PMS-CLI")
                )
            ).one()
        assert stored.starts_at == slot.starts_at
    finally:
        await db.dispose()
