"""Processing one stored message: decode, analyse attachments, classify, record.

Runs from the archived raw bytes, so replay after a parser fix or a config
change is the same code path. The expensive part (attachment analysis in the
sandbox) happens outside the database transaction; everything the message
decides (attachments, kind, entities, outbox rows) is written in one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, delete, select

from ingest.app import App
from ingest.errors import TransientError
from ingest.pipeline.classify import Classification, classify, flatten
from ingest.pipeline.decode import DecodedMessage, decode_message
from store.archive import sha256_hex
from store.cities import registered_cities
from store.db import session_scope
from store.models import FAILED, NEEDS_REVIEW, PROCESSED, RECEIVED, Application, Attachment, Message
from store.repo import thread_message_pks

log = logging.getLogger(__name__)


@dataclass
class Context:
    """Everything decided about one message before it is written."""

    message: Message
    decoded: DecodedMessage
    analyses: list  # parsers.analysis.AttachmentAnalysis | None per attachment
    classification: Classification | None = None
    problems: list[str] = field(default_factory=list)


def mail_date(app: App, msg: Message) -> date:
    """The day the message arrived, in the service's time zone: the year a form's undated period belongs to."""
    return msg.received_at.astimezone(ZoneInfo(app.settings.schedule.timezone)).date()


class InProcessAnalyzer:
    """Attachment analysis in this process, without the sandbox: for tests of the pipeline logic."""

    def analyze(self, data: bytes, filename: str, mail_date: date):
        from parsers.analysis import analyze_attachment

        return analyze_attachment(data, filename, mail_date)


def default_analyzer():
    """The production analyser: child processes with resource limits (parsers.sandbox), ``SandboxPool``."""
    from ingest.pipeline.pool import SandboxPool

    return SandboxPool()


def analyse_attachments(app: App, decoded: DecodedMessage, mail_date: date) -> list:
    if app.analyzer is None:
        app.analyzer = default_analyzer()
    return [app.analyzer.analyze(att.data, att.filename, mail_date) for att in decoded.attachments]


def _history(session: Session, decoded: DecodedMessage) -> tuple[set[str], bool]:
    """Kinds of the messages this one replies to (directly or via our notices); does the sender have an application?"""
    pks = thread_message_pks(session, [decoded.in_reply_to, *decoded.references])
    kinds = {k for k in session.exec(select(Message.kind).where(Message.id.in_(pks))) if k} if pks else set()
    known = decoded.from_addr != "" and session.exec(
        select(Application.id).where(Application.from_addr == decoded.from_addr)).first() is not None
    return kinds, known


def load_message(app: App, pk: int) -> Message:
    with session_scope(app.engine) as session:
        msg = session.get(Message, pk)
        if msg is None:
            raise LookupError(f"message id={pk} not found")
        session.expunge(msg)
    return msg


def prepare_message(app: App, msg: Message) -> Context:
    """The expensive, database-free half: archived bytes, decoding, attachment analysis.

    ``process_pending`` runs it for the next message in a helper thread while the
    current one is written, so parsing overlaps the database work.
    """
    raw = app.archive.get(msg.sha256)
    decoded = decode_message(raw)
    del raw
    day = mail_date(app, msg)
    analyses = analyse_attachments(app, decoded, day) if decoded.is_mail else []
    for analysis in flatten(analyses):
        if getattr(analysis, "environment_error", ""):
            raise TransientError(f"attachment {analysis.filename!r}: {analysis.environment_error}")
    body_form = analyse_body_table(app, decoded, day)
    if body_form is not None:
        analyses.append(body_form)  # after the attachments: attachment rows pair with the leading analyses only
    return Context(message=msg, decoded=decoded, analyses=analyses)


BODY_NAME = "邮件正文"


def analyse_body_table(app: App, decoded: DecodedMessage, mail_date: date):
    """A form typed or pasted into the HTML body (no attachment at all): read it like an HTML sheet.

    Kept only when it is a weekly or application form, so tables in ordinary mail change nothing.
    """
    if not decoded.is_mail or "<table" not in decoded.html[:2_000_000].lower():
        return None
    if app.analyzer is None:
        app.analyzer = default_analyzer()
    analysis = app.analyzer.analyze(decoded.html.encode("utf-8"), BODY_NAME, mail_date)
    if getattr(analysis, "weekly", None) is None and getattr(analysis, "application", None) is None:
        return None
    analysis.material = None  # the body is not a supporting document
    return analysis


def finish_message(app: App, ctx: Context, only_if_received: bool = False) -> str:
    """Classify and write everything the message decides, in one transaction; returns its status.

    The thread history, the registered cities (store.cities.registered_cities, read once per
    transaction) and the writes share that transaction: one connection and one commit a message."""
    pk = ctx.message.id
    with session_scope(app.engine) as session:
        row = session.get(Message, pk, with_for_update=True)
        if only_if_received and row.status != RECEIVED:
            return row.status  # another worker got there first
        thread_kinds, sender_known = _history(session, ctx.decoded)
        routing = replace(app.settings, cities=registered_cities(session))  # as App.routing_settings
        ctx.classification = classify(routing, ctx.message, ctx.decoded, ctx.analyses, thread_kinds, sender_known)
        _write_message(session, row, ctx)
        _write_attachments(session, row, ctx)
        status = _apply_workflows(app, session, row, ctx)
        limited = limit_problems(ctx)
        if limited and status != FAILED:
            status = NEEDS_REVIEW  # staff decide whether what went unread mattered
        row.status = status
        row.problems = list(dict.fromkeys(limited + ctx.problems))
        row.processed_at = app.now()
        row.attempts += 1
        session.add(row)
    log.info("processed message id=%s kind=%s status=%s", pk, ctx.classification.kind, status)
    return status


def limit_problems(ctx: Context) -> list[str]:
    """What a limit left unread anywhere in the message (MIME parts, attachment size, rows, pages, columns...),
    each naming its limit: it goes on the message's problems, first, and holds the message for staff."""
    notes = list(ctx.decoded.limited)
    for analysis in flatten(ctx.analyses):
        notes.extend(getattr(analysis, "limited", None) or [])
    return list(dict.fromkeys(notes))


