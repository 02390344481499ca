"""Schema migrations (Alembic), applied programmatically so no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from core.db import install_sqlite_pragmas, sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _run(url: str | URL, action: str, *args: object, **kwargs: object) -> None:
    target = sync_url(url)
    if target.get_backend_name() == "sqlite" and target.database:
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target)
    if target.get_backend_name() == "sqlite":
        install_sqlite_pragmas(engine)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, *args, **kwargs)
    finally:
        engine.dispose()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating it when it is a new SQLite file)."""
    _run(url, "upgrade", revision)


def downgrade(url: str | URL, revision: str) -> None:
    _run(url, "downgrade", revision)


def autogenerate(url: str | URL, message: str, rev_id: str, parent: str = "head") -> None:
    """Developer tool: write revision ``rev_id`` (child of ``parent``) from the difference
    between the models and the database at ``url`` (which must be at the current head)."""
    _run(url, "revision", message=message, autogenerate=True, rev_id=rev_id, head=parent)
