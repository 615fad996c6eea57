"""Alert mail to the administrators: queued through the outbox like every notice (one dedupe key per incident
and change, ``alert:<condition>:<start>:start|clear``), never to a sender; and sent at once when no daemon runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from notify.compose import AlertContext
from notify.errors import SmtpLoginError
from notify.outbox import (
    AUTO_GENERATED,
    CLAIM_LEASE,
    ClaimedNotice,
    DeliveryReport,
    OutboxSettings,
    _attempt,
    _record,
    enqueue,
)
from notify.transport import RetryPolicy, Transport
from store.db import session_scope
from store.holders import this_holder
from store.models import OUTBOX_PENDING, Outbox


def alert_key(condition: str, started_at: datetime, change: str) -> str:
    return f"alert:{condition}:{started_at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}:{change}"


def queue_alert(session: Session, cfg: OutboxSettings, *, to: list[str], condition: str, context: AlertContext,
                change: str, now: datetime) -> Outbox:
    """One alert row (once per incident and change), to ``to`` only: the administrators of [alerts] to."""
    return enqueue(session, cfg, kind="alert", context=context, to=list(to), now=now,
                   dedupe_key=alert_key(condition, context.started_at, change), auto_submitted=AUTO_GENERATED)



def send_now(engine: Engine, transport: Transport, row_id: int, retry: RetryPolicy, now: datetime,
             worker: str | None = None) -> DeliveryReport:
    """Send one pending notice at once, whatever its next attempt time (``zxjyck status --alert`` when no daemon
    runs): claimed like any delivery, so a daemon that comes back meanwhile never sends it too."""
    report = DeliveryReport()
    worker = worker or this_holder()
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        if row is None or row.status != OUTBOX_PENDING:
            return report
        taken = session.execute(
            update(Outbox).where(Outbox.id == row_id, Outbox.status == OUTBOX_PENDING, Outbox.attempts == row.attempts,
                                 or_(Outbox.claimed_by.is_(None), Outbox.next_attempt_at <= now))
            .values(attempts=row.attempts + 1, claimed_by=worker, next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # another process is sending it
            return report
        notice = ClaimedNotice(row.id, row.kind, tuple(row.to), row.raw, row.attempts + 1)
    outcome = _attempt(notice, transport)
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        if row is not None:
            _record(row, notice, outcome, retry, now, report)
            session.add(row)
    if isinstance(outcome, SmtpLoginError):
        report.login_refused = str(outcome)
    return report
