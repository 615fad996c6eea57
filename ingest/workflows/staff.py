"""What a person decides, one function per action, shared by the CLI and the staff console.

Every function takes the acting person's name (``actor``) and writes an audit
entry in the same transaction as the change it makes. Errors are
``StaffActionError`` subclasses with a message fit to show (Chinese / English);
the CLI prints it, the console shows it on the page.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, delete, select

from ingest.app import App
from ingest.errors import IngestError, UnknownMessage
from ingest.pipeline.run import process_one
from ingest.workflows import figures
from ingest.workflows.dispatch import run_workflows
from parsers.cities import GUANGDONG_CITIES
from store import cities as registry
from store.db import session_scope
from store.models import (
    DECISION_NOT_A_REPORT,
    DECISION_REJECTED,
    FLAG_OUTLIER,
    FLAG_VERIFIED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    REPORT_ACCEPTED,
    REVIEW_STATES,
    REVISION_ACCEPTED,
    REVISION_PENDING,
    ROLES,
    Application,
    ApplicationReview,
    AuditEntry,
    Message,
    Outbox,
    PlatformLink,
    StaffDecision,
    User,
    WebSession,
    WeekClosure,
    WeeklyReport,
)
from store.states import MESSAGE_STATUSES
from zxjyck.platform_names import platform_key

MIN_PASSWORD = 10
MAX_NOTE = 2000
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_hasher = PasswordHasher()


class StaffActionError(IngestError):
    """A staff action could not be done; the message says why."""


class UnknownRecord(StaffActionError):
    """The message, notice, application or user does not exist."""


class InvalidInput(StaffActionError):
    """A value given for the action is not acceptable (city, address, role, password, state)."""


class NotAllowed(StaffActionError):
    """The action does not apply to the record in its present state."""


def _audit(session: Session, now: datetime, actor: str, action: str, detail: str,
           message_pk: int | None = None, address: str = "") -> None:
    session.add(AuditEntry(at=now, actor=actor[:255], action=action[:64], message_pk=message_pk,
                           detail=detail[:2000], address=address[:64]))


def _note(text: str) -> str:
    cleaned = "".join(ch for ch in (text or "") if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return cleaned.strip()[:MAX_NOTE]


def _city(city: str) -> str:
    city = (city or "").strip()
    if city not in GUANGDONG_CITIES:
        raise InvalidInput(f"“{city[:40]}”不是广东省的地级市 / not a prefecture-level city of Guangdong")
    return city


def _address(address: str) -> str:
    address = registry.normalize_address(address or "")
    local, _, domain = address.partition("@")
    if not local or "." not in domain or len(address) > 320 or any(c.isspace() or c in "<>,;\"'" for c in address):
        raise InvalidInput(f"“{address[:80]}”不是有效的邮箱地址 / not a valid e-mail address")
    return address


def _message(session: Session, pk: int) -> Message:
    msg = session.get(Message, pk)
    if msg is None:
        raise UnknownRecord(f"找不到编号为 {pk} 的邮件 / no message with id {pk}")
    return msg


# ---------------------------------------------------------------- decisions on held mail


def _process_again(app: App, pk: int) -> str:
    return process_one(app, pk, workflows=run_workflows)


def confirm_sender(app: App, actor: str, message_pk: int, city: str | None = None) -> str:
    """The sender of a held report does report for ``city``: register the address, process the message again."""
    with session_scope(app.engine) as session:
        msg = _message(session, message_pk)
        city = _city(city or msg.city or "")
        address = _address(msg.from_addr)
        _refuse_untrusted_sender(app, msg)
        registry.add_address(session, city, address, actor, app.now(), message_pk=message_pk)
        session.exec(delete(StaffDecision).where(StaffDecision.message_pk == message_pk))
        _audit(session, app.now(), actor, "confirm_sender", f"{address} 确认为{city}报送邮箱", message_pk)
    status = _process_again(app, message_pk)
    with session_scope(app.engine) as session:
        _audit(session, app.now(), actor, "replay", f"after confirm -> {status}", message_pk)
    return status


def _refuse_untrusted_sender(app: App, msg: Message) -> None:
    """A From with sender problems (two addresses, an address in the display name...) names nobody for sure:
    registering its address could make a stranger's later mail count as the city's report."""
    from ingest.pipeline.decode import decode_message
    from store.errors import StoreError

    try:
        problems = decode_message(app.archive.get(msg.sha256)).sender_problems  # decoding never raises
    except StoreError as exc:  # no archive copy: nothing to check the sender against
        raise NotAllowed(f"邮件 {msg.id} 的原件无法读取，不能据此登记发件人 / the archived message cannot be read") from exc
    if problems:
        raise NotAllowed(f"邮件 {msg.id} 的发件人不可信（{problems[0]}），不能据此登记为地市报送邮箱；"
                         "如确为地市邮箱，请核实后由管理员在“地市邮箱”中登记 / the sender of this message is not "
                         "trustworthy and cannot be registered from it")


def _decide(app: App, actor: str, message_pk: int, decision: str, note: str, action: str) -> str:
    with session_scope(app.engine) as session:
        msg = _message(session, message_pk)
        row = session.get(StaffDecision, message_pk) or StaffDecision(message_pk=msg.id, decision=decision,
                                                                        actor=actor[:255], at=app.now())
        row.decision, row.note, row.actor, row.at = decision, _note(note), actor[:255], app.now()
        session.add(row)
        _audit(session, app.now(), actor, action, _note(note), message_pk)
    return _process_again(app, message_pk)


def reject_message(app: App, actor: str, message_pk: int, note: str = "") -> str:
    """Reject a message: it is kept, counted nowhere, and carries the note."""
    return _decide(app, actor, message_pk, DECISION_REJECTED, note, "reject")


def mark_not_report(app: App, actor: str, message_pk: int, note: str = "") -> str:
    """The message is not a weekly report (and not an application): kept as 'other', counted nowhere."""
    return _decide(app, actor, message_pk, DECISION_NOT_A_REPORT, note, "not_a_report")


def replay_message(app: App, actor: str, message_pk: int) -> str:
    """Process a stored message again from its archived bytes (after a fix)."""

    return replay(app, [message_pk], actor=actor)[message_pk]


# ---------------------------------------------------------------- notices, applications


def resend_notice(app: App, actor: str, outbox_id: int) -> None:
    """Queue a failed or bounced notice again; the outbox sends it on its next round."""
    with session_scope(app.engine) as session:
        row = session.get(Outbox, outbox_id)
        if row is None:
            raise UnknownRecord(f"找不到编号为 {outbox_id} 的通知 / no notice with id {outbox_id}")
        if row.status != OUTBOX_FAILED and not (row.status == OUTBOX_SENT and row.bounced):
            raise NotAllowed(f"通知 {outbox_id} 没有发送失败或退信，无需重发 / notice {outbox_id} did not fail")
        before = "bounced" if row.bounced else row.status
        row.status, row.attempts, row.next_attempt_at, row.claimed_by = OUTBOX_PENDING, 0, app.now(), None
        row.bounced, row.reason = False, f"工作人员 {actor} 要求重发（原状态：{before}）"[:2000]
        row.dismissed_at = row.dismissed_by = None
        session.add(row)
        _audit(session, app.now(), actor, "resend", f"outbox {outbox_id} ({before}) -> pending", row.about_message_pk)


def dismiss_notice(app: App, actor: str, outbox_id: int, note: str = "") -> None:
    """A failed or bounced notice staff have dealt with another way (a phone call, a corrected address): it leaves
    the outbox page and the digest, and no longer makes the service unhealthy. Kept, with who and when."""
    with session_scope(app.engine) as session:
        row = session.get(Outbox, outbox_id)
        if row is None:
            raise UnknownRecord(f"找不到编号为 {outbox_id} 的通知 / no notice with id {outbox_id}")
        if row.status != OUTBOX_FAILED and not (row.status == OUTBOX_SENT and row.bounced):
            raise NotAllowed(f"通知 {outbox_id} 没有发送失败或退信，无需标记 / notice {outbox_id} did not fail")
        if row.dismissed_at is not None:
            raise NotAllowed(f"通知 {outbox_id} 已由 {row.dismissed_by} 标记为已处理 / already dismissed")
        row.dismissed_at, row.dismissed_by = app.now(), actor[:255]
        session.add(row)
        before = "bounced" if row.bounced else row.status
        _audit(session, app.now(), actor, "dismiss", f"outbox {outbox_id} ({before}) dismissed"
               + (f"；{_note(note)}" if _note(note) else ""), row.about_message_pk)


def list_notice_problems(app: App) -> list[Outbox]:
    """Notices that failed or bounced and that nobody has resent or dismissed yet, oldest first."""
    from store.repo import unresolved_failure

    with session_scope(app.engine) as session:
        return list(session.exec(select(Outbox).where(unresolved_failure()).order_by(Outbox.id)))


def set_review_state(app: App, actor: str, application_id: int, state: str, note: str = "") -> None:
    """Record where staff are with an application (待审核 / 材料齐全 / 已提交评审 / 入选 / 未入选) and a note."""
    if state not in REVIEW_STATES:
        raise InvalidInput(f"审核状态只能是：{'、'.join(REVIEW_STATES)} / unknown review state")
    with session_scope(app.engine) as session:
        if session.get(Application, application_id) is None:
            raise UnknownRecord(f"找不到编号为 {application_id} 的申报 / no application with id {application_id}")
        row = session.get(ApplicationReview, application_id) or ApplicationReview(
            application_id=application_id, updated_by=actor[:255], updated_at=app.now())
        before = row.state if row.note or row.state != REVIEW_STATES[0] else ""
        row.state, row.note, row.updated_by, row.updated_at = state, _note(note), actor[:255], app.now()
        session.add(row)
        _audit(session, app.now(), actor, "review", f"application {application_id}: {before or '-'} -> {state}"
               + (f"；{row.note}" if row.note else ""))


def link_platform(app: App, actor: str, name: str, application_id: int | None) -> str:
    """Link a weekly form's spelling of a platform to an application (None: remove the link); the key linked.

    The link holds for every spelling with the same ``zxjyck.platform_names.platform_key``.
    """
    name = _note(name)[:500]
    key = platform_key(name)
    if not key:
        raise InvalidInput("平台名称为空 / the platform name is empty")
    with session_scope(app.engine) as session:
        row = session.get(PlatformLink, key)
        if application_id is None:
            if row is None:
                raise NotAllowed(f"“{name[:60]}”没有人工关联的申报 / no link to remove")
            session.delete(row)
            _audit(session, app.now(), actor, "platform_unlink", f"{name} -/-> application {row.application_id}")
            return key
        application = session.get(Application, application_id)
        if application is None:
            raise UnknownRecord(f"找不到编号为 {application_id} 的申报 / no application with id {application_id}")
        before = row.application_id if row else None
        row = row or PlatformLink(name_key=key, name=name, application_id=application_id, linked_by=actor[:255],
                                  linked_at=app.now())
        row.application_id, row.linked_by, row.linked_at = application_id, actor[:255], app.now()
        session.add(row)
        _audit(session, app.now(), actor, "platform_link",
               f"{name} -> application {application_id} ({application.platform_name})"
               + (f", was {before}" if before is not None and before != application_id else ""))
    return key
# ---------------------------------------------------------------- weeks: closing, revisions, outliers


def _report(session: Session, report_id: int) -> WeeklyReport:
    report = session.get(WeeklyReport, report_id)
    if report is None:
        raise UnknownRecord(f"找不到编号为 {report_id} 的周报 / no weekly report with id {report_id}")
    return report


def close_week(app: App, actor: str, week_start: date) -> WeekClosure:
    """Close a reporting week once its figures were reported upward: later reports wait as revisions."""
    if week_start.weekday() != 0:
        raise InvalidInput(f"{week_start} 不是星期一，请给出报送周的周一 / {week_start} is not a Monday")
    deadline = app.settings.schedule.calendar().deadline(week_start)
    if app.now() < deadline:
        raise NotAllowed(f"{week_start} 这一周的报送截止时间（{deadline:%Y-%m-%d %H:%M}）未到，不能关闭 / "
                         "the week's deadline has not passed")
    with session_scope(app.engine) as session:
        if figures.closure(session, week_start) is not None:
            raise NotAllowed(f"{week_start} 这一周已关闭 / week {week_start} is already closed")
        row = WeekClosure(week_start=week_start, closed_by=actor[:255], closed_at=app.now())
        session.add(row)
        _audit(session, app.now(), actor, "week_close", f"week {week_start} closed")
        session.flush()
        session.expunge(row)
        return row


def accept_revision(app: App, actor: str, report_id: int) -> None:
    """Take a revision of a closed week over its figures; the change goes to the figure history as the person's."""
    with session_scope(app.engine) as session:
        report = _report(session, report_id)
        if report.revision != REVISION_PENDING:
            raise NotAllowed(f"周报 {report_id} 不是待接受的修订 / report {report_id} is not a pending revision")
        if report.status != REPORT_ACCEPTED:
            raise NotAllowed(f"周报 {report_id} 尚未通过校验（{report.status}），不能接受 / report {report_id} "
                             "is not an accepted report")
        before = figures.counted_figures(session, report.city, report.week_start)
        report.revision = REVISION_ACCEPTED
        session.add(report)
        session.flush()
        figures.update_current(session, report.city, report.week_start)
        session.flush()
        after = figures.counted_figures(session, report.city, report.week_start)
        figures.record_change(session, report.city, report.week_start, before, after, actor=actor,
                              reason="revision_accepted", message_pk=report.message_pk, now=app.now(), always=True)
        _audit(session, app.now(), actor, "accept_revision",
               f"{report.city} {report.week_start}: {_figures_text(before)} -> {_figures_text(after)}",
               report.message_pk)


