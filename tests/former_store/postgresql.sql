-- The schema of a store made by the migration chain before the baseline revision, on PostgreSQL: the
-- statements that chain ran from an empty schema to its head (0004_i16), as `alembic upgrade head --sql`
-- wrote them. Frozen: the chain is gone; tests/test_former_store.py builds a store from this file and
-- opens it with today's code.

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE imap_cursors (
    id SERIAL NOT NULL, 
    account VARCHAR(320) NOT NULL, 
    folder VARCHAR(255) NOT NULL, 
    uidvalidity BIGINT NOT NULL, 
    last_uid BIGINT NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    UNIQUE (account, folder)
);

CREATE TABLE leases (
    name VARCHAR(255) NOT NULL, 
    holder VARCHAR(255) NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (name)
);

CREATE TABLE messages (
    id SERIAL NOT NULL, 
    sha256 VARCHAR(64) NOT NULL, 
    size INTEGER NOT NULL, 
    message_id VARCHAR(998), 
    same_message_id_as INTEGER, 
    from_addr VARCHAR(320) NOT NULL, 
    from_name TEXT NOT NULL, 
    subject TEXT NOT NULL, 
    date_header TIMESTAMP WITH TIME ZONE, 
    received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    received_source VARCHAR(32) NOT NULL, 
    stored_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    source VARCHAR(32) NOT NULL, 
    source_ref TEXT NOT NULL, 
    in_reply_to VARCHAR(998), 
    "references" JSON NOT NULL, 
    kind VARCHAR(32), 
    status VARCHAR(16) NOT NULL, 
    confidence FLOAT, 
    reasons JSON NOT NULL, 
    problems JSON NOT NULL, 
    defects JSON NOT NULL, 
    city VARCHAR(16), 
    processed_at TIMESTAMP WITH TIME ZONE, 
    attempts INTEGER NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(same_message_id_as) REFERENCES messages (id), 
    UNIQUE (sha256)
);

CREATE INDEX ix_messages_city ON messages (city);

CREATE INDEX ix_messages_from_addr ON messages (from_addr);

CREATE INDEX ix_messages_kind ON messages (kind);

CREATE INDEX ix_messages_message_id ON messages (message_id);

CREATE INDEX ix_messages_received_at ON messages (received_at);

CREATE INDEX ix_messages_status ON messages (status);

CREATE TABLE poll_runs (
    id SERIAL NOT NULL, 
    source VARCHAR(255) NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    finished_at TIMESTAMP WITH TIME ZONE, 
    ok BOOLEAN NOT NULL, 
    fetched INTEGER NOT NULL, 
    "new" INTEGER NOT NULL, 
    error TEXT, 
    PRIMARY KEY (id)
);

CREATE INDEX ix_poll_runs_source_started ON poll_runs (source, started_at);

CREATE TABLE attachments (
    id SERIAL NOT NULL, 
    message_pk INTEGER NOT NULL, 
    position INTEGER NOT NULL, 
    filename TEXT NOT NULL, 
    raw_filename TEXT NOT NULL, 
    content_type VARCHAR(255) NOT NULL, 
    size INTEGER NOT NULL, 
    sha256 VARCHAR(64) NOT NULL, 
    format VARCHAR(32), 
    category VARCHAR(32), 
    evidence TEXT NOT NULL, 
    problems JSON NOT NULL, 
    defects JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(message_pk) REFERENCES messages (id), 
    UNIQUE (message_pk, position)
);

CREATE INDEX ix_attachments_message_pk ON attachments (message_pk);

CREATE INDEX ix_attachments_sha256 ON attachments (sha256);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE applications (
    id SERIAL NOT NULL, 
    key VARCHAR(200) NOT NULL, 
    from_addr VARCHAR(320) NOT NULL, 
    platform_name TEXT NOT NULL, 
    website TEXT NOT NULL, 
    organization TEXT NOT NULL, 
    credit_code VARCHAR(64) NOT NULL, 
    credit_code_valid BOOLEAN NOT NULL, 
    contact VARCHAR(200) NOT NULL, 
    contact_title VARCHAR(200) NOT NULL, 
    phone VARCHAR(200) NOT NULL, 
    email VARCHAR(320) NOT NULL, 
    address TEXT NOT NULL, 
    intro TEXT NOT NULL, 
    form_problems JSON NOT NULL, 
    complete BOOLEAN NOT NULL, 
    first_received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    UNIQUE (key)
);

