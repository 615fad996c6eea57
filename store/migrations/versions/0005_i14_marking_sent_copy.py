"""poll_runs.marking (how fetched mail was marked on the server, for zxjyck status) and
outbox.sent_copy (the copy of a sent notice in the IMAP sent folder: appending, saved, failed)

Revision ID: 0004_i14
Revises: 0003
Create Date: 2026-12-02 08:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_i14"
down_revision = "0004_i17b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marking", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_copy", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("sent_copy")
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.drop_column("marking")
