"""Queries and writes the ingest side needs: messages by content, cursors, leases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, CursorResult, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.db import session_scope
from store.holders import holder_is_gone
from store.models import ImapCursor, Lease, Message, Outbox


def message_by_sha(session: Session, digest: str) -> Message | None:
    return session.exec(select(Message).where(Message.sha256 == digest)).first()


def first_with_message_id(session: Session, message_id: str | None) -> Message | None:
    if not message_id:
        return None
    stmt = select(Message).where(Message.message_id == message_id).order_by(col(Message.id)).limit(1)
    return session.exec(stmt).first()


def thread_message_pks(session: Session, message_ids: list[str]) -> set[int]:
    """Stored messages a reply refers to: by their own Message-ID, or as the message one of our notices answered."""
    ids = [i for i in message_ids if i][:50]
    if not ids:
        return set()
    pks = {pk for pk in session.exec(select(Message.id).where(col(Message.message_id).in_(ids))) if pk is not None}
    pks |= {pk for pk in session.exec(select(Outbox.about_message_pk).where(col(Outbox.message_id).in_(ids))) if pk}
    return pks


def insert_message(engine: Engine, row: Message) -> tuple[Message, bool]:
    """Insert a message row unless its bytes are stored already; returns (row, created).

    Safe against a concurrent insert of the same bytes (the unique sha256 wins).
    """
    with session_scope(engine) as session:
        found = message_by_sha(session, row.sha256)
        if found is not None:
            return found, False
        first = first_with_message_id(session, row.message_id)
        if first is not None:
            row.same_message_id_as = first.same_message_id_as or first.id
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            found = message_by_sha(session, row.sha256)
            if found is None:
                raise
            return found, False
    return row, True


def _fresh_copy(row: Message) -> Message:
    return Message(**{name: getattr(row, name) for name in Message.model_fields if name != "id"})


def insert_messages(engine: Engine, rows: list[Message]) -> list[tuple[Message, bool]]:
    """``insert_message`` for a batch, in one transaction and a few statements; (row, created) per input row.

    Bytes stored before, or twice in the batch, give the stored row and False. If
    another writer inserts the same bytes meanwhile, the batch is rolled back and
    inserted one row at a time (each still safe against that race)."""
    if not rows:
        return []
    copies = [_fresh_copy(row) for row in rows]  # what the fallback inserts if this transaction fails
    try:
        with session_scope(engine) as session:
            digests = list(dict.fromkeys(row.sha256 for row in rows))
            found: dict[str, Message] = {}
            for start in range(0, len(digests), 500):
                chunk = digests[start:start + 500]
                found.update((m.sha256, m) for m in session.exec(select(Message).where(col(Message.sha256).in_(chunk))))
            ids = list(dict.fromkeys(row.message_id for row in rows if row.message_id))
            first: dict[str, Message] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for m in session.exec(select(Message).where(col(Message.message_id).in_(chunk)).order_by(col(Message.id))):
                    if m.message_id:
                        first.setdefault(m.message_id, m)
            out: list[tuple[Message, bool]] = []
            for row in rows:
                stored = found.get(row.sha256)
                if stored is not None:
                    out.append((stored, False))
                    continue
                earlier = first.get(row.message_id) if row.message_id else None
                if earlier is not None:
                    if earlier.id is None:  # earlier in this batch: its id comes with the flush
                        session.flush()
                    row.same_message_id_as = earlier.same_message_id_as or earlier.id
                elif row.message_id:
                    first[row.message_id] = row
                session.add(row)
                found[row.sha256] = row
                out.append((row, True))
            session.flush()
        return out
    except IntegrityError:
        return [insert_message(engine, copy) for copy in copies]


def get_cursor(engine: Engine, account: str, folder: str) -> tuple[int, int] | None:
    with session_scope(engine) as session:
        row = session.exec(select(ImapCursor).where(ImapCursor.account == account,
                                                    ImapCursor.folder == folder)).first()
        return (row.uidvalidity, row.last_uid) if row else None


def set_cursor(engine: Engine, account: str, folder: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
    with session_scope(engine) as session:
        row = session.exec(select(ImapCursor).where(ImapCursor.account == account,
                                                    ImapCursor.folder == folder)).first()
        if row is None:
            row = ImapCursor(account=account, folder=folder, uidvalidity=uidvalidity, last_uid=last_uid,
                             updated_at=now)
        else:
            row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now
        session.add(row)


def acquire_lease(engine: Engine, name: str, holder: str, ttl_seconds: int, now: datetime) -> bool:
    """Take or renew a named lease; False while another holder's lease is unexpired."""
    expires = now + timedelta(seconds=ttl_seconds)
    with session_scope(engine) as session:
        row = session.exec(select(Lease).where(Lease.name == name).with_for_update()).first()
        if row is None:
            session.add(Lease(name=name, holder=holder, expires_at=expires))
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                return False
            return True
        if row.holder != holder and row.expires_at > now:
            return False
        row.holder, row.expires_at = holder, expires
        session.add(row)
        return True


