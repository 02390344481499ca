"""Migrations and models agree, on both databases, and migrations run down and up again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import core.models  # noqa: F401
from core.db import sync_url
from core.migrate import downgrade, upgrade


def diff(url: str) -> list:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_matches_models(database_url: str) -> None:
    assert diff(database_url) == []


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    downgrade(database_url, "base")
    assert tables(database_url) <= {"alembic_version"}
    upgrade(database_url)
    assert {"clinic", "appointment", "slotclaim", "auditevent"} <= tables(database_url)
    assert diff(database_url) == []
