"""Reading the audit log: `zxjyck audit` and the console's /audit page (filtered and paged in the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import select

from ingest.app import App
from store.db import session_scope
from store.models import AuditEntry

# what each action means, for people reading the log (actions not listed are shown as they are)
ACTIONS = {
    "login": "登录 login", "login_failed": "登录失败 failed login", "logout": "退出 logout",
    "view_message": "查看邮件 message viewed", "view_attachment": "查看附件页面 attachment page viewed",
    "download_attachment": "下载附件 attachment downloaded", "export": "导出 export", "backup": "备份 backup",
    "restore": "恢复 restore", "purge": "按期清理 purge", "erase": "应要求删除 erasure",
    "replay": "重新处理 replay", "confirm_sender": "确认发件人 sender confirmed", "reject": "退回 rejected",
    "not_a_report": "标为非周报 not a report", "resend": "重发通知 notice resent", "review": "审核 review",
    "user_add": "新建账号 user added", "user_disable": "停用账号 user disabled", "user_passwd": "重设密码 password set",
    "city_add": "登记地市邮箱 city address added", "city_remove": "删除地市邮箱 city address removed",
    "remind": "催报 reminders", "digest": "每日汇总 digest", "expunge": "从邮件服务器删除 expunged from the server",
}


@dataclass(frozen=True)
class AuditFilter:
    since: date | None = None
    until: date | None = None  # inclusive
    user: str = ""
    action: str = ""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    actions: list[str]  # every action in the log, for the filter


def audit_entries(app: App, f: AuditFilter) -> AuditPage:
    """The entries matching ``f``, newest first, one page of them; days in ``schedule.timezone``."""
    cal = app.settings.schedule.calendar()
    where = []
    if f.since:
        where.append(AuditEntry.at >= cal.day_bounds(f.since)[0])
    if f.until:
        where.append(AuditEntry.at < cal.day_bounds(f.until)[1])
    if f.user:
        where.append(AuditEntry.actor == f.user)
    if f.action:
        where.append(AuditEntry.action == f.action)
    with session_scope(app.engine) as session:
        total = session.exec(select(func.count()).select_from(AuditEntry).where(*where)).one()
        rows = session.exec(select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                            .offset(max(0, f.offset)).limit(max(1, min(f.limit, 10000)))).all()
        actions = sorted(session.exec(select(AuditEntry.action).distinct()).all())
    return AuditPage(list(rows), total, actions)


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


def local_time(app: App, moment: datetime) -> str:
    return moment.astimezone(app.settings.schedule.calendar().tz).strftime("%Y-%m-%d %H:%M:%S")
