"""applications: batch, completion time, recommender, seal and OCR confidences; attachments: OCR results

Revision ID: 0004_i17b
Revises: 0003
Create Date: 2026-12-02 08:10:00
"""

import sqlalchemy as sa
import sqlmodel

import store.types
from alembic import op

revision = "0004_i17b"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("batch", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column("recommended_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("form_scanned", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("stamped", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("ocr_fields", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("staff_problems", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("licence_check", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default=""))
        batch_op.create_index("ix_applications_batch", ["batch"], unique=False)
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scanned", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("stamped", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("ocr_fields", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("ocr_values", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("low_confidence_fields", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        for name in ("low_confidence_fields", "ocr_values", "ocr_fields", "stamped", "scanned"):
            batch_op.drop_column(name)
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_batch")
        for name in ("licence_check", "staff_problems", "ocr_fields", "stamped", "form_scanned", "recommended_by", "batch",
                     "completed_at"):
            batch_op.drop_column(name)
