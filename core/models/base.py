"""Shared column types and helpers for the domain tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from core.security.columns import EncryptedText

PHI_INFO_KEY = "phi"


def new_id() -> str:
    """Opaque identifiers: safe in URLs, workflow ids and logs (they reveal nothing)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zone type, so values are stored as naive UTC and handed back aware;
    a naive value from our own code is a bug and is refused rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_field(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def phi_field(**kwargs: Any) -> Any:
    """A column holding protected health information.

    The marker lives in the column's ``info`` so the encryption layer, the log scrubber and the
    retention purge can find every PHI column from the metadata instead of a hand-kept list.
    """
    column_kwargs = kwargs.pop("sa_column_kwargs", {})
    column_kwargs.setdefault("info", {})[PHI_INFO_KEY] = True
    # Encrypted at rest (core.security.columns); equality lookups go through blind indexes.
    kwargs.setdefault("sa_type", EncryptedText)
    return Field(sa_column_kwargs=column_kwargs, **kwargs)


def phi_columns(model: type[SQLModel]) -> list[str]:
    table = model.__table__  # type: ignore[attr-defined]
    return [c.name for c in table.columns if c.info.get(PHI_INFO_KEY)]
