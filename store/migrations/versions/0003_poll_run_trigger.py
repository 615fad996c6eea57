"""poll_runs.trigger: who ran the pickup (daemon or manual), for zxjyck status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default="manual"))


def downgrade() -> None:
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.drop_column("trigger")