def verify_report(app: App, actor: str, report_id: int) -> None:
    """已核实: staff checked an outlier's figure with the city; the flag stays, 请核实 goes."""
    with session_scope(app.engine) as session:
        report = _report(session, report_id)
        if FLAG_OUTLIER not in (report.flags or []):
            raise NotAllowed(f"周报 {report_id} 没有异常标记，无需核实 / report {report_id} is not flagged")
        if FLAG_VERIFIED in report.flags:
            raise NotAllowed(f"周报 {report_id} 已核实 / report {report_id} is already verified")
        report.flags = [*report.flags, FLAG_VERIFIED]
        session.add(report)
        now_figures = figures.figures_of(session, report)
        figures.record_change(session, report.city, report.week_start, now_figures, now_figures, actor=actor,
                              reason="verified", message_pk=report.message_pk, now=app.now(), always=True)
        _audit(session, app.now(), actor, "verify", f"{report.city} {report.week_start}: "
               f"{_figures_text(now_figures)} 已核实", report.message_pk)


def _figures_text(value: tuple[int, int] | None) -> str:
    return "未计入" if value is None else f"{value[0]}家/{value[1]}人"


# ---------------------------------------------------------------- registered addresses


def add_city_address(app: App, actor: str, city: str, address: str) -> bool:
    with session_scope(app.engine) as session:
        return registry.add_address(session, _city(city), _address(address), actor, app.now())


