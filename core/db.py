"""Database engines and sessions: one URL, an async engine for the running system and a sync
URL for Alembic. SQLite (default) and PostgreSQL are both first-class.

SQLite details that matter for correctness under concurrency:
- WAL journal and a busy timeout, so readers never block the single writer and writers queue;
- write transactions start with ``BEGIN IMMEDIATE``. A deferred transaction that reads before it
  writes can fail with SQLITE_BUSY when it upgrades its lock (the busy handler does not retry that
  case), which under load turns "slot taken" into a spurious error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_IMMEDIATE = "receptionist_sqlite_immediate"


class DatabaseConfigError(ValueError):
    """The database URL names a backend we do not support."""


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseConfigError(
        f"DATABASE_URL backend {backend!r} is not supported; use sqlite:///path or postgresql://…"
    )


def async_url(url: str | URL) -> URL:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def sync_url(url: str | URL) -> URL:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed


def describe(url: str | URL) -> str:
    """The URL without its password, safe to print."""
    return make_url(url).render_as_string(hide_password=True)


def install_sqlite_pragmas(sync_engine: Any) -> None:
    """WAL, busy timeout, foreign keys, and explicit BEGIN handling (see module docstring)."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The application's handle on its database.

    ``read()`` gives a session for lookups; ``write()`` gives a session inside one transaction
    that commits on success and rolls back on any exception.
    """

    def __init__(self, url: str | URL, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            install_sqlite_pragmas(self.engine.sync_engine)
        writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._reader = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self._writer() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message says how to fix it."""


def explain_unreachable(url: str | URL, exc: BaseException) -> DatabaseUnavailable:
    hint = (
        "check that the directory is writable"
        if make_url(url).get_backend_name() == "sqlite"
        else "start PostgreSQL or fix DATABASE_URL"
    )
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return DatabaseUnavailable(f"cannot open the database {describe(url)} ({reason}); {hint}")
