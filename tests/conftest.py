"""Shared fixtures: real SQLite and PostgreSQL databases, and one real Temporal dev server.

Missing infrastructure skips the tests that need it on a developer machine, and fails them in
CI (``CI`` set), where `.ci/run` installs everything.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport, seed_demo
from core.migrate import upgrade
from core.settings import Settings
from core.temporal import data_converter
from stack.devserver import DevServer, free_port
from stack.temporal_cli import TemporalCliUnavailable, ensure_temporal_cli
from tests.support.postgres import PostgresServer, find_bindir

IN_CI = bool(os.environ.get("CI"))
# A Monday afternoon, so the seeded week has every weekday ahead of it.
DEMO_NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"]
        return
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).render_as_string(hide_password=False), autocommit=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str | None) -> str | None:
    if postgres_url is None:
        return None
    name = f"tmpl_{uuid.uuid4().hex[:8]}"
    with _admin(postgres_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(make_url(postgres_url).set(database=name))
    return name


def new_database_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database of ``kind`` for one test."""
    if kind == "sqlite":
        target = tmp_path / "receptionist.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    postgres_url = request.getfixturevalue("postgres_url")
    if postgres_url is None:
        unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_url) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{request.getfixturevalue("postgres_template")}"'
        )
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_database_url(request.param, tmp_path, request)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_database_url("sqlite", tmp_path, request)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=20)
    yield database
    await database.dispose()


@pytest.fixture
async def demo(db: Database) -> SeedReport:
    return await seed_demo(db, now=DEMO_NOW)


@pytest.fixture(scope="session")
def temporal_binary() -> Path:
    try:
        return ensure_temporal_cli(Settings())
    except TemporalCliUnavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
async def temporal_server(
    temporal_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevServer]:
    root = tmp_path_factory.mktemp("temporal")
    server = DevServer(
        temporal_binary, root / "temporal.db", port=free_port(), ui_port=None,
        log_file=root / "temporal.log",
    )  # fmt: skip
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: DevServer) -> Client:
    return await Client.connect(temporal_server.address, data_converter=data_converter())


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"