def remove_city_address(app: App, actor: str, city: str, address: str) -> bool:
    with session_scope(app.engine) as session:
        return registry.remove_address(session, _city(city), registry.normalize_address(address), actor, app.now())


def list_city_addresses(app: App) -> dict[str, tuple[str, ...]]:
    return app.registered_cities()


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD} 个字符 / the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InvalidInput("密码过长 / the password is too long")
    return password


def _user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise UnknownRecord(f"没有名为 {name[:64]!r} 的账号 / no user {name[:64]!r}")
    return user


def add_user(app: App, actor: str, name: str, role: str, password: str) -> UserInfo:
    if not NAME_RE.match(name or ""):
        raise InvalidInput("用户名只能用字母、数字和 _ . @ -，最长 64 个字符 / user names: letters, digits, _ . @ -")
    if role not in ROLES:
        raise InvalidInput(f"角色只能是 {' 或 '.join(ROLES)} / role must be staff or admin")
    digest = _hasher.hash(_check_password(password))
    with session_scope(app.engine) as session:
        if session.exec(select(User).where(User.name == name)).first() is not None:
            raise NotAllowed(f"账号 {name} 已存在 / user {name} exists")
        now = app.now()
        user = User(name=name, role=role, password_hash=digest, created_at=now, password_changed_at=now)
        session.add(user)
        _audit(session, now, actor, "user_add", f"{name} ({role})")
        session.flush()
        return _info(user)


