"""the expert panel's verdicts and the published lists of each batch

Revision ID: panel_publication
Revises: baseline
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = 'panel_publication'
down_revision = 'baseline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'panel_verdicts',
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.Column('batch', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('opinion', sa.Text(), nullable=False),
        sa.Column('remarks', sa.Text(), nullable=False),
        sa.Column('panel_date', sa.Date(), nullable=False),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('recorded_at', store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id']),
        sa.PrimaryKeyConstraint('application_id'),
    )
    op.create_index(op.f('ix_panel_verdicts_batch'), 'panel_verdicts', ['batch'], unique=False)
    op.create_table(
        'publications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('published_at', store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('entries', sa.JSON(), nullable=False),
        sa.Column('verdicts', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('batch', 'version'),
    )
    op.create_index(op.f('ix_publications_batch'), 'publications', ['batch'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_publications_batch'), table_name='publications')
    op.drop_table('publications')
    op.drop_index(op.f('ix_panel_verdicts_batch'), table_name='panel_verdicts')
    op.drop_table('panel_verdicts')