CREATE INDEX ix_applications_credit_code ON applications (credit_code);

CREATE INDEX ix_applications_from_addr ON applications (from_addr);

CREATE TABLE application_materials (
    id SERIAL NOT NULL, 
    application_id INTEGER NOT NULL, 
    message_pk INTEGER NOT NULL, 
    category VARCHAR(32) NOT NULL, 
    filename TEXT NOT NULL, 
    evidence TEXT NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(application_id) REFERENCES applications (id), 
    FOREIGN KEY(message_pk) REFERENCES messages (id)
);

CREATE INDEX ix_application_materials_application_id ON application_materials (application_id);

CREATE INDEX ix_application_materials_message_pk ON application_materials (message_pk);

CREATE TABLE application_messages (
    id SERIAL NOT NULL, 
    application_id INTEGER NOT NULL, 
    message_pk INTEGER NOT NULL, 
    received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(application_id) REFERENCES applications (id), 
    FOREIGN KEY(message_pk) REFERENCES messages (id), 
    UNIQUE (application_id, message_pk)
);

CREATE INDEX ix_application_messages_application_id ON application_messages (application_id);

CREATE INDEX ix_application_messages_message_pk ON application_messages (message_pk);

CREATE TABLE application_projects (
    id SERIAL NOT NULL, 
    application_id INTEGER NOT NULL, 
    position INTEGER NOT NULL, 
    name TEXT NOT NULL, 
    occupation TEXT NOT NULL, 
    format VARCHAR(200) NOT NULL, 
    hours INTEGER, 
    assessment TEXT NOT NULL, 
    source TEXT NOT NULL, 
    fee VARCHAR(200) NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(application_id) REFERENCES applications (id)
);

CREATE INDEX ix_application_projects_application_id ON application_projects (application_id);

CREATE TABLE audit (
    id SERIAL NOT NULL, 
    at TIMESTAMP WITH TIME ZONE NOT NULL, 
    actor VARCHAR(255) NOT NULL, 
    action VARCHAR(64) NOT NULL, 
    message_pk INTEGER, 
    detail TEXT NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(message_pk) REFERENCES messages (id)
);

CREATE INDEX ix_audit_at ON audit (at);

CREATE INDEX ix_audit_message_pk ON audit (message_pk);

CREATE TABLE outbox (
    id SERIAL NOT NULL, 
    dedupe_key VARCHAR(400) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    "to" JSON NOT NULL, 
    subject TEXT NOT NULL, 
    message_id VARCHAR(400) NOT NULL, 
    in_reply_to VARCHAR(998), 
    about_message_pk INTEGER, 
    raw TEXT NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    reason TEXT NOT NULL, 
    attempts INTEGER NOT NULL, 
    next_attempt_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    sent_at TIMESTAMP WITH TIME ZONE, 
    bounced BOOLEAN NOT NULL, 
    bounce_message_pk INTEGER, 
    claimed_by VARCHAR(255), 
    PRIMARY KEY (id), 
    FOREIGN KEY(about_message_pk) REFERENCES messages (id), 
    FOREIGN KEY(bounce_message_pk) REFERENCES messages (id), 
    UNIQUE (dedupe_key)
);

CREATE INDEX ix_outbox_about_message_pk ON outbox (about_message_pk);

CREATE INDEX ix_outbox_kind ON outbox (kind);

CREATE INDEX ix_outbox_message_id ON outbox (message_id);

CREATE INDEX ix_outbox_next_attempt_at ON outbox (next_attempt_at);

CREATE INDEX ix_outbox_status ON outbox (status);

CREATE TABLE weekly_reports (
    id SERIAL NOT NULL, 
    message_pk INTEGER NOT NULL, 
    city VARCHAR(16) NOT NULL, 
    week_start DATE NOT NULL, 
    week_end DATE NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    late BOOLEAN NOT NULL, 
    superseded BOOLEAN NOT NULL, 
    received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    filled_by VARCHAR(200) NOT NULL, 
    phone VARCHAR(200) NOT NULL, 
    period_text VARCHAR(500) NOT NULL, 
    attachment TEXT NOT NULL, 
    total_headcount INTEGER, 
    declared_total INTEGER, 
    problems JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(message_pk) REFERENCES messages (id)
);

CREATE INDEX ix_weekly_reports_city_week ON weekly_reports (city, week_start);

CREATE INDEX ix_weekly_reports_message_pk ON weekly_reports (message_pk);

