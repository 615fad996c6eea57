"""How long each kind of data is kept (``[retention]``), and `zxjyck purge`, which the daemon runs daily.

What goes, when it is older than its period:

- raw mail (``archive_years``): the archived original of a message. Its row stays with
  ``raw_removed_at``/``raw_removed_reason`` so the console and the CLI say the original is gone; what was
  derived from it (reports, applications, materials, totals) stays.
- notice bodies (``outbox_days``): the composed text of a notice that is no longer pending; its row
  (kind, recipients, subject, status, times) stays, ``body_removed_at`` set.
- operational records (``operational_days``): poll runs, login failure counters, expired console sessions.
- the audit log (``audit_days``, never under 180 days).

A row's marker is committed before its file is deleted: a crash in between leaves a file the next purge
deletes, never a row whose original vanished unannounced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, delete, select, update

from ingest.app import App
from store.db import session_scope
from store.models import (
    OUTBOX_PENDING,
    AuditEntry,
    LoginFailure,
    Message,
    Outbox,
    PollRun,
    WebSession,
)

log = logging.getLogger(__name__)
BATCH = 500
KINDS = {  # what purge prints, per kind
    "raw_mail": "原始邮件及附件 raw mail and attachments",
    "notice_bodies": "通知正文 notice bodies",
    "poll_runs": "收取记录 poll runs",
    "login_failures": "登录失败记录 login failures",
    "sessions": "过期会话 expired sessions",
    "audit": "审计日志 audit entries",
}


@dataclass
class PurgeReport:
    dry_run: bool
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def line(self) -> str:
        verb = "将删除 would remove" if self.dry_run else "已删除 removed"
        return f"{verb}: " + "; ".join(f"{KINDS[k]} {n}" for k, n in self.removed.items())


@dataclass(frozen=True)
class Cutoffs:
    raw_mail: datetime
    notice_bodies: datetime
    operational: datetime
    audit: datetime


def cutoffs(app: App) -> Cutoffs:
    r, now = app.settings.retention, app.now()
    ops = now - timedelta(days=r.operational_days)
    return Cutoffs(now - timedelta(days=round(365.25 * r.archive_years)), now - timedelta(days=r.outbox_days), ops,
                   now - timedelta(days=r.audit_days))


def remove_originals(app: App, pks: list[int], reason: str) -> int:
    """Mark these messages' originals removed (committed), then delete their archive files; how many."""
    with session_scope(app.engine) as session:
        rows = session.exec(select(Message).where(Message.id.in_(pks), Message.raw_removed_at.is_(None))).all()
        digests = [m.sha256 for m in rows]
        for m in rows:
            m.raw_removed_at, m.raw_removed_reason = app.now(), reason
            session.add(m)
    for digest in digests:
        app.archive.remove(digest)
    return len(digests)


def _count(session: Session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def purge(app: App, actor: str, dry_run: bool = False) -> PurgeReport:
    """Apply ``[retention]``: remove (or with ``dry_run`` only count) what its periods let go."""
    cut, report = cutoffs(app), PurgeReport(dry_run)
    old_mail = (Message.received_at < cut.raw_mail, Message.raw_removed_at.is_(None))
    old_bodies = (Outbox.created_at < cut.notice_bodies, Outbox.status != OUTBOX_PENDING, Outbox.raw != "")
    rest = {"poll_runs": (PollRun, PollRun.started_at < cut.operational),
            "login_failures": (LoginFailure, LoginFailure.last_at < cut.operational),
            "sessions": (WebSession, WebSession.expires_at < cut.operational),
            "audit": (AuditEntry, AuditEntry.at < cut.audit)}
    with session_scope(app.engine) as session:
        report.removed["raw_mail"] = _count(session, Message, *old_mail)
        report.removed["notice_bodies"] = _count(session, Outbox, *old_bodies)
        for kind, (model, where) in rest.items():
            report.removed[kind] = _count(session, model, where)
    if dry_run:
        return report
    while pks := _ids(app, old_mail):
        remove_originals(app, pks, "retention")
    _sweep_removed(app)
    with session_scope(app.engine) as session:
        session.exec(update(Outbox).where(*old_bodies).values(raw="", body_removed_at=app.now()))
        for model, where in rest.values():
            session.exec(delete(model).where(where))
        session.add(AuditEntry(at=app.now(), actor=actor[:255], action="purge", detail=report.line()[:2000]))
    log.info("purge: %s", report.line())
    return report


def _ids(app: App, where: tuple) -> list[int]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(Message.id).where(*where).order_by(Message.id).limit(BATCH)))


def _sweep_removed(app: App) -> None:
    """Files of originals marked removed that a crash left behind."""
    with session_scope(app.engine) as session:
        digests = session.exec(select(Message.sha256).where(Message.raw_removed_at.is_not(None))).all()
    for digest in digests:
        if app.archive.has(digest):
            app.archive.remove(digest)
