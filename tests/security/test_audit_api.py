"""The audit export and chain check through the API: admins of the clinic only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from api import create_app
from core.db import Database
from core.demo.seed import SeedReport
from core.models import Role
from core.security import audit
from core.settings import Settings
from tests.support.accounts import create_account


async def test_admins_export_their_clinic_and_see_tampering(
    db: Database, database_url: str, demo: SeedReport, tmp_path: Path
) -> None:
    admin = await create_account(db, demo.clinic_id, Role.ADMIN)
    staff = await create_account(db, demo.clinic_id, Role.STAFF)
    operator = await create_account(db, None, Role.OPERATOR)
    await audit.system_access(
        db, "voice-agent", clinic_id=demo.clinic_id, record_type="patient", record_id="p1"
    )
    await audit.system_access(db, "voice-agent", clinic_id="elsewhere", record_type="patient",
                              record_id="p2")  # fmt: skip
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    base = f"/api/clinics/{demo.clinic_id}/audit"
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, temporal_address="127.0.0.1:1"
    )
    with TestClient(create_app(settings)) as client:
        exported = client.get(base, params=window, headers=admin.headers)
        assert exported.status_code == 200
        body = exported.json()
        assert {e["clinic_id"] for e in body["events"]} == {demo.clinic_id}
        assert ("system:voice-agent", "p1") in {
            (e["actor"], e["record_id"]) for e in body["events"]
        }
        assert client.get(base, params=window, headers=staff.headers).status_code == 403
        assert client.get(base, params=window).status_code == 401
        backwards = {"start": window["end"], "end": window["start"]}
        assert client.get(base, params=backwards, headers=admin.headers).status_code == 422
        platform = client.get("/api/audit", params=window, headers=operator.headers)
        assert platform.status_code == 200
        assert {"elsewhere", demo.clinic_id} <= {e["clinic_id"] for e in platform.json()["events"]}
        assert client.get("/api/audit", params=window, headers=admin.headers).status_code == 403

        assert client.get(f"{base}/verify", headers=admin.headers).json() == {
            "intact": True, "first_broken_id": None, "reason": None,
        }  # fmt: skip
        target = body["events"][0]["id"]
        async with db.write() as session:
            await (await session.connection()).execute(
                text("UPDATE auditevent SET record_id = 'p9' WHERE id = :i"), {"i": target}
            )
        check = client.get(f"{base}/verify", headers=admin.headers).json()
        assert check["intact"] is False and check["first_broken_id"] == target
    # Exporting is itself recorded.
    events = await audit.export(db, now - timedelta(hours=1), datetime.now(UTC), demo.clinic_id)
    assert (admin.user_id, "export", "audit_log") in {
        (e["actor"], e["action"], e["record_type"]) for e in events
    }