def claim(engine: Engine, name: str, holder: str, ttl_seconds: int, now: datetime,
          holder_gone: Callable[[str], bool] = holder_is_gone) -> bool:
    """Take the lease ``name`` for ``holder`` in one atomic statement: a new row, or the row of a holder whose
    lease expired or whose process is gone (``holder_gone``). False while another live holder has it.

    Unlike ``acquire_lease`` (read, then write), two processes racing for the same name can never both win,
    on SQLite as on PostgreSQL: the insert meets the primary key, the take-over is a conditional UPDATE."""
    expires = now + timedelta(seconds=ttl_seconds)
    with session_scope(engine) as session:
        session.add(Lease(name=name, holder=holder, expires_at=expires))
        try:
            session.flush()
            return True
        except IntegrityError:
            session.rollback()
    with session_scope(engine) as session:
        current = session.exec(select(Lease.holder).where(Lease.name == name)).first()
        if current is None:  # released meanwhile: the next attempt inserts
            return False
        if current != holder and not holder_gone(current):
            stale = col(Lease.expires_at) < now
            guard: ColumnElement[bool] = stale & (col(Lease.holder) == current)
        else:
            guard = col(Lease.holder) == current
        taken = session.exec(update(Lease).where(col(Lease.name) == name, guard)  # type: ignore[call-overload]
                             .values(holder=holder, expires_at=expires))
        return taken.rowcount == 1


def lease_info(engine: Engine, name: str) -> tuple[str, datetime] | None:
    """Who holds the lease ``name`` and until when (None: nobody)."""
    with session_scope(engine) as session:
        row = session.exec(select(Lease).where(Lease.name == name)).first()
        return (row.holder, row.expires_at) if row is not None else None


def take_over_lease(engine: Engine, name: str, old_holder: str, holder: str, ttl_seconds: int,
                    now: datetime) -> bool:
    """Take the lease from ``old_holder`` (a process known to be gone), only if it still holds it."""
    with session_scope(engine) as session:
        taken = cast(CursorResult, session.execute(
            update(Lease).where(col(Lease.name) == name, col(Lease.holder) == old_holder)
            .values(holder=holder, expires_at=now + timedelta(seconds=ttl_seconds))
            .execution_options(synchronize_session=False)))
        return taken.rowcount == 1


def release_lease(engine: Engine, name: str, holder: str) -> None:
    with session_scope(engine) as session:
        row = session.exec(select(Lease).where(Lease.name == name, Lease.holder == holder)).first()
        if row is not None:
            session.delete(row)


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: n for status, n in rows}


def unresolved_failure() -> ColumnElement[bool]:
    """Outbox rows staff still have to deal with: failed for good or bounced, and neither resent (that makes them
    pending again) nor dismissed. The outbox page and the digest list them."""
    return ((col(Outbox.status) == "failed") | col(Outbox.bounced)) & col(Outbox.dismissed_at).is_(None)


def failing_now() -> ColumnElement[bool]:
    """Notices that failed for a reason of ours (not a bounce: a stranger's mailbox is a staff matter), not dismissed:
    a fault of the service for `zxjyck status`, /healthz and the alerts."""
    return (col(Outbox.status) == "failed") & ~col(Outbox.bounced) & col(Outbox.dismissed_at).is_(None)


def outbox_counts(session: Session) -> dict[str, int]:
    """Notices by outbox state (what `zxjyck status` shows; a plain query, so it needs nothing of notify)."""
    return {s: n for s, n in session.exec(select(Outbox.status, func.count()).group_by(Outbox.status))}
