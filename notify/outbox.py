"""The outbox: notices as rows, written with the decision that causes them, sent later.

Each row has a dedupe key (``receipt:<sha256>``, ``late_reminder:<city>:<week>``
…) with a unique constraint, so a replay or a crash between commit and send
never makes a second notice for one reason. Delivery claims rows (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, and a compare-and-set lease on both backends, so
several processes share the work), sends them outside any transaction, retries
temporary failures with capped backoff, and marks permanent ones.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlalchemy import case, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from notify.compose import NoticeContext, compose, new_message_id
from notify.errors import (
    DeliveryError,
    InvalidAddressError,
    NotifyError,
    OutboxWriteError,
    SmtpConnectionError,
    SmtpLoginError,
)
from notify.rules import reply_block_reason
from notify.transport import DeliveryResult, FileTransport, RetryPolicy, SmtpTransport, Transport
from parsers.bounce import BounceReport
from store.db import session_scope
from store.holders import holder_is_gone, this_holder
from store.models import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    OUTBOX_SUPPRESSED,
    Message,
    Outbox,
)

log = logging.getLogger(__name__)
AUTO_REPLIED, AUTO_GENERATED = "auto-replied", "auto-generated"


@dataclass(frozen=True)
class OutboxSettings:
    sender: str
    sender_name: str
    bureau_name: str
    contact_line: str
    reply_window_days: int
    max_per_sender_per_day: int
    our_addresses: frozenset[str]
    retry: RetryPolicy
    timezone: str  # schedule.timezone: every date and time in a notice is written in it

    @property
    def msgid_domain(self) -> str:
        return self.sender.rsplit("@", 1)[-1] if "@" in self.sender else "zxjyck.local"


def find_by_key(session: Session, dedupe_key: str) -> Outbox | None:
    return session.exec(select(Outbox).where(Outbox.dedupe_key == dedupe_key)).first()


def sent_recently_to(session: Session, address: str, now: datetime) -> int:
    """Notices queued to this address in the last 24 hours (suppressed ones do not count)."""
    since = now - timedelta(days=1)
    rows = session.exec(
        select(Outbox.to).where(
            Outbox.created_at >= since, Outbox.status != OUTBOX_SUPPRESSED, Outbox.kind != "digest"
        )
    )
    return sum(1 for to in rows if address.lower() in [a.lower() for a in to])


def enqueue(
    session: Session,
    cfg: OutboxSettings,
    *,
    kind: str,
    context: NoticeContext,
    to: list[str],
    dedupe_key: str,
    now: datetime,
    about: Message | None = None,
    references: list[str] | None = None,
    auto_submitted: str = AUTO_REPLIED,
    block_reason: str | None = None,
) -> Outbox:
    """Write one notice row (once per dedupe key). A ``block_reason`` records it as suppressed."""
    existing = find_by_key(session, dedupe_key)
    if existing is not None:
        return existing
    context.bureau_name = cfg.bureau_name
    context.contact_line = cfg.contact_line
    context.timezone = cfg.timezone
    in_reply_to = about.message_id if about is not None else None
    refs = [*(references or []), *([in_reply_to] if in_reply_to else [])]
    if about is not None and not context.original_subject:
        context.original_subject = about.subject or None
    if block_reason:  # never sent: record why, without rendering and serialising the notice
        row = _row_without_message(cfg, kind, context, to, dedupe_key, now, about, in_reply_to,
                                   OUTBOX_SUPPRESSED, block_reason)
        session.add(row)
        session.flush()
        log.info("outbox suppressed id=%s kind=%s key=%s (%s)", row.id, kind, dedupe_key, block_reason)
        return row
    try:
        msg = compose(
            kind,
            context,
            to=to,
            sender=cfg.sender,
            in_reply_to=in_reply_to,
            references=refs,  # compose keeps the thread's root and the latest ones
            auto_submitted=auto_submitted,
            msgid_domain=cfg.msgid_domain,
            now=now,
            sender_name=cfg.sender_name,
        )
    except InvalidAddressError as exc:  # a stranger's broken From must not abort processing the message
        row = _row_without_message(cfg, kind, context, to, dedupe_key, now, about, in_reply_to, OUTBOX_FAILED,
                                   f"收件人地址无效，无法发送 / unusable recipient address: {exc}")
    else:
        row = Outbox(
            dedupe_key=dedupe_key,
            kind=kind,
            to=list(to),
            subject=str(msg.get("Subject", "")),
            message_id=str(msg["Message-ID"]),
            in_reply_to=in_reply_to,
            about_message_pk=about.id if about is not None else None,
            raw=msg.as_string(policy=email.policy.SMTP),
            created_at=now,
            next_attempt_at=now,
            status=OUTBOX_PENDING,
            reason="",
        )
    session.add(row)
    session.flush()
    log.info("outbox %s id=%s kind=%s key=%s%s", row.status, row.id, kind, dedupe_key,
             f" ({row.reason})" if row.reason else "")
    return row


def _row_without_message(
    cfg: OutboxSettings,
    kind: str,
    context: NoticeContext,
    to: list[str],
    dedupe_key: str,
    now: datetime,
    about: Message | None,
    in_reply_to: str | None,
    status: str,
    reason: str,
) -> Outbox:
    """The row for a notice that is never sent (suppressed by a rule, or an address is unusable):
    kept, so `show` and the digest tell why nobody was answered, but not rendered."""
    try:
        subject = context.subject()
    except NotImplementedError:
        subject = kind
    return Outbox(
        dedupe_key=dedupe_key,
        kind=kind,
        to=list(to),
        subject=subject,
        message_id=new_message_id(cfg.msgid_domain),
        in_reply_to=in_reply_to,
        about_message_pk=about.id if about is not None else None,
        raw="",
        created_at=now,
        next_attempt_at=None,
        status=status,
        reason=reason,
    )


def earlier_copy_notice(session: Session, about: Message, kind: str) -> Outbox | None:
    """A notice of ``kind`` already going to another stored copy of ``about`` (same Message-ID, other bytes).

    The same mail reaches us twice with different bytes when a relay adds a Received line, when it
    is both in INBOX and in another folder, or when an export is imported again; each copy is its
    own message (its own sha256, hence its own dedupe key), but the sender must get one notice.
    """
    if not about.message_id:
        return None
    stmt = (
        select(Outbox)
        .join(Message, Message.id == Outbox.about_message_pk)
        .where(
            Message.message_id == about.message_id,
            Message.from_addr == about.from_addr,
            Message.id != about.id,
            Outbox.kind == kind,
            Outbox.status != OUTBOX_SUPPRESSED,
        )
        .order_by(Outbox.id)
    )
    return session.exec(stmt).first()


def reply(
    session: Session,
    cfg: OutboxSettings,
    *,
    about: Message,
    headers: Mapping[str, str],
    kind: str,
    context: NoticeContext,
    dedupe_key: str,
    now: datetime,
) -> Outbox:
    """A notice answering ``about``; the RFC 3834 loop rules decide whether it may go out.

    The per-sender count is only looked up once every other rule lets the notice through.
    """

    def block_reason(sent_today: int) -> str | None:
        return reply_block_reason(
            from_addr=about.from_addr, headers=headers, kind=about.kind or "other",
            received_at=about.received_at, now=now, window_days=cfg.reply_window_days,
            our_addresses=set(cfg.our_addresses), sent_today_to_sender=sent_today,
            max_per_sender_per_day=cfg.max_per_sender_per_day)

    reason = block_reason(0)
    if reason is None:
        reason = block_reason(sent_recently_to(session, about.from_addr, now))
    if reason is None and find_by_key(session, dedupe_key) is None:
        earlier = earlier_copy_notice(session, about, kind)
        if earlier is not None:
            reason = (
                f"不自动回复：同一封邮件（{about.message_id}）的另一份副本已有通知 #{earlier.id}，不重复发送"
            )
    return enqueue(
        session,
        cfg,
        kind=kind,
        context=context,
        to=[about.from_addr],
        dedupe_key=dedupe_key,
        now=now,
        about=about,
        references=list(about.references or []),
        block_reason=reason,
    )


@dataclass(frozen=True)
class SmtpAccount:
    """The SMTP server notices are sent through (the password already read from the secrets)."""

    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    username: str | None
    password: str | None
    timeout_seconds: float
    ca_file: str | None = None


@dataclass(frozen=True)
class TransportSettings:
    """What ``build_transport`` needs: an SMTP account, or none and the folder for .eml files.

    The service builds it from its configuration (``ingest.workflows.reminders.transport_settings``).
    """

    outbox_dir: Path
    smtp: SmtpAccount | None = None


def build_transport(settings: TransportSettings, clock: Callable[[], datetime] | None = None) -> Transport:
    """SMTP when configured, else .eml files in the outbox folder (named by ``clock``'s time)."""
    smtp = settings.smtp
    if smtp is None:
        return FileTransport(settings.outbox_dir, clock=clock)
    import ssl

    context = ssl.create_default_context(cafile=smtp.ca_file) if smtp.ca_file else None
    return SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password,
        timeout=smtp.timeout_seconds,
        ssl_context=context,
    )