CREATE TABLE weekly_rows (
    id SERIAL NOT NULL, 
    report_id INTEGER NOT NULL, 
    position INTEGER NOT NULL, 
    enterprise TEXT NOT NULL, 
    headcount INTEGER, 
    platform TEXT NOT NULL, 
    raw_headcount VARCHAR(200) NOT NULL, 
    problems JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(report_id) REFERENCES weekly_reports (id)
);

CREATE INDEX ix_weekly_rows_report_id ON weekly_rows (report_id);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

ALTER TABLE poll_runs ADD COLUMN trigger VARCHAR(16) DEFAULT 'manual' NOT NULL;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004_i17b

ALTER TABLE applications ADD COLUMN completed_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE applications ADD COLUMN batch VARCHAR(100);

ALTER TABLE applications ADD COLUMN recommended_by TEXT;

ALTER TABLE applications ADD COLUMN form_scanned BOOLEAN DEFAULT false NOT NULL;

ALTER TABLE applications ADD COLUMN stamped BOOLEAN;

ALTER TABLE applications ADD COLUMN ocr_fields JSON DEFAULT '{}' NOT NULL;

ALTER TABLE applications ADD COLUMN staff_problems JSON DEFAULT '[]' NOT NULL;

ALTER TABLE applications ADD COLUMN licence_check VARCHAR(16) DEFAULT '' NOT NULL;

CREATE INDEX ix_applications_batch ON applications (batch);

ALTER TABLE attachments ADD COLUMN scanned BOOLEAN DEFAULT false NOT NULL;

ALTER TABLE attachments ADD COLUMN stamped BOOLEAN;

ALTER TABLE attachments ADD COLUMN ocr_fields JSON DEFAULT '{}' NOT NULL;

ALTER TABLE attachments ADD COLUMN ocr_values JSON DEFAULT '{}' NOT NULL;

ALTER TABLE attachments ADD COLUMN low_confidence_fields JSON DEFAULT '[]' NOT NULL;

UPDATE alembic_version SET version_num='0004_i17b' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004_i17b -> 0004_i14

ALTER TABLE poll_runs ADD COLUMN marking VARCHAR(255);

ALTER TABLE outbox ADD COLUMN sent_copy TEXT;

UPDATE alembic_version SET version_num='0004_i14' WHERE alembic_version.version_num = '0004_i17b';

-- Running upgrade 0004_i14 -> 0004_i16

CREATE TABLE city_addresses (
    id SERIAL NOT NULL, 
    city VARCHAR(16) NOT NULL, 
    address VARCHAR(320) NOT NULL, 
    added_by VARCHAR(255) NOT NULL, 
    added_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    removed_by VARCHAR(255), 
    removed_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id), 
    UNIQUE (city, address)
);

CREATE INDEX ix_city_addresses_address ON city_addresses (address);

CREATE INDEX ix_city_addresses_city ON city_addresses (city);

CREATE TABLE login_failures (
    key VARCHAR(400) NOT NULL, 
    count INTEGER NOT NULL, 
    last_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (key)
);

CREATE TABLE users (
    id SERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    role VARCHAR(16) NOT NULL, 
    password_hash VARCHAR(255) NOT NULL, 
    disabled BOOLEAN NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    password_changed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    last_login_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id), 
    UNIQUE (name)
);

CREATE TABLE application_reviews (
    application_id INTEGER NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    note TEXT NOT NULL, 
    updated_by VARCHAR(255) NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (application_id), 
    FOREIGN KEY(application_id) REFERENCES applications (id)
);

CREATE TABLE staff_decisions (
    message_pk INTEGER NOT NULL, 
    decision VARCHAR(16) NOT NULL, 
    note TEXT NOT NULL, 
    actor VARCHAR(255) NOT NULL, 
    at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (message_pk), 
    FOREIGN KEY(message_pk) REFERENCES messages (id)
);

CREATE TABLE web_sessions (
    id SERIAL NOT NULL, 
    token_hash VARCHAR(64) NOT NULL, 
    user_id INTEGER NOT NULL, 
    csrf_token VARCHAR(64) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    address VARCHAR(64) NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(user_id) REFERENCES users (id), 
    UNIQUE (token_hash)
);

CREATE INDEX ix_web_sessions_expires_at ON web_sessions (expires_at);

CREATE INDEX ix_web_sessions_user_id ON web_sessions (user_id);

UPDATE alembic_version SET version_num='0004_i16' WHERE alembic_version.version_num = '0004_i14';
