"""external appointments and hl7 messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 13:58:55.994675
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hl7message',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('clinic_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('control_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('placer_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('filler_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('provider_ref', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('starts_at', core.models.base.UTCDateTime(), nullable=True),
    sa.Column('ends_at', core.models.base.UTCDateTime(), nullable=True),
    sa.Column('ack_code', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', core.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('clinic_id', 'direction', 'control_id', name='uq_hl7_message_control')
    )
    with op.batch_alter_table('hl7message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hl7message_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hl7message_placer_id'), ['placer_id'], unique=False)

    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.create_unique_constraint('uq_appointment_external', ['clinic_id', 'external_system', 'external_ehr_id'])


def downgrade() -> None:
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_constraint('uq_appointment_external', type_='unique')
        batch_op.drop_column('external_system')

    with op.batch_alter_table('hl7message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hl7message_placer_id'))
        batch_op.drop_index(batch_op.f('ix_hl7message_clinic_id'))

    op.drop_table('hl7message')