def process_message(app: App, pk: int, only_if_received: bool = False) -> str:
    msg = load_message(app, pk)
    if only_if_received and msg.status != RECEIVED:
        return msg.status  # another worker got there first
    return finish_message(app, prepare_message(app, msg), only_if_received)


def _write_message(session: Session, row: Message, ctx: Context) -> None:
    d = ctx.decoded
    c = ctx.classification
    row.from_addr = d.from_addr[:320]
    row.from_name = d.from_name[:500]
    row.subject = d.subject[:2000]
    row.message_id = d.message_id or row.message_id
    row.date_header = d.date
    row.in_reply_to = d.in_reply_to
    row.references = d.references
    row.defects = d.defects[:200]
    row.kind = c.kind
    row.confidence = c.confidence
    row.reasons = c.reasons
    row.city = c.city
    if not d.is_mail:
        ctx.problems.append(d.defects[0] if d.defects else "not an e-mail message")


def _write_attachments(session: Session, row: Message, ctx: Context) -> None:
    if row.attempts:  # a message never processed before has no attachment rows (they are written with attempts + 1)
        session.exec(delete(Attachment).where(Attachment.message_pk == row.id))
    for position, (att, analysis) in enumerate(zip(ctx.decoded.attachments, ctx.analyses, strict=False)):
        problems = list(getattr(analysis, "problems", []) or [])
        material = getattr(analysis, "material", None)
        session.add(Attachment(
            message_pk=row.id, position=position, filename=att.filename[:1000], raw_filename=att.raw_filename[:2000],
            content_type=att.content_type[:255], size=len(att.data), sha256=sha256_hex(att.data),
            format=getattr(analysis, "format", None), category=getattr(material, "category", None),
            evidence=getattr(material, "evidence", "") or "", problems=problems, defects=att.defects,
            scanned=bool(getattr(analysis, "scanned", False)), stamped=getattr(analysis, "stamped", None),
            ocr_fields=dict(getattr(analysis, "ocr_fields", None) or {}), ocr_values=ocr_values(analysis),
            low_confidence_fields=list(getattr(analysis, "low_confidence_fields", None) or []),
        ))


_ROW_FIELD_RE = re.compile(r"^rows\[(\d+)\]\.(\w+)$")
_PROJECT_FIELD_RE = re.compile(r"^projects\[(\d+)\]\.(\w+)$")


def ocr_values(analysis) -> dict[str, Any]:
    """What OCR read for each field it gives a confidence for, so staff see value and confidence together."""
    fields = getattr(analysis, "ocr_fields", None) or {}
    form, weekly = getattr(analysis, "application", None), getattr(analysis, "weekly", None)
    out: dict[str, Any] = {}
    for name in list(fields)[:500]:
        m = _ROW_FIELD_RE.match(name)
        p = _PROJECT_FIELD_RE.match(name)
        if m and weekly is not None:
            rows = weekly.rows
            index = int(m.group(1))
            value = getattr(rows[index], m.group(2), None) if index < len(rows) else None
        elif p and form is not None:  # a project row's cell (hours as read, before conversion)
            projects, index, attr = form.projects, int(p.group(1)), p.group(2)
            project = projects[index] if index < len(projects) else None
            value = None if project is None else (project.raw_hours or project.hours) if attr == "hours" \
                else getattr(project, attr, None)
        elif form is not None and hasattr(form, name):
            value = getattr(form, name)
        elif weekly is not None and hasattr(weekly, name):
            value = getattr(weekly, name)
        else:
            value = None
        out[name] = value if isinstance(value, int | float | type(None)) else str(value)[:500]
    return out


def _apply_workflows(app: App, session: Session, row: Message, ctx: Context) -> str:
    """Turn the classification into records; returns the message status."""
    c = ctx.classification
    if not ctx.decoded.is_mail:
        return FAILED
    from ingest.workflows.staff import apply_decision

    decided = apply_decision(session, row, ctx.problems)
    if decided is not None:
        return decided
    if c.needs_review:
        ctx.problems.extend(c.review_reasons)
        # why an attachment could not be read (a password, a corrupt file) is often why the kind is unclear
        ctx.problems.extend(p for analysis in flatten(ctx.analyses) for p in getattr(analysis, "problems", []))
        return NEEDS_REVIEW
    from ingest.workflows.dispatch import apply_workflow

    return apply_workflow(app, session, row, ctx) or PROCESSED
