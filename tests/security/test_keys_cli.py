"""`receptionist keys rotate` end to end, in its own process, as an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.security import crypto

ROOT = Path(__file__).resolve().parents[2]


def receptionist(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECEPTIONIST_", "DATABASE_URL", "TEMPORAL_"))
    }
    environment.update(RECEPTIONIST_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def key_ids(database: Path) -> set[str | None]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT first_name, last_name, phone FROM patient").fetchall()
    return {crypto.text_key_id(value) for row in rows for value in row if value}


def test_rotate_adds_a_key_and_reencrypts_everything(tmp_path: Path) -> None:
    seeded = receptionist("seed", data_dir=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    keyring_file = tmp_path / crypto.KEYRING_FILE
    before = json.loads(keyring_file.read_text())
    assert key_ids(tmp_path / "receptionist.db") == {before["active"]}

    rotated = receptionist("keys", "rotate", "--batch-size", "4", data_dir=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    after = json.loads(keyring_file.read_text())
    assert after["active"] != before["active"]
    assert set(after["keys"]) == {before["active"], after["active"]}
    assert f"Active key {after['active']}: re-encrypted" in rotated.stdout
    assert key_ids(tmp_path / "receptionist.db") == {after["active"]}


def test_rotate_refuses_to_invent_keys_for_an_externally_managed_keyring(tmp_path: Path) -> None:
    managed = crypto.dump_keyring(crypto.generate_keyring())
    result = receptionist("keys", "rotate", data_dir=tmp_path, RECEPTIONIST_KEYRING=managed)
    assert result.returncode == 2
    assert "--reencrypt-only" in result.stderr and "Traceback" not in result.stderr
    again = receptionist(
        "keys", "rotate", "--reencrypt-only", data_dir=tmp_path, RECEPTIONIST_KEYRING=managed
    )
    assert again.returncode == 0, again.stderr
    assert "re-encrypted 0 rows" in again.stdout