CLAIM_LEASE = timedelta(minutes=10)  # longer than any SMTP conversation (timeouts are 30 s per step)


@dataclass(frozen=True)
class ClaimedNotice:
    """A row claimed for one delivery attempt (a detached copy: no transaction stays open while sending)."""

    id: int
    kind: str
    to: tuple[str, ...]
    raw: str
    attempts: int  # including this attempt


# Notices to many at once, on a schedule or a publication: they take what the send-rate cap leaves after the answers to a
# sender (receipts, missing items, corrections), which go first whatever is queued before them.
BULK_KINDS = ("late_reminder", "digest", "outcome")


def _due(session: Session, now: datetime) -> Outbox | None:
    bulk_last = case((Outbox.kind.in_(BULK_KINDS), 1), else_=0)  # type: ignore[attr-defined]
    stmt = (
        select(Outbox)
        .where(
            Outbox.status == OUTBOX_PENDING,
            or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
        )
        .order_by(bulk_last, Outbox.id)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.exec(stmt).first()


def reclaim_from_dead_workers(engine: Engine, now: datetime) -> list[int]:
    """Notices claimed by a process of this host that is gone (killed while sending): due again now,
    not after the rest of ``CLAIM_LEASE``. If the server had accepted one before the kill, this is the
    one duplicate the design allows (at least once)."""
    with session_scope(engine) as session:
        claimed = list(session.exec(select(Outbox.id, Outbox.claimed_by).where(
            Outbox.status == OUTBOX_PENDING, Outbox.claimed_by.is_not(None), Outbox.next_attempt_at > now)))
    freed: list[int] = []
    for row_id, holder in claimed:
        if not holder_is_gone(holder):
            continue
        with session_scope(engine) as session:
            done = session.execute(
                update(Outbox).where(Outbox.id == row_id, Outbox.claimed_by == holder,
                                     Outbox.status == OUTBOX_PENDING)
                .values(claimed_by=None, next_attempt_at=now).execution_options(synchronize_session=False))
        if done.rowcount == 1:
            log.warning("outbox id=%s: its sender %s is gone (no such process on this host); due again now",
                        row_id, holder)
            freed.append(row_id)
    return freed


def claim_next(engine: Engine, now: datetime, worker: str) -> ClaimedNotice | None:
    """Take the oldest due answer to a sender, else the oldest due bulk notice: count the attempt and lease it for ``CLAIM_LEASE``, committed at once.

    The update only matches the row as it was read (status and attempts), so of two
    processes sharing the store (two daemons on PostgreSQL, or `zxjyck poll` beside the
    daemon on SQLite) exactly one gets it; the other sees it leased and not due.
    """
    for _race in range(10):
        with session_scope(engine) as session:
            row = _due(session, now)
            if row is None:
                return None
            taken = session.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.status == OUTBOX_PENDING, Outbox.attempts == row.attempts)
                .values(attempts=row.attempts + 1, claimed_by=worker, next_attempt_at=now + CLAIM_LEASE)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:
                return ClaimedNotice(row.id, row.kind, tuple(row.to), row.raw, row.attempts + 1)
        log.debug("outbox id=%s was claimed by another worker, trying the next", row.id)
    return None


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: bool = False  # the send-rate cap was reached; the rest goes out in a later round
    copies_saved: int = 0
    copies_failed: int = 0
    login_refused: str = ""  # the SMTP server refused our login in this round (what the alert says)


