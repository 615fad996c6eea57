"""data protection: markers of removed originals and notice texts, the client address of audit entries

Revision ID: data_protection
Revises: platform_links
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = 'data_protection'
down_revision = 'platform_links'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('raw_removed_at', store.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('raw_removed_reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('body_removed_at', store.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('audit') as batch:
        batch.add_column(sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=''))
        batch.create_index('ix_audit_actor', ['actor'])
        batch.create_index('ix_audit_action', ['action'])


def downgrade() -> None:
    with op.batch_alter_table('audit') as batch:
        batch.drop_index('ix_audit_action')
        batch.drop_index('ix_audit_actor')
        batch.drop_column('address')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('body_removed_at')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('raw_removed_reason')
        batch.drop_column('raw_removed_at')
