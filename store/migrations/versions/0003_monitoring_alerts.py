"""monitoring: alert incidents, daemon heartbeats, dismissed notices, processing and OCR durations

Revision ID: monitoring_alerts
Revises: panel_publication
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "monitoring_alerts"
down_revision = "panel_publication"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("mailed_start", sa.Boolean(), nullable=False),
        sa.Column("mailed_clear", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "heartbeats",
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("started_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder"),
    )
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heartbeats_beat_at"), ["beat_at"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dismissed_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("processing_ms", sa.Integer(), nullable=True))
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ocr_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("ocr_ms")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("processing_ms")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dismissed_by")
        batch_op.drop_column("dismissed_at")
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heartbeats_beat_at"))
    op.drop_table("heartbeats")
    op.drop_table("alert_state")
