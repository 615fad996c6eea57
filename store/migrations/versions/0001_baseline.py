"""The schema of the store: every table, column, index and constraint, in one migration

Revision ID: baseline
Revises:
Create Date: 2026-12-07 13:30:00

The first revision. A store made before it (its alembic_version one of store.db.FORMER_REVISIONS) holds this
same schema at the former head and is re-stamped ``baseline`` by store.db.migrate. A new migration says
``down_revision = "baseline"`` (or the newest revision after it).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('from_addr', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('platform_name', sa.Text(), nullable=False),
    sa.Column('website', sa.Text(), nullable=False),
    sa.Column('organization', sa.Text(), nullable=False),
    sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('credit_code_valid', sa.Boolean(), nullable=False),
    sa.Column('contact', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('contact_title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('form_problems', sa.JSON(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('first_received_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('batch', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('recommended_by', sa.Text(), nullable=True),
    sa.Column('form_scanned', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stamped', sa.Boolean(), nullable=True),
    sa.Column('ocr_fields', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('staff_problems', sa.JSON(), server_default='[]', nullable=False),
    sa.Column('licence_check', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index(op.f('ix_applications_batch'), 'applications', ['batch'], unique=False)
    op.create_index(op.f('ix_applications_credit_code'), 'applications', ['credit_code'], unique=False)
    op.create_index(op.f('ix_applications_from_addr'), 'applications', ['from_addr'], unique=False)
    op.create_table('city_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('added_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('removed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('city', 'address')
    )
    op.create_index(op.f('ix_city_addresses_address'), 'city_addresses', ['address'], unique=False)
    op.create_index(op.f('ix_city_addresses_city'), 'city_addresses', ['city'], unique=False)
    op.create_table('imap_cursors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('folder', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'folder')
    )
    op.create_table('leases',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('login_failures',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
    sa.Column('same_message_id_as', sa.Integer(), nullable=True),
    sa.Column('from_addr', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('from_name', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('date_header', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('stored_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('source_ref', sa.Text(), nullable=False),
    sa.Column('in_reply_to', sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
    sa.Column('references', sa.JSON(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('defects', sa.JSON(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('processed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['same_message_id_as'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_index(op.f('ix_messages_city'), 'messages', ['city'], unique=False)
    op.create_index(op.f('ix_messages_from_addr'), 'messages', ['from_addr'], unique=False)
    op.create_index(op.f('ix_messages_kind'), 'messages', ['kind'], unique=False)
    op.create_index(op.f('ix_messages_message_id'), 'messages', ['message_id'], unique=False)
    op.create_index(op.f('ix_messages_received_at'), 'messages', ['received_at'], unique=False)
    op.create_index(op.f('ix_messages_status'), 'messages', ['status'], unique=False)
    op.create_table('poll_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('started_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='manual', nullable=False),
    sa.Column('marking', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_poll_runs_source_started', 'poll_runs', ['source', 'started_at'], unique=False)
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('application_materials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_application_materials_application_id'), 'application_materials', ['application_id'], unique=False)
    op.create_index(op.f('ix_application_materials_message_pk'), 'application_materials', ['message_pk'], unique=False)
    op.create_table('application_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('received_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'message_pk')
    )
    op.create_index(op.f('ix_application_messages_application_id'), 'application_messages', ['application_id'], unique=False)
    op.create_index(op.f('ix_application_messages_message_pk'), 'application_messages', ['message_pk'], unique=False)
    op.create_table('application_projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('occupation', sa.Text(), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=True),
    sa.Column('assessment', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('fee', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_application_projects_application_id'), 'application_projects', ['application_id'], unique=False)
    op.create_table('application_reviews',
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('application_id')
    )
    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('raw_filename', sa.Text(), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('defects', sa.JSON(), nullable=False),
    sa.Column('scanned', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stamped', sa.Boolean(), nullable=True),
    sa.Column('ocr_fields', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('ocr_values', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('low_confidence_fields', sa.JSON(), server_default='[]', nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk', 'position')
    )
    op.create_index(op.f('ix_attachments_message_pk'), 'attachments', ['message_pk'], unique=False)
    op.create_index(op.f('ix_attachments_sha256'), 'attachments', ['sha256'], unique=False)
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_at'), 'audit', ['at'], unique=False)
    op.create_index(op.f('ix_audit_message_pk'), 'audit', ['message_pk'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('to', sa.JSON(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('in_reply_to', sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
    sa.Column('about_message_pk', sa.Integer(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('bounced', sa.Boolean(), nullable=False),
    sa.Column('bounce_message_pk', sa.Integer(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('sent_copy', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['about_message_pk'], ['messages.id'], ),
    sa.ForeignKeyConstraint(['bounce_message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index(op.f('ix_outbox_about_message_pk'), 'outbox', ['about_message_pk'], unique=False)
    op.create_index(op.f('ix_outbox_kind'), 'outbox', ['kind'], unique=False)
    op.create_index(op.f('ix_outbox_message_id'), 'outbox', ['message_id'], unique=False)
    op.create_index(op.f('ix_outbox_next_attempt_at'), 'outbox', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_status'), 'outbox', ['status'], unique=False)
    op.create_table('staff_decisions',
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('message_pk')
    )
    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)
    op.create_index(op.f('ix_web_sessions_user_id'), 'web_sessions', ['user_id'], unique=False)
    op.create_table('weekly_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('week_end', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.Column('received_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filled_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('period_text', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('attachment', sa.Text(), nullable=False),
    sa.Column('total_headcount', sa.Integer(), nullable=True),
    sa.Column('declared_total', sa.Integer(), nullable=True),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_weekly_reports_city_week', 'weekly_reports', ['city', 'week_start'], unique=False)
    op.create_index(op.f('ix_weekly_reports_message_pk'), 'weekly_reports', ['message_pk'], unique=False)
    op.create_table('weekly_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enterprise', sa.Text(), nullable=False),
    sa.Column('headcount', sa.Integer(), nullable=True),
    sa.Column('platform', sa.Text(), nullable=False),
    sa.Column('raw_headcount', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['weekly_reports.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_weekly_rows_report_id'), 'weekly_rows', ['report_id'], unique=False)


def downgrade() -> None:
    op.drop_table('weekly_rows')
    op.drop_table('weekly_reports')
    op.drop_table('web_sessions')
    op.drop_table('staff_decisions')
    op.drop_table('outbox')
    op.drop_table('audit')
    op.drop_table('attachments')
    op.drop_table('application_reviews')
    op.drop_table('application_projects')
    op.drop_table('application_messages')
    op.drop_table('application_materials')
    op.drop_table('users')
    op.drop_table('poll_runs')
    op.drop_table('messages')
    op.drop_table('login_failures')
    op.drop_table('leases')
    op.drop_table('imap_cursors')
    op.drop_table('city_addresses')
    op.drop_table('applications')
