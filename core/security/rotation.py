"""Key rotation: re-encrypting PHI columns (in batches) and recordings under the active key; also
encrypts rows written before encryption existed (migration 0004).

Works on raw column text (no ORM types), so it handles ciphertext under any key in the keyring
and plaintext alike, on a plain synchronous connection (the CLI and Alembic both have one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, and_, column, create_engine, or_, select, table, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlmodel import SQLModel

from core.db import Database, install_sqlite_pragmas, sync_url
from core.models.base import PHI_INFO_KEY
from core.security import audit, recordings
from core.security.crypto import (
    TEXT_PREFIX,
    Keyring,
    KeyringError,
    install_keyring,
    is_encrypted_text,
    load_keyring,
    local_keyring_path,
    with_new_active_key,
    write_keyring_file,
)
from core.settings import Settings


@dataclass(frozen=True)
class PhiTable:
    name: str
    primary_key: str
    columns: tuple[str, ...]


def phi_tables(metadata: MetaData) -> list[PhiTable]:
    """Every table with PHI columns, found by the ``phi_field`` marker."""
    found = []
    for tbl in metadata.sorted_tables:
        phi = tuple(c.name for c in tbl.columns if c.info.get(PHI_INFO_KEY))
        pk = [c.name for c in tbl.primary_key.columns]
        if phi and len(pk) == 1:
            found.append(PhiTable(tbl.name, pk[0], phi))
    return found


def _stale(name: str, target_prefix: str | None) -> ColumnElement[bool]:
    """The column holds something other than the wanted form (ciphertext under the active key,
    or plaintext when decrypting)."""
    col: ColumnClause[Any] = column(name)
    if target_prefix is None:
        return and_(col.is_not(None), col.like(f"{TEXT_PREFIX}%"))
    return and_(col.is_not(None), col.not_like(f"{target_prefix}%"))


def reencrypt(
    conn: Connection,
    tables: Iterable[PhiTable],
    keyring: Keyring,
    *,
    batch_size: int = 500,
    commit_batches: bool = False,
    to_plaintext: bool = False,
) -> dict[str, int]:
    """Bring every PHI value under the keyring's active key (or back to plaintext, for a
    downgrade); returns rows rewritten per table. With ``commit_batches`` each batch commits on
    its own, so a long rotation holds no long lock and can be resumed after an interruption."""
    target = None if to_plaintext else f"{TEXT_PREFIX}{keyring.active}."
    counts: dict[str, int] = {}
    for spec in tables:
        tbl = table(spec.name, column(spec.primary_key), *(column(c) for c in spec.columns))
        pk = tbl.c[spec.primary_key]
        stale = or_(*(_stale(c, target) for c in spec.columns))
        last: object = None
        counts[spec.name] = 0
        while True:
            query = select(pk, *(tbl.c[c] for c in spec.columns)).where(stale)
            if last is not None:
                query = query.where(pk > last)
            rows = conn.execute(query.order_by(pk).limit(batch_size)).all()
            if not rows:
                break
            for row in rows:
                values = {}
                for name, value in zip(spec.columns, row[1:], strict=True):
                    if value is None:
                        continue
                    plain = keyring.decrypt_text(value) if is_encrypted_text(value) else value
                    values[name] = plain if to_plaintext else keyring.encrypt_text(plain)
                conn.execute(update(tbl).where(pk == row[0]).values(**values))
            counts[spec.name] += len(rows)
            last = rows[-1][0]
            if commit_batches:
                conn.commit()
    return counts


@dataclass(frozen=True)
class RotationReport:
    active_key: str
    rows: dict[str, int]
    recordings: int


def _reencrypt_database(url: str, keyring: Keyring, batch_size: int) -> dict[str, int]:
    target = sync_url(url)
    engine = create_engine(target)
    if target.get_backend_name() == "sqlite":
        install_sqlite_pragmas(engine)
    try:
        with engine.connect() as conn:
            tables = phi_tables(SQLModel.metadata)
            return reencrypt(conn, tables, keyring, batch_size=batch_size, commit_batches=True)
    finally:
        engine.dispose()


async def rotate_keys(
    settings: Settings, *, new_key: bool = True, batch_size: int = 500
) -> RotationReport:
    """Make a new key active (in the local keyring file) and re-encrypt every PHI column and
    recording under it, batch by batch. With a keyring from ``RECEPTIONIST_KEYRING`` (managed
    outside), the operator makes the new key active there and runs this with ``new_key=False``
    to re-encrypt only."""
    keyring = load_keyring(settings)
    if new_key:
        if settings.keyring:
            raise KeyringError(
                "the keyring comes from RECEPTIONIST_KEYRING: add the new key there, make it "
                "active, then re-encrypt with `receptionist keys rotate --reencrypt-only`"
            )
        keyring = with_new_active_key(keyring)
        write_keyring_file(local_keyring_path(settings), keyring)
    install_keyring(keyring)
    url = settings.resolved_database_url
    rows = await asyncio.to_thread(_reencrypt_database, url, keyring, batch_size)
    sealed = await asyncio.to_thread(recordings.reseal_all, settings.data_dir, keyring)
    db = Database(url)
    try:
        await audit.system_access(
            db, "keys", clinic_id=None, record_type="keyring", record_id=keyring.active,
            action=audit.Action.UPDATE,
            detail={"rows": sum(rows.values()), "recordings": sealed, "new_key": new_key},
        )  # fmt: skip
    finally:
        await db.dispose()
    return RotationReport(keyring.active, rows, sealed)
