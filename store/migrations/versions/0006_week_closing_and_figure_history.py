"""weekly reports: flags (outlier, verified) and revisions; closed weeks; the history of each city's figures

Revision ID: week_closing_figures
Revises: data_protection
Create Date: 2026-12-07 13:40:00
"""

import sqlalchemy as sa
import sqlmodel

import store.types
from alembic import op

revision = "week_closing_figures"
down_revision = "data_protection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("weekly_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("revision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.create_table(
        "week_closures",
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("closed_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("week_start"),
    )
    op.create_table(
        "figure_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("old_enterprises", sa.Integer(), nullable=True),
        sa.Column("old_people", sa.Integer(), nullable=True),
        sa.Column("new_enterprises", sa.Integer(), nullable=True),
        sa.Column("new_people", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_figure_changes_city_week", "figure_changes", ["city", "week_start"], unique=False)
    op.create_index("ix_figure_changes_week_start", "figure_changes", ["week_start"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_figure_changes_week_start", table_name="figure_changes")
    op.drop_index("ix_figure_changes_city_week", table_name="figure_changes")
    op.drop_table("figure_changes")
    op.drop_table("week_closures")
    with op.batch_alter_table("weekly_reports", schema=None) as batch_op:
        batch_op.drop_column("revision")
        batch_op.drop_column("flags")
