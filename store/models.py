"""The tables. Every change here comes with an Alembic migration (store/migrations)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from store.states import (  # noqa: F401 - the names every caller imports from here
    FAILED,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    NEEDS_REVIEW,
    PROCESSED,
    RECEIVED,
)
from store.types import UTCDateTime


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Message(SQLModel, table=True):
    """One stored message, identified by the sha256 of its raw bytes."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    size: int
    message_id: str | None = Field(default=None, max_length=998, index=True)
    # The earliest stored message with the same Message-ID but other bytes (same mail, another copy).
    same_message_id_as: int | None = Field(default=None, foreign_key="messages.id")
    from_addr: str = Field(default="", max_length=320, index=True)
    from_name: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    date_header: datetime | None = _utc(nullable=True)
    received_at: datetime = _utc(index=True)
    received_source: str = Field(default="", max_length=32)  # internaldate | maildir-mtime | received-header | date-header | file-mtime
    stored_at: datetime = _utc()
    source: str = Field(default="", max_length=32)  # imap | maildir | eml | mbox
    source_ref: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: list[str] = _json_list()
    kind: str | None = Field(default=None, max_length=32, index=True)
    status: str = Field(default=RECEIVED, max_length=16, index=True)
    confidence: float | None = None
    reasons: list[str] = _json_list()  # why it got its kind
    problems: list[str] = _json_list()  # human-readable, for staff and (when safe) the sender
    defects: list[str] = _json_list()  # decoding repairs and MIME defects found
    city: str | None = Field(default=None, max_length=16, index=True)
    processed_at: datetime | None = _utc(nullable=True)
    attempts: int = 0
    processing_ms: int | None = None  # how long its last processing took (decode, attachments, write): /metrics
    # the archived original was removed (retention or erasure): the row and what was derived from it stay
    raw_removed_at: datetime | None = _utc(nullable=True)
    raw_removed_reason: str | None = Field(default=None, max_length=16)  # "retention" | "erasure"


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("message_pk", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="messages.id", index=True)
    position: int
    filename: str = Field(sa_column=Column(Text, nullable=False))
    raw_filename: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    content_type: str = Field(default="", max_length=255)
    size: int
    sha256: str = Field(max_length=64, index=True)
    format: str | None = Field(default=None, max_length=32)
    category: str | None = Field(default=None, max_length=32)
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    problems: list[str] = _json_list()
    defects: list[str] = _json_list()
    # what OCR read from a scan or photo of a form: field -> confidence, and the seal seen or not
    scanned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    stamped: bool | None = None
    ocr_fields: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    ocr_values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    low_confidence_fields: list[str] = _json_list()
    ocr_ms: int | None = None  # how long the OCR worker took on it (None: not read by OCR): /metrics


class ImapCursor(SQLModel, table=True):
    """How far a (mailbox, folder, UIDVALIDITY) has been read."""

    __tablename__ = "imap_cursors"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=320)
    folder: str = Field(max_length=255)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))  # unsigned 32-bit on the wire
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _utc()