class SentCopier(Protocol):
    """Keeps a copy of each sent notice where staff look (the IMAP sent folder)."""

    folder: str

    def append(self, raw: bytes, when: datetime) -> None: ...

    def close(self) -> None: ...


RATE_WINDOW = timedelta(minutes=1)


def sent_in_last_minute(engine: Engine, now: datetime) -> int:
    """Notices the server accepted in the minute before ``now``, by every process sharing the store."""
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(Outbox).where(
            Outbox.status == OUTBOX_SENT, Outbox.sent_at > now - RATE_WINDOW, Outbox.sent_at <= now)).one()


def deliver_due(
    engine: Engine,
    transport: Transport,
    retry: RetryPolicy,
    now: datetime,
    limit: int = 100,
    worker: str | None = None,
    max_per_minute: int | None = None,
    copier: SentCopier | None = None,
) -> DeliveryReport:
    """Send every due pending notice: claim it (committed), send it, record the outcome.

    No database transaction or lock is held while the server is talked to. A notice
    is claimed with its attempt counted and a lease (``next_attempt_at = now +
    CLAIM_LEASE``) before it is sent, and marked sent after the server accepted it.
    A crash in between leaves it pending and leased: it is tried again once the lease
    has run out, so a notice is never lost and never retried without end. If the
    server had already accepted it, that retry is a second copy with the same
    Message-ID: the one duplicate this design allows (at least once, never lost).

    When the server cannot be reached or refuses our login, the round stops after that
    notice: the others would only wait for the same timeout.

    ``max_per_minute``: once that many notices were accepted in the last minute (by
    any process), the round stops and the rest, still in order, waits for the next
    round: a Monday-afternoon burst is spread out instead of getting the account
    throttled. ``copier``: each notice the server accepted is appended once to the
    sent folder; a failed append is recorded on the row and never resends the mail.
    """
    report = DeliveryReport()
    worker = worker or this_holder()  # host:pid, the form holder_is_gone judges
    reclaim_from_dead_workers(engine, now)
    for _ in range(limit):
        if max_per_minute is not None and sent_in_last_minute(engine, now) >= max_per_minute:
            log.info("outbox: %d notices sent in the last minute (the cap); the rest waits", max_per_minute)
            report.deferred = True
            break
        notice = claim_next(engine, now, worker)
        if notice is None:
            break
        outcome = _attempt(notice, transport)
        with session_scope(engine) as session:
            row = session.get(Outbox, notice.id)
            if row is None:  # deleted meanwhile by an administrator
                continue
            _record(row, notice, outcome, retry, now, report)
            sent = row.status == OUTBOX_SENT
            if sent and copier is not None:
                row.sent_copy = "appending"  # committed before the APPEND: never tried twice
            session.add(row)
        if sent and copier is not None:
            _save_copy(engine, copier, notice, now, report)
        if isinstance(outcome, SmtpLoginError):
            report.login_refused = str(outcome)
        if server_unusable(outcome):
            log.warning("outbox: the mail server is unreachable or refuses our login; the rest waits")
            break
    return report


