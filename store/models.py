"""The tables. Every change here comes with an Alembic migration (store/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime

# Message states (DESIGN.md): received -> processed | needs_review | failed
RECEIVED, PROCESSED, NEEDS_REVIEW, FAILED = "received", "processed", "needs_review", "failed"
MESSAGE_STATUSES = (RECEIVED, PROCESSED, NEEDS_REVIEW, FAILED)
MESSAGE_KINDS = ("application", "weekly_report", "bounce", "auto_reply", "other")


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
