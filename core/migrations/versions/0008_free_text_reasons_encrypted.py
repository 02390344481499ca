"""free-text reasons encrypted: call.transfer_reason and appointment.cancel_reason become PHI

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00

Both hold words from the agent or the caller ("swelling with fever"): clinical detail that
belongs under the same AES-256-GCM column encryption as the rest of the PHI. Existing rows are
encrypted in place; downgrade decrypts them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.security import crypto
from core.security.rotation import PhiTable, reencrypt

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key, column, old length)
COLUMNS = [('call', 'id', 'transfer_reason', 200), ('appointment', 'id', 'cancel_reason', 200)]


def _tables() -> list[PhiTable]:
    return [PhiTable(name, pk, (column,)) for name, pk, column, _ in COLUMNS]


def _has_values() -> bool:
    conn = op.get_bind()
    return any(
        conn.execute(sa.text(f'SELECT 1 FROM "{name}" WHERE {column} IS NOT NULL LIMIT 1')).first()
        for name, _, column, _ in COLUMNS
    )


def upgrade() -> None:
    # SQLite ignores VARCHAR lengths; PostgreSQL needs room for the ciphertext.
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, column, length in COLUMNS:
            op.alter_column(name, column, existing_type=sa.VARCHAR(length=length), type_=sa.String(), existing_nullable=True)
    if _has_values():  # a fresh database needs no keyring yet
        reencrypt(op.get_bind(), _tables(), crypto.keyring())


def downgrade() -> None:
    if _has_values():
        reencrypt(op.get_bind(), _tables(), crypto.keyring(), to_plaintext=True)
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, column, length in COLUMNS:
            op.alter_column(name, column, existing_type=sa.String(), type_=sa.VARCHAR(length=length), existing_nullable=True)
