"""phi encryption: PHI columns become ciphertext (unbounded VARCHAR), blind-index columns, retention periods

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 13:59:09.247893

Existing rows are encrypted in place under the active key of the configured keyring, and the
blind indexes of existing patients and coverages are computed. Downgrade decrypts them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.security import crypto
from core.security.rotation import PhiTable, reencrypt

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key, {column: (old length, nullable)}) as of this revision.
PHI: list[tuple[str, str, dict[str, tuple[int, bool]]]] = [
    ('appointment', 'id', {'notes': (4000, True)}),
    ('call', 'id', {'from_number': (512, True), 'summary': (8000, True)}),
    ('crmnote', 'id', {'body': (16000, False)}),
    ('insurancecoverage', 'id', {'member_id': (512, False)}),
    ('outboxmessage', 'id', {'recipient': (512, False), 'body': (4000, False)}),
    ('patient', 'id', {
        'first_name': (512, False), 'last_name': (512, False), 'date_of_birth': (512, False),
        'phone': (512, True), 'email': (512, True), 'insurance_member_id': (512, True),
    }),
    ('stafftask', 'id', {'detail': (4000, False)}),
    ('transcriptturn', 'id', {'text': (16000, False)}),
]
INDEXES = {
    'patient': ('phone_index', 'identity_index', 'last_name_index'),
    'insurancecoverage': ('member_index',),
}


def _tables() -> list[PhiTable]:
    return [PhiTable(name, pk, tuple(cols)) for name, pk, cols in PHI]


def _has_rows() -> bool:
    conn = op.get_bind()
    return any(conn.execute(sa.text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() for name, _, _ in PHI)


def _fill_blind_indexes(keyring: crypto.Keyring) -> None:
    """Runs before encryption, so it reads the plaintext."""
    conn = op.get_bind()
    patients = conn.execute(
        sa.text('SELECT id, first_name, last_name, date_of_birth, phone FROM patient')
    ).all()
    with crypto.using_keyring(keyring):
        for pid, first, last, dob, phone in patients:
            conn.execute(
                sa.text(
                    'UPDATE patient SET phone_index = :p, identity_index = :i, '
                    'last_name_index = :l WHERE id = :id'
                ),
                {
                    'p': crypto.blind_index('phone', phone) if phone else None,
                    'i': crypto.identity_index(first, last, dob),
                    'l': crypto.blind_index('name', last),
                    'id': pid,
                },
            )
        for cid, member in conn.execute(sa.text('SELECT id, member_id FROM insurancecoverage')):
            conn.execute(
                sa.text('UPDATE insurancecoverage SET member_index = :m WHERE id = :id'),
                {'m': crypto.blind_index('member_id', member), 'id': cid},
            )


def upgrade() -> None:
    # Plain ALTERs, not batch: a batch on SQLite recreates the table, which foreign keys from
    # existing rows forbid inside the migration's transaction.
    op.add_column('clinic', sa.Column('recording_retention_days', sa.Integer(), nullable=False, server_default='90'))
    op.add_column('clinic', sa.Column('transcript_retention_days', sa.Integer(), nullable=False, server_default='2190'))
    for name, indexes in INDEXES.items():
        for index in indexes:
            op.add_column(name, sa.Column(index, sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
            op.create_index(op.f(f'ix_{name}_{index}'), name, [index], unique=False)
    # SQLite ignores VARCHAR lengths (text affinity): only PostgreSQL
    # needs the type change for ciphertext longer than the old limits.
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, cols in PHI:
            for column, (length, nullable) in cols.items():
                op.alter_column(name, column, existing_type=sa.VARCHAR(length=length), type_=sa.String(), existing_nullable=nullable)
    if _has_rows():  # a fresh database needs no keyring yet
        keyring = crypto.keyring()
        _fill_blind_indexes(keyring)
        reencrypt(op.get_bind(), _tables(), keyring)


def downgrade() -> None:
    if _has_rows():
        reencrypt(op.get_bind(), _tables(), crypto.keyring(), to_plaintext=True)
    if op.get_bind().dialect.name != 'sqlite':
        for name, _, cols in PHI:
            for column, (length, nullable) in cols.items():
                op.alter_column(name, column, existing_type=sa.String(), type_=sa.VARCHAR(length=length), existing_nullable=nullable)
    for name, indexes in INDEXES.items():
        for index in indexes:
            op.drop_index(op.f(f'ix_{name}_{index}'), table_name=name)
            op.drop_column(name, index)
    op.drop_column('clinic', 'transcript_retention_days')
    op.drop_column('clinic', 'recording_retention_days')