def _save_copy(engine: Engine, copier: SentCopier, notice: ClaimedNotice, now: datetime,
               report: DeliveryReport) -> None:
    try:
        copier.append(notice.raw.encode("utf-8"), now)
    except Exception as exc:  # noqa: BLE001 - the mail went out; a missing copy must not undo that
        state = f"failed: {exc.__class__.__name__}: {exc}"[:2000]
        report.copies_failed += 1
        log.warning("outbox id=%s sent, but its copy in %r was not saved: %s", notice.id, copier.folder, exc)
    else:
        state = f"saved {copier.folder}"
        report.copies_saved += 1
    with session_scope(engine) as session:
        row = session.get(Outbox, notice.id)
        if row is not None:
            row.sent_copy = state
            session.add(row)


def server_unusable(outcome: DeliveryResult | NotifyError) -> bool:
    """The server itself failed (login refused; connection refused, timed out, TLS failed), not this message.

    An outbox folder that cannot be written (disk full, permissions) fails every notice alike.
    A connection that broke in the middle of one message (or a server that cannot take its
    non-ASCII address) says nothing about the next one, so it does not stop the round.
    """
    if isinstance(outcome, SmtpLoginError | OutboxWriteError):
        return True
    return isinstance(outcome, SmtpConnectionError) and isinstance(outcome.__cause__, OSError)


