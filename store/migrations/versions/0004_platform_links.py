"""platform links: a weekly form's platform spelling that staff linked to an application

Revision ID: platform_links
Revises: monitoring_alerts
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types


revision = 'platform_links'
down_revision = 'monitoring_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_links',
    sa.Column('name_key', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('linked_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('linked_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('name_key')
    )
    with op.batch_alter_table('platform_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_links_application_id'), ['application_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('platform_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_links_application_id'))
    op.drop_table('platform_links')
