"""The same campaign facade through the admin REST API (clinic-scoped tokens) and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import AuditEvent, Role
from core.security.crypto import local_keyring_path
from core.settings import get_settings
from stack.devserver import DevServer
from tests.campaigns.support import add_recall_patients, configure_outreach
from tests.support.accounts import create_account
from tests.support.voice import serve_voice
from tests.support.workers import running_worker

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]


async def test_admin_api_creates_previews_starts_and_reports(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> None:  # fmt: skip
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 4)
    staff = await create_account(db, demo.clinic_id, Role.STAFF)
    async with db.write() as session:
        from core.models import Clinic

        other = Clinic(slug="elsewhere", name="Elsewhere", time_zone="UTC")
        session.add(other)
    outsider = await create_account(db, other.id, Role.ADMIN)
    async with (
        running_worker(temporal_client, db) as prefix,
        serve_voice(database_url, temporal_server.address, prefix, tmp_path) as api,
    ):
        base = f"{api.base_url}/api/clinics/{demo.clinic_id}/campaigns"
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.post(base, headers=staff.headers, json={
                "name": "Bad", "audience": "hygiene_recall", "template": "Hi {nickname}"})  # fmt: skip
            assert refused.status_code == 422 and "unknown placeholder {nickname}" in refused.text
            created = await http.post(base, headers=staff.headers,
                                      json={"name": "Recall", "audience": "hygiene_recall"})  # fmt: skip
            assert created.status_code == 201, created.text
            campaign = created.json()
            assert campaign["status"] == "draft"
            url = f"{base}/{campaign['id']}"
            assert (await http.get(url, headers=outsider.headers)).status_code == 404
            assert (await http.get(url)).status_code == 401
            preview = (await http.get(f"{url}/preview", headers=staff.headers)).json()
            assert preview["total"] >= 4 and all(r["reason"] for r in preview["rows"])
            async with db.read() as session:  # the patients it named are audited reads
                audited = (await session.exec(select(AuditEvent.record_id).where(
                    AuditEvent.record_type == "patient", AuditEvent.action == "read"))).all()  # fmt: skip
            assert {r["patient_id"] for r in preview["rows"]} <= set(audited)
            started = await http.post(f"{url}/start", headers=staff.headers)
            assert started.status_code == 200 and started.json()["status"] in (
                "scheduled",
                "running",
            )
            again = await http.post(f"{url}/start", headers=staff.headers)
            assert again.status_code == 422 and "already started" in again.text
            cancelled = await http.post(f"{url}/cancel", headers=staff.headers)
            assert cancelled.json()["status"] == "cancelled"
            progress = (await http.get(f"{url}/progress", headers=staff.headers)).json()
            assert progress["status"] == "cancelled"
            assert set(progress) >= {"sent", "delivered", "confirmed", "rebooked", "opted_out",
                                     "failed", "skipped"}  # fmt: skip
            listed = (await http.get(base, headers=staff.headers)).json()
            assert [c["id"] for c in listed] == [campaign["id"]]


def _cli(database_url: str, temporal_address: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RECEPTIONIST_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        RECEPTIONIST_KEYRING_FILE=str(local_keyring_path(get_settings())),
    )
    return subprocess.run(
        [sys.executable, "-m", "cli", "campaign", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_cli_create_preview_and_status(
    db: Database, database_url: str, demo: SeedReport, temporal_server: DevServer
) -> None:
    await add_recall_patients(db, demo.clinic_id, 2)
    address = temporal_server.address
    bad = _cli(database_url, address, "create", "--clinic", "bright-smile", "--name", "x",
               "--audience", "hygiene_recall", "--template", "See you {appointment_time}")  # fmt: skip
    assert bad.returncode == 2 and "needs an appointment" in bad.stderr
    made = _cli(database_url, address, "create", "--clinic", "bright-smile", "--name", "Recall",
                "--audience", "hygiene_recall", "--cron", "0 10 * * MON")  # fmt: skip
    assert made.returncode == 0, made.stderr
    campaign_id = made.stdout.split()[0]
    preview = _cli(database_url, address, "preview", campaign_id)
    assert preview.returncode == 0, preview.stderr
    assert "hygiene recall due" in preview.stdout and "First message:" in preview.stdout
    status = _cli(database_url, address, "status", campaign_id)
    assert status.returncode == 0 and "status: draft" in status.stdout
    missing = _cli(database_url, address, "status", "nope")
    assert missing.returncode == 2 and "no campaign" in missing.stderr