def _info(user: User) -> UserInfo:
    return UserInfo(user.id or 0, user.name, user.role, user.disabled, user.created_at, user.last_login_at)


def list_users(app: App) -> list[UserInfo]:
    with session_scope(app.engine) as session:
        return [_info(u) for u in session.exec(select(User).order_by(User.name))]


def disable_user(app: App, actor: str, name: str) -> None:
    """Disable an account and end its sessions at once."""
    with session_scope(app.engine) as session:
        user = _user(session, name)
        user.disabled = True
        session.add(user)
        session.exec(delete(WebSession).where(WebSession.user_id == user.id))
        _audit(session, app.now(), actor, "user_disable", name)


def set_password(app: App, actor: str, name: str, password: str) -> None:
    """Set a new password (and enable the account); its other sessions end."""
    digest = _hasher.hash(_check_password(password))
    with session_scope(app.engine) as session:
        user = _user(session, name)
        user.password_hash, user.password_changed_at, user.disabled = digest, app.now(), False
        session.add(user)
        session.exec(delete(WebSession).where(WebSession.user_id == user.id))
        _audit(session, app.now(), actor, "user_passwd", name)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both cases take the same time (made on the
    first login, not at import: argon2 costs 64 MB and a fraction of a second)."""
    return _hasher.hash("not a real password, only to spend the same time")


def check_credentials(app: App, name: str, password: str) -> UserInfo | None:
    """The enabled user with this name and password, or None (same work whether or not the name exists)."""
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.name == name[:64])).first()
        digest = user.password_hash if user is not None else _dummy_hash()
        try:
            _hasher.verify(digest, password[:1024])
            ok = user is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.last_login_at = app.now()
        session.add(user)
        return _info(user)




# --------------------------------------------------------------------------- audit and replay


def audit(app: App, actor: str, action: str, detail: str = "", message_pk: int | None = None,
          address: str = "") -> None:
    """Write one administrative action or read of personal data to the audit table (who, when, what, and the
    console client's address)."""
    with session_scope(app.engine) as session:
        _audit(session, app.now(), actor, action, detail, message_pk, address)


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
            gone = session.exec(select(Message.id).where(Message.id.in_(ids), Message.raw_removed_at.is_not(None)))
            if gone := list(gone):
                raise NotAllowed(f"邮件 {', '.join(map(str, gone))} 的原件已删除（保存期限届满或应要求删除），不能重新处理 / "
                                 "the original was removed (retention or erasure): it cannot be processed again")
            targets = list(ids)
        else:
            if status not in MESSAGE_STATUSES:
                raise IngestError(f"unknown status {status!r}; one of {', '.join(MESSAGE_STATUSES)} / "
                                  f"未知状态“{status}”，可选：{'、'.join(MESSAGE_STATUSES)}")
            targets = list(session.exec(select(Message.id).where(Message.status == status,
                                                                 Message.raw_removed_at.is_(None)).order_by(Message.id)))
    actor = actor or actor_name()
    results: dict[int, str] = {}
    for pk in targets:
        with session_scope(app.engine) as session:
            before = session.get(Message, pk).status
        results[pk] = process_one(app, pk, workflows=run_workflows)
        audit(app, actor, "replay", f"{before} -> {results[pk]}", pk)
    return results