class Lease(SQLModel, table=True):
    """A named lock with an expiry: one poller per mailbox across processes and hosts."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=255)
    holder: str = Field(max_length=255)
    expires_at: datetime = _utc()


class PollRun(SQLModel, table=True):
    """One pickup cycle, for `zxjyck status` and the digest's health line."""

    __tablename__ = "poll_runs"
    __table_args__ = (Index("ix_poll_runs_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=255)
    started_at: datetime = _utc()
    finished_at: datetime | None = _utc(nullable=True)
    ok: bool = False
    fetched: int = 0
    new: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # "daemon" (zxjyck run) or "manual" (zxjyck poll): only a daemon's silence means pickup has stalled
    trigger: str = Field(default="manual", max_length=16, sa_column_kwargs={"server_default": "manual"})
    # how fetched mail was marked on the server (ingest.imap.MarkingStrategy.describe); None for a Maildir
    marking: str | None = Field(default=None, max_length=255)


# --- weekly reports (附件2) -------------------------------------------------

REPORT_ACCEPTED, REPORT_NEEDS_CORRECTION, REPORT_NEEDS_REVIEW = "accepted", "needs_correction", "needs_review"


class WeeklyReport(SQLModel, table=True):
    """One city's report for one Monday-Sunday week, as one message delivered it."""

    __tablename__ = "weekly_reports"
    __table_args__ = (Index("ix_weekly_reports_city_week", "city", "week_start"),)

    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="messages.id", index=True)
    city: str = Field(max_length=16)
    week_start: date
    week_end: date
    status: str = Field(max_length=20)
    late: bool = False
    superseded: bool = False
    received_at: datetime = _utc()
    filled_by: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=200)
    period_text: str = Field(default="", max_length=500)
    attachment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    total_headcount: int | None = None
    declared_total: int | None = None
    problems: list[str] = _json_list()
    # what staff should look at or have looked at: "outlier" (far above the city's own weeks), "verified"
    flags: list[str] = _json_list()
    # None: an ordinary report; "pending": it arrived for a closed week and waits for staff (the week's
    # figures do not change meanwhile); "accepted": staff took it over the closed week's figures
    revision: str | None = Field(default=None, max_length=16)


FLAG_OUTLIER, FLAG_VERIFIED = "outlier", "verified"
REVISION_PENDING, REVISION_ACCEPTED = "pending", "accepted"


class WeekClosure(SQLModel, table=True):
    """A reporting week staff closed once its figures were reported upward: later reports wait as revisions."""

    __tablename__ = "week_closures"

    week_start: date = Field(primary_key=True)
    closed_by: str = Field(max_length=255)
    closed_at: datetime = _utc()


class FigureChange(SQLModel, table=True):
    """One change of a city's figures for a week, old -> new: a newer report, an accepted revision, a
    staff confirmation; with the message it came from and who made it."""

    __tablename__ = "figure_changes"
    __table_args__ = (Index("ix_figure_changes_city_week", "city", "week_start"),)

    id: int | None = Field(default=None, primary_key=True)
    city: str = Field(max_length=16)
    week_start: date = Field(index=True)
    at: datetime = _utc()
    actor: str = Field(max_length=320)
    reason: str = Field(max_length=32)  # report | revision_accepted | verified
    message_pk: int | None = Field(default=None, foreign_key="messages.id")  # the report's message
    old_enterprises: int | None = None
    old_people: int | None = None
    new_enterprises: int | None = None
    new_people: int | None = None


class WeeklyRow(SQLModel, table=True):
    __tablename__ = "weekly_rows"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="weekly_reports.id", index=True)
    position: int
    enterprise: str = Field(sa_column=Column(Text, nullable=False))
    headcount: int | None = None
    platform: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    raw_headcount: str = Field(default="", max_length=200)
    problems: list[str] = _json_list()


# --- applications (附件1 + materials) ----------------------------------------

MATERIAL_KEYS = ("basic_form", "credentials", "construction", "operation", "content")


class Application(SQLModel, table=True):
    """One platform's application, merged over every message that continues it."""

    __tablename__ = "applications"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, sa_column_kwargs={"unique": True})  # credit code, else sender+platform
    from_addr: str = Field(default="", max_length=320, index=True)
    platform_name: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    website: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    organization: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    credit_code: str = Field(default="", max_length=64, index=True)
    credit_code_valid: bool = False
    contact: str = Field(default="", max_length=200)
    contact_title: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    address: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    intro: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    form_problems: list[str] = _json_list()
    complete: bool = False
    first_received_at: datetime = _utc()
    updated_at: datetime = _utc()
    # the day the materials became complete decides the batch ([applications] batches)
    completed_at: datetime | None = _utc(nullable=True)
    batch: str | None = Field(default=None, max_length=100, index=True)
    # who sent it when not the platform itself: a city's HRSS bureau, an authority, an association
    recommended_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    form_scanned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})  # basic form read by OCR
    stamped: bool | None = None  # a stamped copy of the basic form arrived (None: cannot tell yet)
    ocr_fields: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    # for staff only, never sent to the applicant: licence mismatch, seal not visible, values to confirm
    staff_problems: list[str] = _json_list()
    licence_check: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})  # 一致 | 不一致 | ''


