"""The library functions behind the CLI commands and the scheduler jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, or_, select

from ingest.app import App
from ingest.errors import UnknownMessage
from store.db import session_scope
from store.errors import StoreError
from store.models import Attachment, AuditEntry, Message, Outbox

log = logging.getLogger(__name__)


@dataclass
class MessageFilter:
    status: str | None = None
    kind: str | None = None
    city: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200
    q: str | None = None  # a word in the subject, the sender's address or name (the console's search box)


def list_messages(app: App, query: MessageFilter) -> list[Message]:
    with session_scope(app.engine) as session:
        stmt = select(Message)
        if query.status:
            stmt = stmt.where(Message.status == query.status)
        if query.kind:
            stmt = stmt.where(Message.kind == query.kind)
        if query.city:
            stmt = stmt.where(Message.city == query.city)
        if query.since:
            stmt = stmt.where(Message.received_at >= query.since)
        if query.until:
            stmt = stmt.where(Message.received_at < query.until)
        if query.q:  # LIKE's wildcards typed by a person are taken out, not interpreted
            like = f"%{query.q.replace('%', '').replace('_', '')[:100]}%"
            stmt = stmt.where(or_(col(Message.subject).ilike(like), col(Message.from_addr).ilike(like),
                                  col(Message.from_name).ilike(like)))
        stmt = stmt.order_by(Message.received_at.desc(), Message.id.desc()).limit(query.limit)
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
             + f"（周报编号 report {r.id}）"
             + (" 修订待接受 revision pending" if r.revision == "pending" else "")
             + (" 已接受的修订 accepted revision" if r.revision == "accepted" else "")
             + (" 请核实 outlier" if "outlier" in (r.flags or []) and "verified" not in r.flags else "")
             + (" 已核实 verified" if "verified" in (r.flags or []) else "")
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


DETAIL_SECTIONS: dict[str, Callable] = {
    "提取结果 Extracted records": _records_section,
    "通知 Notices": _notices_section,
    "审计 Audit": _audit_section,
}
