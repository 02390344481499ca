"""The command line says what is missing instead of printing a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

from core.demo.seed import DEMO_CONFIG
from stack.devserver import free_port

ROOT = Path(__file__).resolve().parents[1]


def receptionist(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECEPTIONIST_", "DATABASE_URL", "TEMPORAL_"))
    }
    environment.update(RECEPTIONIST_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_postgres_is_explained(tmp_path: Path) -> None:
    url = f"postgresql://clinic:secret@127.0.0.1:{free_port()}/receptionist"
    result = receptionist("migrate", tmp_path=tmp_path, DATABASE_URL=url)
    assert result.returncode == 2
    assert "error: cannot open the database postgresql://clinic:***@127.0.0.1" in result.stderr
    assert "start PostgreSQL or fix DATABASE_URL" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_unsupported_database_is_explained(tmp_path: Path) -> None:
    result = receptionist("migrate", tmp_path=tmp_path, DATABASE_URL="mysql://x@localhost/db")
    assert result.returncode == 2
    assert "'mysql' is not supported" in result.stderr


def test_unreachable_temporal_is_explained(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert receptionist("migrate", tmp_path=tmp_path).returncode == 0
    result = receptionist("worker", tmp_path=tmp_path, TEMPORAL_ADDRESS=address)
    assert result.returncode == 2
    assert f"error: cannot reach Temporal at {address}" in result.stderr
    assert "receptionist dev" in result.stderr and "Traceback" not in result.stderr


def test_seed_refuses_invalid_clinic_config_naming_the_field(tmp_path: Path) -> None:
    data = json.loads(DEMO_CONFIG.read_text())
    data["time_zone"] = "Mars/Olympus_Mons"
    data["appointment_types"][2]["duration_minutes"] = 0
    bad = tmp_path / "clinic.json"
    bad.write_text(json.dumps(data))
    result = receptionist("seed", "--config", str(bad), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "time_zone: unknown time zone 'Mars/Olympus_Mons'" in result.stderr
    assert "appointment_types.2.duration_minutes" in result.stderr


def test_seed_demo_then_config_round_trip(tmp_path: Path) -> None:
    first = receptionist("seed", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Bright Smile Dental" in first.stdout and "8 patients, 6 appointments" in first.stdout
    again = receptionist("seed", tmp_path=tmp_path)
    assert "8 patients, 6 appointments" in again.stdout
    assert receptionist("seed", "--config", str(DEMO_CONFIG), tmp_path=tmp_path).returncode == 0
