"""Everything a database or a Temporal history holds, as text, to search for plaintext PHI."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from temporalio.client import Client

from core.db import Database


def sqlite_file_bytes(url: str) -> bytes:
    """The database file and its write-ahead log, byte for byte (what a stolen disk holds)."""
    path = Path(make_url(url).database or "")
    parts = [path, path.with_name(path.name + "-wal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def postgres_rows_text(url: str) -> bytes:
    """Every row of every table, as PostgreSQL renders it (what ``pg_dump`` would write)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    out: list[str] = []
    with psycopg.connect(dsn) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for name in tables:
            rows = conn.execute(f'SELECT t::text FROM "{name}" t').fetchall()
            out.extend(f"{name}: {row[0]}" for row in rows)
    return "\n".join(out).encode()


def database_dump(db: Database, url: str) -> bytes:
    return sqlite_file_bytes(url) if db.is_sqlite else postgres_rows_text(url)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def history_bytes(history_json: str) -> bytes:
    """A history's strings, plus every base64 field decoded (payload data is base64 in JSON,
    so plaintext PHI in a payload would be invisible to a plain text search)."""
    parts: list[bytes] = []
    for text in _strings(json.loads(history_json)):
        parts.append(text.encode())
        with contextlib.suppress(binascii.Error, ValueError):
            parts.append(base64.b64decode(text, validate=True))
    return b"\n".join(parts)


async def histories_since(client: Client, query: str) -> dict[str, bytes]:
    """workflow id -> searchable bytes of its raw history, for the workflows ``query`` lists."""
    found: dict[str, bytes] = {}
    async for execution in client.list_workflows(query):
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        found[execution.id] = history_bytes(history.to_json())
    return found


def leaks(haystack: bytes, needles: list[str]) -> list[str]:
    """The needles (PHI values) found in ``haystack``, case-insensitively."""
    lowered = haystack.lower()
    return [n for n in needles if n.lower().encode() in lowered]
