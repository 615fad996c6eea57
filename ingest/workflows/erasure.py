"""`zxjyck erase`: one person's (an e-mail address) or one organisation's (a credit code) data removed on
request (个人信息保护法 art. 47), the province's figures left as they are.

What goes: the archived originals of their mail (body and attachments), the contact fields of their
applications and weekly reports (name, title, phone, e-mail, address, who filled the form), the text of
the notices sent to them, the names of their attachments and what OCR read from them; then every other
text in the store that still spells the address, a contact name or a phone number found above is
replaced by ``[已删除]`` (subjects, reasons, problems, audit details...). What stays: message rows (with
``raw_removed_reason = "erasure"``), kinds and statuses, weekly figures, application rows with their
organisation, credit code, projects and materials, so totals and batches do not change. The audit entry
names the request by a sha256 of the address or code, never the address itself. SQLite is vacuumed
afterwards so no old copy of a row stays in the file. Earlier backups still hold the data until they are
rotated away (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import JSON, Engine, String, Text, cast, func, or_, text, true
from sqlmodel import Session, SQLModel, select

from ingest.app import App
from ingest.workflows.retention import remove_originals
from ingest.workflows.staff import InvalidInput, NotAllowed
from store import cities as registry
from store.db import session_scope
from store.models import (
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    Attachment,
    AuditEntry,
    Message,
    Outbox,
    WeeklyReport,
)

log = logging.getLogger(__name__)
ERASED = "[已删除]"
_KEEP_COLUMNS = {"sha256", "dedupe_key", "key", "credit_code", "token_hash", "password_hash", "csrf_token"}


@dataclass
class ErasurePlan:
    """What an erasure touches (the preview, and after ``--yes`` what was done)."""

    subject_hash: str
    messages: list[int] = field(default_factory=list)
    originals: int = 0  # of those, originals still in the archive
    attachments: int = 0
    applications: list[int] = field(default_factory=list)
    weekly_reports: list[int] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)
    terms: set[str] = field(default_factory=set)  # the strings scrubbed from every other text
    scrubbed: int = 0

    def lines(self) -> list[str]:
        return [f"邮件原件及附件 messages (raw mail, attachments): {len(self.messages)} "
                f"（归档中 {self.originals} 份 in the archive; 附件 {self.attachments} attachments）",
                f"申报联系信息 applications (contact fields): {len(self.applications)}",
                f"周报填报人信息 weekly reports (who filled them): {len(self.weekly_reports)}",
                f"通知正文 notices (their text): {len(self.notices)}",
                f"其他提及之处 other mentions replaced: {self.scrubbed}"]


def _digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _plan(app: App, session: Session, email: str | None, credit_code: str | None) -> ErasurePlan:
    city_addresses = {a for addrs in registry.registered_cities(session).values() for a in addrs}
    if email is not None:
        email = registry.normalize_address(email)
        if "@" not in email or len(email) > 320:
            raise InvalidInput("不是有效的邮箱地址 / not a valid e-mail address")
        if email in city_addresses:
            raise NotAllowed("这是登记的地市报送邮箱，不属于个人信息；如需删除请先 zxjyck city remove / "
                             "a registered city address is the bureau's, not a person's")
        plan = ErasurePlan(_digest(email), terms={email})
        plan.messages = list(session.exec(select(Message.id).where(func.lower(Message.from_addr) == email)))
        apps = session.exec(select(Application).where(or_(func.lower(Application.email) == email,
                                                          func.lower(Application.from_addr) == email))).all()
    else:
        code = (credit_code or "").strip().upper()
        if not code or len(code) > 64:
            raise InvalidInput("请给出统一社会信用代码 / give a credit code")
        plan = ErasurePlan(_digest(code))
        apps = session.exec(select(Application).where(func.upper(Application.credit_code) == code)).all()
        ids = [a.id for a in apps]
        linked = set(session.exec(select(ApplicationMessage.message_pk)
                                  .where(ApplicationMessage.application_id.in_(ids))))
        linked |= set(session.exec(select(ApplicationMaterial.message_pk)
                                   .where(ApplicationMaterial.application_id.in_(ids))))
        plan.messages = sorted(linked)
        senders = session.exec(select(Message.from_addr).where(Message.id.in_(plan.messages))).all()
        plan.terms |= {s.lower() for s in senders if s and s.lower() not in city_addresses}
    plan.applications = [a.id for a in apps]
    for a in apps:
        plan.terms |= {v for v in (a.contact, a.phone, a.email.lower(), a.address) if len(v.strip()) >= 2}
    reports = session.exec(select(WeeklyReport).where(WeeklyReport.message_pk.in_(plan.messages))).all()
    plan.weekly_reports = [r.id for r in reports]
    plan.terms |= {v for r in reports for v in (r.filled_by, r.phone) if len(v.strip()) >= 2}
    senders_names = session.exec(select(Message.from_name).where(Message.id.in_(plan.messages))).all()
    plan.terms |= {n for n in senders_names if len(n.strip()) >= 2}
    shas = session.exec(select(Message.sha256).where(Message.id.in_(plan.messages),
                                                     Message.raw_removed_at.is_(None))).all()
    plan.originals = sum(1 for s in shas if app.archive.has(s))
    plan.attachments = session.exec(select(func.count()).select_from(Attachment)
                                    .where(Attachment.message_pk.in_(plan.messages))).one()
    notices = session.exec(select(Outbox).where(Outbox.about_message_pk.in_(plan.messages))).all()
    plan.notices = sorted({o.id for o in notices} | {o.id for o in _notices_to(session, plan.terms)})
    return plan


def _notices_to(session: Session, terms: set[str]) -> list[Outbox]:
    addresses = [t for t in terms if "@" in t]
    if not addresses:
        return []
    wanted = or_(*(func.lower(cast(Outbox.to, Text)).contains(a) for a in addresses))
    return list(session.exec(select(Outbox).where(wanted)))


def erase(app: App, actor: str, *, email: str | None = None, credit_code: str | None = None,
          apply: bool = False) -> ErasurePlan:
    """The plan of what would be removed; with ``apply`` also remove it (one audit entry, no personal data)."""
    if (email is None) == (credit_code is None):
        raise InvalidInput("erase needs --email or --credit-code / 请指定 --email 或 --credit-code")
    with session_scope(app.engine) as session:
        plan = _plan(app, session, email, credit_code)
    if not apply:
        return plan
    remove_originals(app, plan.messages, "erasure")
    with session_scope(app.engine) as session:
        _clear_fields(app, session, plan)
    plan.scrubbed = scrub(app.engine, plan.terms)
    with session_scope(app.engine) as session:
        session.add(AuditEntry(at=app.now(), actor=actor[:255], action="erase",
                               detail=f"{plan.subject_hash}; " + "; ".join(plan.lines())))
    _compact(app.engine)
    log.info("erased %s: %d messages, %d applications", plan.subject_hash, len(plan.messages), len(plan.applications))
    return plan


def _clear_fields(app: App, session: Session, plan: ErasurePlan) -> None:
    for m in session.exec(select(Message).where(Message.id.in_(plan.messages))):
        m.from_addr = m.from_name = m.subject = m.source_ref = ""
        session.add(m)
    for a in session.exec(select(Attachment).where(Attachment.message_pk.in_(plan.messages))):
        a.filename, a.raw_filename, a.evidence, a.ocr_values = ERASED, "", "", {}
        session.add(a)
    for mat in session.exec(select(ApplicationMaterial).where(ApplicationMaterial.message_pk.in_(plan.messages))):
        mat.filename, mat.evidence = ERASED, ""
        session.add(mat)
    for a in session.exec(select(Application).where(Application.id.in_(plan.applications))):
        a.contact = a.contact_title = a.phone = a.email = a.address = a.from_addr = ""
        session.add(a)
    for r in session.exec(select(WeeklyReport).where(WeeklyReport.id.in_(plan.weekly_reports))):
        r.filled_by = r.phone = ""
        session.add(r)
    for o in session.exec(select(Outbox).where(Outbox.id.in_(plan.notices))):
        o.raw, o.subject, o.to, o.body_removed_at = "", "", [ERASED], app.now()
        session.add(o)


def scrub(engine: Engine, terms: set[str]) -> int:
    """Replace every remaining spelling of ``terms`` in every text column of every table; how many values."""
    terms = {t for t in terms if t}
    if not terms:
        return 0
    changed = 0
    with session_scope(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            columns = [c for c in table.columns if c.name not in _KEEP_COLUMNS and not c.primary_key
                       and isinstance(c.type, String | Text | JSON)]
            for column in columns:
                # JSON is stored with non-ASCII escaped: those columns are matched here, text ones in SQL
                hit = true() if isinstance(column.type, JSON) else or_(*(func.lower(column).contains(t.lower())
                                                                      for t in terms))
                for row in session.connection().execute(select(*pk, column).where(hit)):
                    value = _replace(row[-1], terms)
                    if value == row[-1]:
                        continue
                    session.connection().execute(
                        table.update().where(*(c == row[i] for i, c in enumerate(pk))).values({column.name: value}))
                    changed += 1
    return changed


def _replace(value, terms: set[str]):
    if isinstance(value, str):
        for t in sorted(terms, key=len, reverse=True):
            value = _ireplace(value, t)
        return value
    return json.loads(_replace(json.dumps(value, ensure_ascii=False), terms))


def _ireplace(value: str, term: str) -> str:
    low, needle, out, start = value.lower(), term.lower(), [], 0
    while (i := low.find(needle, start)) >= 0:
        out += [value[start:i], ERASED]
        start = i + len(needle)
    return "".join(out) + value[start:]


def _compact(engine: Engine) -> None:
    """No old copy of an erased row left in the database files (SQLite: VACUUM and a truncating checkpoint;
    PostgreSQL: VACUUM, so dead row versions are reclaimed)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            conn.execute(text("VACUUM"))