def _attempt(notice: ClaimedNotice, transport: Transport) -> DeliveryResult | NotifyError:
    msg = email.message_from_string(notice.raw, _class=EmailMessage, policy=email.policy.SMTP)
    try:
        return transport.send(msg)
    except NotifyError as exc:
        return exc


def _record(
    row: Outbox,
    notice: ClaimedNotice,
    outcome: DeliveryResult | NotifyError,
    retry: RetryPolicy,
    now: datetime,
    report: DeliveryReport,
) -> None:
    """Write one attempt's outcome on its row (and end the claim: ``claimed_by`` marks a send in flight)."""
    attempts = notice.attempts
    row.claimed_by = None
    if isinstance(outcome, DeliveryError) and retry.should_retry(attempts, outcome):
        row.next_attempt_at = retry.next_attempt_at(attempts, now)
        row.reason = f"第{attempts}次发送失败，将重试 / attempt {attempts} failed, will retry: {outcome}"
        report.retried += 1
        log.warning(
            "outbox id=%s attempt %d failed, retry at %s: %s", row.id, attempts, row.next_attempt_at, outcome
        )
    elif isinstance(outcome, NotifyError):
        row.status = OUTBOX_FAILED
        row.next_attempt_at = None
        row.reason = f"发送失败 / delivery failed: {outcome}"
        report.failed += 1
        log.error("outbox id=%s failed permanently: %s", row.id, outcome)
    else:
        row.status = OUTBOX_SENT
        row.sent_at = now
        row.next_attempt_at = None
        row.reason = refused_reason(outcome.refused) if outcome is not None else ""
        report.sent += 1
        log.info("outbox id=%s sent kind=%s to=%s", row.id, notice.kind, ",".join(notice.to))


def refused_reason(refused: Mapping[str, str]) -> str:
    """What the row keeps when the server took the message for some recipients and refused others."""
    if not refused:
        return ""
    details = "；".join(f"{addr}: {text}" for addr, text in refused.items())
    return f"部分收件人被拒收 / refused for some recipients: {details}"


def mark_bounced(
    session: Session, original_ids: list[str], bounce: Message, report: BounceReport | None = None
) -> list[Outbox]:
    """A DSN for our notices: mark those outbox rows undeliverable (status failed, ``bounced``).

    With the parsed ``report`` (``parsers.bounce.parse_bounce``) the reason names the recipients and the
    server's words, and a report that only says delivery is *delayed* (every recipient "delayed" /
    4.x.x: the remote server keeps trying) leaves the row as it is, with a note in its reason.
    """
    if not original_ids:
        return []
    rows = list(session.exec(select(Outbox).where(Outbox.message_id.in_(original_ids))))
    if report is not None and only_delayed(report):
        for row in rows:
            row.reason = f"延迟投递通知 / delivery delayed (message #{bounce.id}): {report.summary}"[:2000]
            session.add(row)
        return []
    detail = report.summary if report is not None and report.summary else bounce.subject[:120]
    for row in rows:
        row.bounced = True
        row.bounce_message_pk = bounce.id
        if row.status != OUTBOX_SUPPRESSED:
            row.status = OUTBOX_FAILED
        row.reason = f"退信 / bounced (message #{bounce.id}): {detail}"
        session.add(row)
    return rows


def only_delayed(report: BounceReport) -> bool:
    """True for a "still trying" DSN: recipients listed, none failed for good, at least one delayed."""
    recipients = report.recipients
    return (
        bool(recipients)
        and not any(r.permanent for r in recipients)
        and any(r.action == "delayed" or r.status.startswith("4") for r in recipients)
    )
