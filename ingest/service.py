"""The library functions behind the CLI commands and the scheduler jobs."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, or_, select

from ingest import notices
from ingest.app import App
from ingest.errors import IngestError
from ingest.local import check_paths, iter_paths, maildir_items
from ingest.pipeline import IngestReport, process_one, process_pending, store_items
from store.db import session_scope
from store.errors import StoreError
from store.holders import this_holder
from store.models import MESSAGE_STATUSES, Attachment, AuditEntry, Message, Outbox, PollRun
from store.repo import count_by_status

log = logging.getLogger(__name__)


class UnknownMessage(IngestError):
    """A message id given on the command line does not exist."""


def holder_name() -> str:
    """The IMAP lease's holder: ``host:pid``, the form ``store.holders.holder_is_gone`` judges."""
    return this_holder()


def ingest_paths(app: App, paths: Iterable[str], progress: Callable[[], None] | None = None) -> IngestReport:
    """`zxjyck ingest`: store every message found under the paths, then process the new ones."""
    checked = check_paths(paths)
    report = IngestReport()
    store_items(app, iter_paths(checked), report, progress)
    process_pending(app, report)
    notices.deliver(app)
    return report


def _record_poll(app: App, source: str, started: datetime, report: IngestReport, error: str | None,
                 marking: str | None = None) -> None:
    with session_scope(app.engine) as session:
        session.add(PollRun(source=source, started_at=started, finished_at=app.now(), ok=error is None,
                            fetched=report.seen, new=report.new, error=error,
                            trigger=app.extras.get("trigger", "manual"), marking=marking))


def pickup(app: App) -> IngestReport:
    """Fetch what is new from the configured sources (every IMAP mailbox, or the local Maildir) and store it.

    A mailbox that fails is recorded (status shows it) and the others are still read; the first
    failure is raised after all were tried.
    """
    report = IngestReport()
    accounts = app.settings.imap_accounts()
    if not accounts:
        started = app.now()
        maildir = app.settings.maildir
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        store_items(app, maildir_items(maildir, subdirs=("new",), mark_seen=True), report)
        _record_poll(app, f"maildir:{maildir}", started, report, None)
        return report
    from ingest.imap_errors import ImapLeaseHeldError
    from ingest.imap_sink import poll_imap

    first_error: IngestError | None = None
    for account in accounts:
        started = app.now()
        source = f"imap:{account.username}@{account.host}/{account.folder}"
        part = IngestReport()
        try:
            result = poll_imap(app, account, part, holder_name())
        except ImapLeaseHeldError:
            raise  # another poller is at work: nothing failed, nothing to record
        except IngestError as exc:
            # a manual poll prints the error it raises once; only what it does not raise is logged as an error
            manual_first = app.extras.get("trigger", "manual") == "manual" and first_error is None
            log.log(logging.INFO if manual_first else logging.ERROR, "pickup from %s failed: %s", source, exc)
            _record_poll(app, source, started, part, str(exc))
            first_error = first_error or exc
        else:
            _record_poll(app, source, started, part, None,
                         result.strategy.describe() if result.strategy else None)
        report.seen += part.seen
        report.new += part.new
        report.duplicates += part.duplicates
        report.unreadable.extend(part.unreadable)
    if first_error is not None:
        raise first_error
    return report


def poll(app: App) -> IngestReport:
    """`zxjyck poll`: one full cycle: pickup, processing, the outbox."""
    report = pickup(app)
    process_pending(app, report)
    notices.deliver(app)
    return report


def audit(app: App, actor: str, action: str, detail: str = "", message_pk: int | None = None) -> None:
    """Write one administrative action to the audit table (who, when, what)."""
    with session_scope(app.engine) as session:
        session.add(AuditEntry(at=app.now(), actor=actor[:255], action=action[:64], message_pk=message_pk,
                               detail=detail[:2000]))


def actor_name() -> str:
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def replay(app: App, ids: list[int] | None = None, status: str | None = None,
           actor: str | None = None) -> dict[int, str]:
    """Process stored messages again from their archived raw bytes; each replay is audited."""
    with session_scope(app.engine) as session:
        if ids:
            found = set(session.exec(select(Message.id).where(Message.id.in_(ids))).all())
            missing = [i for i in ids if i not in found]
            if missing:
                raise UnknownMessage(f"no message with id {', '.join(map(str, missing))} / 找不到该编号的邮件")
            targets = list(ids)
        else:
            if status not in MESSAGE_STATUSES:
                raise IngestError(f"unknown status {status!r}; one of {', '.join(MESSAGE_STATUSES)} / "
                                  f"未知状态“{status}”，可选：{'、'.join(MESSAGE_STATUSES)}")
            targets = list(session.exec(select(Message.id).where(Message.status == status).order_by(Message.id)))
    actor = actor or actor_name()
    results: dict[int, str] = {}
    for pk in targets:
        with session_scope(app.engine) as session:
            before = session.get(Message, pk).status
        results[pk] = process_one(app, pk)
        audit(app, actor, "replay", f"{before} -> {results[pk]}", pk)
    return results


@dataclass
class MessageFilter:
    status: str | None = None
    kind: str | None = None
    city: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200
    q: str | None = None  # a word in the subject, the sender's address or name (the console's search box)


