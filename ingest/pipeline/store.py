"""The data flow of docs/DESIGN.md: store raw -> decode -> classify -> extract -> entities -> outbox.

Each step is idempotent. Storing commits the raw bytes and the message row
before anything is acknowledged to the source; processing runs later, from
the archived bytes, in one transaction per message, so a crash at any point
and a rerun reach the same end state. A failure stays with its message.
"""

from __future__ import annotations

import email.parser
import email.utils
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as EmailHeaders

from ingest.app import App
from ingest.pipeline.decode import RAW_POLICY, decode_header_value, received_time
from ingest.sources.local import RawItem, TakenElsewhere
from store.archive import HEAD_BYTES, Spool, sha256_hex
from store.models import RECEIVED, Message
from store.repo import insert_message, insert_messages
from zxjyck.message_ids import message_id_of, references_of

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    seen: int = 0
    new: int = 0
    duplicates: int = 0
    unreadable: list[str] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)  # status -> count

    def merge_status(self, status: str) -> None:
        self.processed[status] = self.processed.get(status, 0) + 1


def _parse_head(raw: bytes) -> EmailHeaders | None:
    """The header block, parsed once per stored message (the full decode comes with processing)."""
    try:
        return email.parser.BytesHeaderParser(policy=RAW_POLICY).parsebytes(raw[:HEAD_BYTES])
    except Exception:
        return None


def _header_fields(head: EmailHeaders | None) -> dict:
    """What the row written at store time shows before processing: IDs, threading, the subject."""
    if head is None:
        return {}
    sink: list[str] = []
    return {
        "message_id": message_id_of(head.get("message-id")),
        "subject": decode_header_value(head.get("subject"), sink, "subject")[:2000],
        "in_reply_to": message_id_of(head.get("in-reply-to")),
        "references": references_of(head.get("references")),
    }


def header_time(head: EmailHeaders | None) -> tuple[datetime | None, str]:
    """Received time from the headers: the topmost Received stamp, else Date."""
    if head is None:
        return None, ""
    stamp = received_time(head)
    if stamp is not None:
        return stamp, "received-header"
    try:
        date = email.utils.parsedate_to_datetime(head.get("date", ""))
    except (TypeError, ValueError, IndexError):
        date = None
    if date is not None:
        return (date if date.tzinfo else date.replace(tzinfo=UTC)), "date-header"
    return None, ""


def store_raw(app: App, raw: bytes, *, received_at: datetime | None, received_source: str, source: str,
              source_ref: str) -> tuple[Message, bool]:
    """Archive the bytes and commit the message row; (row, created). Same bytes twice: one message."""
    digest = sha256_hex(raw)
    app.archive.put(raw)
    return _commit(app, _row_for(app, digest, len(raw), _parse_head(raw), received_at=received_at,
                                 received_source=received_source, source=source, source_ref=source_ref))


def store_spooled(app: App, spool: Spool, *, received_at: datetime | None, received_source: str, source: str,
                  source_ref: str) -> tuple[Message, bool]:
    """``store_raw`` for a message that arrived in pieces into ``spool`` (a large IMAP message): the file is
    moved into the archive, and only its header block was ever in memory."""
    head = _parse_head(bytes(spool.head))
    digest = app.archive.adopt(spool)
    return _commit(app, _row_for(app, digest, spool.size, head, received_at=received_at,
                                 received_source=received_source, source=source, source_ref=source_ref))


def _commit(app: App, row: Message) -> tuple[Message, bool]:
    stored, created = insert_message(app.engine, row)
    if created:
        _log_stored(stored)
    return stored, created


def _log_stored(row: Message) -> None:
    log.info("stored message id=%s sha256=%s source=%s ref=%s", row.id, row.sha256[:12], row.source, row.source_ref)


def _row_for(app: App, digest: str, size: int, head: EmailHeaders | None, *, received_at: datetime | None,
             received_source: str, source: str, source_ref: str) -> Message:
    """The row of archived bytes: received time from the source, else the headers, else now."""
    if received_at is None:
        received_at, received_source = header_time(head)
    if received_at is None:
        received_at, received_source = app.now(), "stored-at"
    return Message(sha256=digest, size=size, received_at=received_at, received_source=received_source,
                   stored_at=app.now(), source=source, source_ref=source_ref[:2000], status=RECEIVED,
                   **_header_fields(head))


def store_raw_batch(app: App, items: list[tuple[bytes, datetime | None, str, str, str]]) -> list[tuple[Message, bool]]:
    """``store_raw`` for a batch of (raw, received_at, received_source, source, source_ref), made durable at once.

    The same order of effects as one by one, a batch at a time: every archive file is
    written and fsynced (one fsync per file, one per folder, store.archive.Archive.put_many),
    then every row is committed in one transaction. The caller acknowledges the batch to
    its source only after this returns; a crash before leaves nothing marked, and the
    rerun finds the files already archived and stores the rows."""
    digests = app.archive.put_many([item[0] for item in items])
    rows = [_row_for(app, digest, len(raw), _parse_head(raw), received_at=received_at,
                     received_source=received_source, source=source, source_ref=source_ref)
            for digest, (raw, received_at, received_source, source, source_ref) in zip(digests, items, strict=True)]
    stored = insert_messages(app.engine, rows)
    for row, created in stored:
        if created:
            _log_stored(row)
    return stored


def store_items(app: App, items: Iterable[RawItem], report: IngestReport,
                progress: Callable[[], None] | None = None) -> None:
    for item in items:
        if app.stopping.is_set():
            break
        try:
            _store_item(app, item, report)
        finally:
            if item.release is not None:
                item.release()
        if progress is not None:
            progress()


def _store_item(app: App, item: RawItem, report: IngestReport) -> None:
    try:
        raw = item.load()
    except TakenElsewhere as exc:  # another poller has it: its run stores it
        log.info("skipped %s: %s", item.source_ref, exc)
        return
    except Exception as exc:  # an unreadable file is reported and the run goes on
        log.warning("cannot read %s: %s", item.source_ref, exc)
        report.seen += 1
        report.unreadable.append(str(exc))
        return
    report.seen += 1
    received_at = item.received_at
    received_source = item.received_source
    if item.source == "eml":
        received_at, received_source = None, ""
    _row, created = store_raw(app, raw, received_at=received_at, received_source=received_source,
                              source=item.source, source_ref=item.source_ref)
    report.new += created
    report.duplicates += not created
    if item.after_commit is not None:
        item.after_commit()
