"""The outbox: notices as rows, written with the decision that causes them, sent later.

Each row has a dedupe key (``receipt:<sha256>``, ``late_reminder:<city>:<week>``
…) with a unique constraint, so a replay or a crash between commit and send
never makes a second notice for one reason. Delivery claims rows (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so several daemons share the work), sends
them, retries temporary failures with capped backoff, and marks permanent ones.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from notify.compose import NoticeContext, compose
from notify.errors import DeliveryError, NotifyError
from notify.rules import reply_block_reason
from notify.transport import FileTransport, RetryPolicy, SmtpTransport, Transport
from store.db import session_scope
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
    in_reply_to = about.message_id if about is not None else None
    refs = [*(references or []), *([in_reply_to] if in_reply_to else [])]
    if about is not None and not context.original_subject:
        context.original_subject = about.subject or None
    msg = compose(
        kind,
        context,
        to=to,
        sender=cfg.sender,
        in_reply_to=in_reply_to,
        references=refs[-20:],
        auto_submitted=auto_submitted,
        msgid_domain=cfg.msgid_domain,
        now=now,
        sender_name=cfg.sender_name,
    )
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
        status=OUTBOX_SUPPRESSED if block_reason else OUTBOX_PENDING,
        reason=block_reason or "",
    )
    session.add(row)
    session.flush()
    log.info(
        "outbox %s id=%s kind=%s key=%s%s",
        row.status,
        row.id,
        kind,
        dedupe_key,
        f" ({block_reason})" if block_reason else "",
    )
    return row


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
    """A notice answering ``about``; the RFC 3834 loop rules decide whether it may go out."""
    reason = reply_block_reason(
        from_addr=about.from_addr,
        headers=headers,
        kind=about.kind or "other",
        received_at=about.received_at,
        now=now,
        window_days=cfg.reply_window_days,
        our_addresses=set(cfg.our_addresses),
        sent_today_to_sender=sent_recently_to(session, about.from_addr, now),
        max_per_sender_per_day=cfg.max_per_sender_per_day,
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


def build_transport(settings) -> Transport:
    """SMTP when configured, else .eml files in the outbox folder."""
    smtp = settings.smtp
    if smtp is None:
        return FileTransport(settings.outbox_dir)
    import ssl

    context = ssl.create_default_context(cafile=smtp.ca_file) if smtp.ca_file else None
    return SmtpTransport(
        smtp.host,
        smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password.get_secret_value() if smtp.password else None,
        timeout=smtp.timeout_seconds,
        ssl_context=context,
    )


def _claim(session: Session, now: datetime, limit: int) -> list[Outbox]:
    stmt = (
        select(Outbox)
        .where(
            Outbox.status == OUTBOX_PENDING,
            or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.exec(stmt).all())


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    engine: Engine, transport: Transport, retry: RetryPolicy, now: datetime, limit: int = 100
) -> DeliveryReport:
    """Send every due pending notice, one transaction per notice (a crash re-sends at most that one).

    On PostgreSQL the row stays locked while it is sent, so another daemon
    skips it; the FileTransport is idempotent per Message-ID and SMTP servers
    deduplicate nothing, so the lock is what keeps a notice from going twice.
    """
    report = DeliveryReport()
    while True:
        with session_scope(engine) as session:
            batch = _claim(session, now, 1)
            if not batch:
                return report
            row = batch[0]
            _send_one(row, transport, retry, now, report)
            session.add(row)
        if report.sent + report.retried + report.failed >= limit:
            return report


def _send_one(
    row: Outbox, transport: Transport, retry: RetryPolicy, now: datetime, report: DeliveryReport
) -> None:
    msg = email.message_from_string(row.raw, _class=EmailMessage, policy=email.policy.SMTP)
    row.attempts += 1
    try:
        transport.send(msg)
    except DeliveryError as exc:
        if retry.should_retry(row.attempts, exc):
            row.next_attempt_at = retry.next_attempt_at(row.attempts, now)
            row.reason = (
                f"第{row.attempts}次发送失败，将重试 / attempt {row.attempts} failed, will retry: {exc}"
            )
            report.retried += 1
            log.warning(
                "outbox id=%s attempt %d failed, retry at %s: %s",
                row.id,
                row.attempts,
                row.next_attempt_at,
                exc,
            )
        else:
            row.status = OUTBOX_FAILED
            row.reason = f"发送失败 / delivery failed: {exc}"
            report.failed += 1
            log.error("outbox id=%s failed permanently: %s", row.id, exc)
        return
    except NotifyError as exc:
        row.status = OUTBOX_FAILED
        row.reason = f"发送失败 / delivery failed: {exc}"
        report.failed += 1
        return
    row.status = OUTBOX_SENT
    row.sent_at = now
    row.reason = ""
    report.sent += 1
    log.info("outbox id=%s sent kind=%s to=%s", row.id, row.kind, ",".join(row.to))


def mark_bounced(session: Session, original_ids: list[str], bounce: Message) -> list[Outbox]:
    """A DSN for our notices: mark those outbox rows undeliverable."""
    if not original_ids:
        return []
    rows = list(session.exec(select(Outbox).where(Outbox.message_id.in_(original_ids))))
    for row in rows:
        row.bounced = True
        row.bounce_message_pk = bounce.id
        if row.status != OUTBOX_SUPPRESSED:
            row.status = OUTBOX_FAILED
        row.reason = f"退信 / bounced (message #{bounce.id}): {bounce.subject[:120]}"
        session.add(row)
    return rows


def outbox_counts(session: Session) -> dict[str, int]:
    return {s: n for s, n in session.exec(select(Outbox.status, func.count()).group_by(Outbox.status))}