class ApplicationProject(SQLModel, table=True):
    __tablename__ = "application_projects"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="applications.id", index=True)
    position: int
    name: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    occupation: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    format: str = Field(default="", max_length=200)
    hours: int | None = None
    assessment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    fee: str = Field(default="", max_length=200)


class ApplicationMaterial(SQLModel, table=True):
    """One piece of evidence that a notice item was supplied."""

    __tablename__ = "application_materials"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="applications.id", index=True)
    message_pk: int = Field(foreign_key="messages.id", index=True)
    category: str = Field(max_length=32)
    filename: str = Field(sa_column=Column(Text, nullable=False))
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ApplicationMessage(SQLModel, table=True):
    __tablename__ = "application_messages"
    __table_args__ = (UniqueConstraint("application_id", "message_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="applications.id", index=True)
    message_pk: int = Field(foreign_key="messages.id", index=True)
    received_at: datetime = _utc()


# --- outgoing mail ---------------------------------------------------------

OUTBOX_PENDING, OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_SUPPRESSED = "pending", "sent", "failed", "suppressed"


class Outbox(SQLModel, table=True):
    """One notice to send, written in the same transaction as the decision that causes it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=400, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=32, index=True)
    to: list[str] = _json_list()
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    message_id: str = Field(max_length=400, index=True)  # ours, for threading and bounce matching
    in_reply_to: str | None = Field(default=None, max_length=998)
    about_message_pk: int | None = Field(default=None, foreign_key="messages.id", index=True)
    raw: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # the composed message
    status: str = Field(default=OUTBOX_PENDING, max_length=16, index=True)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # suppression/failure
    attempts: int = 0
    next_attempt_at: datetime | None = _utc(nullable=True, index=True)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    bounced: bool = False
    bounce_message_pk: int | None = Field(default=None, foreign_key="messages.id")
    claimed_by: str | None = Field(default=None, max_length=255)
    # the copy in [imap] sent_folder: None (none wanted), "appending" (tried once, never again),
    # "saved <folder>", or "failed: <reason>"
    sent_copy: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # a failed or bounced notice staff have dealt with (told the person another way): no longer a fault
    dismissed_at: datetime | None = _utc(nullable=True)
    dismissed_by: str | None = Field(default=None, max_length=255)
    body_removed_at: datetime | None = _utc(nullable=True)  # ``raw`` emptied by retention or erasure


class AuditEntry(SQLModel, table=True):
    """Every administrative action and every read of personal data: who, when, what, from where."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=255, index=True)
    action: str = Field(max_length=64, index=True)
    message_pk: int | None = Field(default=None, foreign_key="messages.id", index=True)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    address: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})  # client address


# --- the staff console: accounts, sessions, registered addresses, decisions --------------------

ROLE_STAFF, ROLE_ADMIN = "staff", "admin"
ROLES = (ROLE_STAFF, ROLE_ADMIN)


class User(SQLModel, table=True):
    """A console account; the password only as an argon2 hash."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    created_at: datetime = _utc()
    password_changed_at: datetime = _utc()
    last_login_at: datetime | None = _utc(nullable=True)


class WebSession(SQLModel, table=True):
    """A server-side console session; the cookie carries only the random token, stored here as its sha256."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)
    address: str = Field(default="", max_length=64)


class LoginFailure(SQLModel, table=True):
    """Failed logins counted per key ("user:NAME" or "addr:IP"), to slow guessing down."""

    __tablename__ = "login_failures"

    key: str = Field(primary_key=True, max_length=400)
    count: int = 0
    last_at: datetime = _utc()


