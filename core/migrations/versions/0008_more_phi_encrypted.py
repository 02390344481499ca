"""more PHI encrypted: free-text reasons and the EHR's patient id (with a blind index)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00

``call.transfer_reason`` and ``appointment.cancel_reason`` hold words from the agent or the
caller ("swelling with fever"), and ``patient.external_ehr_id`` is the EHR's record number: all
three go under the same AES-256-GCM column encryption as the rest of the PHI. The EHR id is
looked up by equality, so it gains a keyed blind index. Existing rows are converted in place;
downgrade decrypts them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.security import crypto
from core.security.rotation import PhiTable, reencrypt

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key, column, old length)
COLUMNS = [
    ('call', 'id', 'transfer_reason', 200),
    ('appointment', 'id', 'cancel_reason', 200),
    ('patient', 'id', 'external_ehr_id', 128),
]


def _tables() -> list[PhiTable]:
    return [PhiTable(name, pk, (column,)) for name, pk, column, _ in COLUMNS]


def _has_values() -> bool:
    conn = op.get_bind()
    return any(
        conn.execute(sa.text(f'SELECT 1 FROM "{name}" WHERE {column} IS NOT NULL LIMIT 1')).first()
        for name, _, column, _ in COLUMNS
    )


def _fill_ehr_index(keyring: crypto.Keyring) -> None:
    """Runs before encryption, so it reads the plaintext."""
    conn = op.get_bind()
    rows = conn.execute(sa.text('SELECT id, external_ehr_id FROM patient WHERE external_ehr_id IS NOT NULL')).all()
    with crypto.using_keyring(keyring):
        for pid, ehr_id in rows:
            conn.execute(
                sa.text('UPDATE patient SET external_ehr_index = :x WHERE id = :id'),
                {'x': crypto.blind_index('ehr_id', ehr_id), 'id': pid},
            )


def upgrade() -> None:
    op.add_column('patient', sa.Column('external_ehr_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index(op.f('ix_patient_external_ehr_index'), 'patient', ['external_ehr_index'], unique=False)
    # SQLite ignores VARCHAR lengths; PostgreSQL needs room for the ciphertext.
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, column, length in COLUMNS:
            op.alter_column(name, column, existing_type=sa.VARCHAR(length=length), type_=sa.String(), existing_nullable=True)
    if _has_values():  # a fresh database needs no keyring yet
        keyring = crypto.keyring()
        _fill_ehr_index(keyring)
        reencrypt(op.get_bind(), _tables(), keyring)


def downgrade() -> None:
    if _has_values():
        reencrypt(op.get_bind(), _tables(), crypto.keyring(), to_plaintext=True)
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, column, length in COLUMNS:
            op.alter_column(name, column, existing_type=sa.String(), type_=sa.VARCHAR(length=length), existing_nullable=True)
    op.drop_index(op.f('ix_patient_external_ehr_index'), table_name='patient')
    op.drop_column('patient', 'external_ehr_index')