def list_messages(app: App, flt: MessageFilter) -> list[Message]:
    with session_scope(app.engine) as session:
        stmt = select(Message)
        if flt.status:
            stmt = stmt.where(Message.status == flt.status)
        if flt.kind:
            stmt = stmt.where(Message.kind == flt.kind)
        if flt.city:
            stmt = stmt.where(Message.city == flt.city)
        if flt.since:
            stmt = stmt.where(Message.received_at >= flt.since)
        if flt.until:
            stmt = stmt.where(Message.received_at < flt.until)
        if flt.q:  # LIKE's wildcards typed by a person are taken out, not interpreted
            like = f"%{flt.q.replace('%', '').replace('_', '')[:100]}%"
            stmt = stmt.where(or_(col(Message.subject).ilike(like), col(Message.from_addr).ilike(like),
                                  col(Message.from_name).ilike(like)))
        stmt = stmt.order_by(Message.received_at.desc(), Message.id.desc()).limit(flt.limit)
        return list(session.exec(stmt).all())


@dataclass
class MessageDetail:
    message: Message
    attachments: list[Attachment]
    extra: dict[str, list] = field(default_factory=dict)  # sections added by later features
    archive_path: str = ""  # the archived original (.eml) every attachment is decoded from again


def _notices_section(session, msg: Message) -> list[str]:
    rows = session.exec(select(Outbox).where(Outbox.about_message_pk == msg.id).order_by(Outbox.id))
    return [f"{o.kind} → {', '.join(o.to)}: {o.status}" + (f" ({o.reason})" if o.reason else "") for o in rows]


def _audit_section(session, msg: Message) -> list[str]:
    rows = session.exec(select(AuditEntry).where(AuditEntry.message_pk == msg.id).order_by(AuditEntry.at))
    return [f"{a.at.isoformat(timespec='seconds')} {a.actor} {a.action} {a.detail}" for a in rows]


def _records_section(session, msg: Message) -> list[str]:
    from store.models import Application, ApplicationMessage, WeeklyReport

    lines = [f"周报 weekly report: {r.city} {r.week_start}–{r.week_end} {r.status}"
             + (" 逾期 late" if r.late else "") + (" 已被替代 superseded" if r.superseded else "")
             + f", {r.total_headcount if r.total_headcount is not None else '-'} 人"
             for r in session.exec(select(WeeklyReport).where(WeeklyReport.message_pk == msg.id))]
    links = session.exec(select(ApplicationMessage).where(ApplicationMessage.message_pk == msg.id))
    for link in links:
        a = session.get(Application, link.application_id)
        lines.append(f"平台申报 application: {a.platform_name or '-'} ({a.credit_code or '-'}) "
                     f"{'材料齐全 complete' if a.complete else '未齐 incomplete'}"
                     + (f", 批次 batch {a.batch}" if a.batch else "")
                     + (f", 推荐 recommended by {a.recommended_by}" if a.recommended_by else "")
                     + {True: ", 已盖章 stamped", False: ", 未见盖章件 no stamped copy", None: ""}[a.stamped])
        lines.extend(f"  待核对 for staff: {p}" for p in a.staff_problems or [])
    return lines


DETAIL_SECTIONS: dict[str, Callable] = {
    "提取结果 Extracted records": _records_section,
    "通知 Notices": _notices_section,
    "审计 Audit": _audit_section,
}


def message_detail(app: App, pk: int) -> MessageDetail:
    with session_scope(app.engine) as session:
        msg = session.get(Message, pk)
        if msg is None:
            raise UnknownMessage(f"no message with id {pk} / 找不到编号为 {pk} 的邮件")
        atts = list(session.exec(select(Attachment).where(Attachment.message_pk == pk).order_by(Attachment.position)))
        extra = {name: fn(session, msg) for name, fn in DETAIL_SECTIONS.items()}
        try:
            archived = str(app.archive.path_for(msg.sha256))
        except StoreError:
            archived = ""
        return MessageDetail(msg, atts, extra, archived)


@dataclass
class Health:
    counts: dict[str, int]
    total: int
    backlog: int
    last_poll: PollRun | None
    last_ok_poll: PollRun | None
    outbox: dict[str, int]
    problems: list[str]
    markings: dict[str, str] = field(default_factory=dict)  # IMAP source -> marking strategy last used

    @property
    def healthy(self) -> bool:
        return not self.problems


def poll_interval(app: App) -> timedelta:
    from ingest.daemon import LOCAL_POLL_SECONDS

    accounts = app.settings.imap_accounts()
    return timedelta(seconds=min(a.poll_interval_seconds for a in accounts) if accounts else LOCAL_POLL_SECONDS)


def health(app: App) -> Health:
    """Counts and the verdict of `zxjyck status`: unhealthy when pickup has stalled or notices failed."""
    from notify.outbox import outbox_counts

    with session_scope(app.engine) as session:
        counts = count_by_status(session)
        total = session.exec(select(func.count()).select_from(Message)).one()
        last = session.exec(select(PollRun).order_by(PollRun.started_at.desc()).limit(1)).first()
        last_ok = session.exec(select(PollRun).where(PollRun.ok).order_by(PollRun.started_at.desc()).limit(1)).first()
        outbox = outbox_counts(session)
        markings: dict[str, str] = {}
        for run in session.exec(select(PollRun).where(PollRun.marking.is_not(None))
                                .order_by(PollRun.started_at.desc()).limit(200)):
            markings.setdefault(run.source, run.marking)
    problems: list[str] = []
    if last is not None and not last.ok:
        problems.append(f"最近一次收取失败 last poll failed: {last.error}")
    stale_after = 3 * poll_interval(app)
    daemon_silent = last is not None and last.trigger == "daemon" and (
        last_ok is None or last_ok.finished_at < app.now() - stale_after)
    if daemon_silent:  # a manual `zxjyck poll` now and then is not a stalled daemon
        problems.append(f"超过 {int(stale_after.total_seconds())} 秒没有成功收取 no successful poll for 3 intervals")
    if outbox.get("failed"):
        problems.append(f"{outbox['failed']} 封通知发送失败 outbox failures (see zxjyck digest)")
    return Health(counts, total, counts.get("received", 0), last, last_ok, outbox, problems, markings)