class CityAddress(SQLModel, table=True):
    """A registered sending address of a city. Removed rows are kept (removed_at) so config never re-adds them."""

    __tablename__ = "city_addresses"
    __table_args__ = (UniqueConstraint("city", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    city: str = Field(max_length=16, index=True)
    address: str = Field(max_length=320, index=True)
    added_by: str = Field(max_length=255)
    added_at: datetime = _utc()
    removed_by: str | None = Field(default=None, max_length=255)
    removed_at: datetime | None = _utc(nullable=True)


REVIEW_STATES = ("待审核", "材料齐全", "已提交评审", "入选", "未入选")


class ApplicationReview(SQLModel, table=True):
    """Where staff are with an application, and their notes."""

    __tablename__ = "application_reviews"

    application_id: int = Field(foreign_key="applications.id", primary_key=True)
    state: str = Field(default=REVIEW_STATES[0], max_length=16)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_by: str = Field(max_length=255)
    updated_at: datetime = _utc()


DECISION_REJECTED, DECISION_NOT_A_REPORT = "rejected", "not_a_report"


class StaffDecision(SQLModel, table=True):
    """A person's decision on a held message that processing must respect, also on replay."""

    __tablename__ = "staff_decisions"

    message_pk: int = Field(foreign_key="messages.id", primary_key=True)
    decision: str = Field(max_length=16)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    actor: str = Field(max_length=255)
    at: datetime = _utc()


# --- the expert panel's verdicts and the published lists ------------------------------------------

VERDICT_SELECTED, VERDICT_NOT_SELECTED, VERDICT_DEFERRED = "入选", "不入选", "补充材料后再议"
VERDICTS = (VERDICT_SELECTED, VERDICT_NOT_SELECTED, VERDICT_DEFERRED)


class PanelVerdict(SQLModel, table=True):
    """The expert panel's result for one application (from the returned panel sheet or the console)."""

    __tablename__ = "panel_verdicts"

    application_id: int = Field(foreign_key="applications.id", primary_key=True)
    batch: str = Field(max_length=100, index=True)
    verdict: str = Field(max_length=16)
    score: float | None = None
    opinion: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # 评审意见, for staff
    remarks: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # the panel's extra columns
    panel_date: date
    recorded_by: str = Field(max_length=255)
    recorded_at: datetime = _utc()


class Publication(SQLModel, table=True):
    """One published version of a batch's public list (the 入选 platforms), and the verdicts it announced."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("batch", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    batch: str = Field(max_length=100, index=True)
    version: int
    published_at: datetime = _utc()
    published_by: str = Field(max_length=255)
    issued_on: date  # the date printed on the announcement
    sha256: str = Field(max_length=64)  # of the public list (the rows as published)
    entries: list[dict[str, Any]] = _json_list()  # the public rows, in order
    verdicts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
# --- monitoring: alert incidents and the daemon's heartbeat ----------------------------------------


class AlertState(SQLModel, table=True):
    """One condition administrators are mailed about ([alerts] to): its current or last incident.

    A new incident replaces a cleared one; the mailed flags are set in the transaction that queues the
    mail, so each incident is mailed once when it starts and once when it clears, across restarts."""

    __tablename__ = "alert_state"

    key: str = Field(primary_key=True, max_length=64)  # imap_login, smtp_login, stalled, notices, disk, ocr, daemon
    started_at: datetime = _utc()
    cleared_at: datetime | None = _utc(nullable=True)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    mailed_start: bool = False
    mailed_clear: bool = False


class Heartbeat(SQLModel, table=True):
    """A running daemon's sign of life, written every poll interval (``zxjyck status --alert`` reads it)."""

    __tablename__ = "heartbeats"

    holder: str = Field(primary_key=True, max_length=255)  # host:pid
    started_at: datetime = _utc()
    beat_at: datetime = _utc(index=True)
class PlatformLink(SQLModel, table=True):
    """A weekly form's spelling of a training platform that staff linked to an application by hand
    (the automatic match of zxjyck.platform_names found none); keyed by ``platform_key``."""

    __tablename__ = "platform_links"

    name_key: str = Field(primary_key=True, max_length=500)
    name: str = Field(sa_column=Column(Text, nullable=False))  # the spelling staff saw
    application_id: int = Field(foreign_key="applications.id", index=True)
    linked_by: str = Field(max_length=255)
    linked_at: datetime = _utc()
