"""Shared benchmark helpers: percentiles, a results table, and a private local stack.

``bench_stack`` starts a headless Temporal dev server on a free port with its state in a temporary
SQLite file, and gives it a fresh migrated and seeded application database: a temporary SQLite
file, or a new database on the PostgreSQL server named by ``database_url``. Everything is synthetic
and removed afterwards.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from temporalio.client import Client

from core.db import Database, describe
from core.demo.seed import SeedReport, seed_demo
from core.migrate import upgrade
from core.settings import Settings
from core.temporal import data_converter
from stack.devserver import DevServer, free_port
from stack.temporal_cli import ensure_temporal_cli

# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolating linearly between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def p99(values: Sequence[float]) -> float:
    return percentile(values, 99)


# --- results table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One measured quantity. ``goal`` bounds the p95 (same unit), from above unless
    ``at_least`` (a floor, such as calls held); ratio = p95 / goal either way."""

    name: str
    n: int
    median: float | None
    p95: float | None = None
    p99: float | None = None
    goal: float | None = None
    unit: str = "ms"
    goal_stat: str = "p95"  # which statistic the goal bounds: "median", "p95" or "p99"
    at_least: bool = False  # the goal is a floor: the statistic must reach it

    @classmethod
    def of(
        cls,
        name: str,
        samples: Sequence[float],
        goal: float | None = None,
        unit: str = "ms",
        goal_stat: str = "p95",
    ) -> Row:
        if not samples:
            return cls(name, 0, None, None, None, goal, unit, goal_stat)
        return cls(
            name, len(samples), median(samples), p95(samples), p99(samples), goal, unit, goal_stat
        )

    @property
    def ratio(self) -> float | None:
        bounded = getattr(self, self.goal_stat)
        if self.goal is None or bounded is None or math.isnan(bounded):
            return None
        return bounded / self.goal

    @property
    def meets_goal(self) -> bool | None:
        ratio = self.ratio
        if ratio is None:
            return None
        return ratio >= 1.0 if self.at_least else ratio <= 1.0


def _fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 10_000 else f"{value / 1000:.2f} s"
    return f"{value:.1f} {unit}"


def _goal_cell(row: Row) -> str:
    if row.goal is None:
        return "-"
    prefix = "" if row.goal_stat == "p95" else f"{row.goal_stat} "
    return f"{prefix}{'>=' if row.at_least else '<='} {_fmt(row.goal, row.unit)}"


def format_table(rows: Sequence[Row]) -> str:
    header = ["name", "n", "median", "p95", "p99", "goal", "ratio"]
    body = []
    for row in rows:
        ratio = row.ratio
        body.append(
            [
                row.name,
                str(row.n),
                _fmt(row.median, row.unit),
                _fmt(row.p95, row.unit),
                _fmt(row.p99, row.unit),
                _goal_cell(row),
                "-" if ratio is None else f"{ratio:.2f}{'' if row.meets_goal else ' MISS'}",
            ]
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def print_table(rows: Sequence[Row]) -> None:
    print(format_table(rows), flush=True)


def format_grid(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A plain table of preformatted cells: first column left-aligned, the rest right-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


# --- machine ----------------------------------------------------------------------------------


def temporal_version(binary: Path) -> str:
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    return (result.stdout or result.stderr).strip() or f"unknown (exit {result.returncode})"


def machine_description(binary: Path) -> list[str]:
    return [
        f"cpus: {os.cpu_count()}  ({platform.machine()}, {platform.platform()})",
        f"python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"temporal: {temporal_version(binary)}  [{binary}]",
        "load average at start (1/5/15 min): "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
        + "  (other processes share these cores)",
    ]


# --- the stack --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchStack:
    client: Client
    db: Database
    server: DevServer
    temporal_binary: Path
    database_url: str  # printable (no password)
    db_kind: str  # "sqlite" or "postgresql <version>"
    demo: SeedReport


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _fresh_database(database_url: str | None, root: Path) -> Iterator[str]:
    """A URL of an empty database: a new SQLite file, or a new database on that PostgreSQL."""
    if database_url is None:
        yield f"sqlite:///{root / 'receptionist.db'}"
        return
    if make_url(database_url).get_backend_name() == "sqlite":
        raise SystemExit("--database-url is for PostgreSQL; SQLite is the default")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(_admin_dsn(database_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SystemExit(
            f"cannot create a scratch database on {describe(database_url)} ({exc}); "
            "the benchmark needs CREATE DATABASE rights so it never touches existing data"
        ) from None
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_dsn(database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _db_kind(db: Database) -> str:
    if db.is_sqlite:
        async with db.engine.connect() as conn:
            version = (await conn.execute(text("select sqlite_version()"))).scalar_one()
        return f"sqlite {version} (WAL, aiosqlite)"
    async with db.engine.connect() as conn:
        version = (await conn.execute(text("show server_version"))).scalar_one()
    return f"postgresql {version} (psycopg)"


@asynccontextmanager
async def bench_stack(database_url: str | None = None) -> AsyncIterator[BenchStack]:
    """A headless dev server on a free port and a fresh, migrated, seeded database."""
    binary = await asyncio.to_thread(ensure_temporal_cli, Settings())
    with tempfile.TemporaryDirectory(prefix="receptionist-bench-") as tmp:
        root = Path(tmp)
        server = DevServer(
            binary, root / "temporal.db", port=free_port(), ui_port=None,
            log_file=root / "temporal.log",
        )  # fmt: skip
        server.start()
        try:
            await server.wait_ready()
            with _fresh_database(database_url, root) as url:
                await asyncio.to_thread(upgrade, url)
                db = Database(url, pool_size=20)
                try:
                    demo = await seed_demo(db)
                    client = await Client.connect(server.address, data_converter=data_converter())
                    yield BenchStack(
                        client=client,
                        db=db,
                        server=server,
                        temporal_binary=binary,
                        database_url=describe(url),
                        db_kind=await _db_kind(db),
                        demo=demo,
                    )
                finally:
                    await db.dispose()
        finally:
            server.stop()
