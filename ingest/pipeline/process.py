"""Processing one stored message: decode, analyse attachments, classify, record.

Runs from the archived raw bytes, so replay after a parser fix or a config
change is the same code path. The expensive part (attachment analysis in the
sandbox) happens outside the database transaction; everything the message
decides (attachments, kind, entities, outbox rows) is written in one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, delete, select

from ingest.app import App
from ingest.errors import TransientError
from ingest.pipeline import large
from ingest.pipeline.analyse import read_attachments
from ingest.pipeline.classify import Classification, classify, flatten
from ingest.pipeline.decode import DecodedMessage, decode_message
from store.db import session_scope
from store.models import FAILED, NEEDS_REVIEW, RECEIVED, Application, Attachment, Message
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


# What runs once a message is classified, inside its transaction, returning its status:
# ingest.workflows.dispatch.run_workflows, passed in by the caller (the pipeline imports no workflow).
WorkflowStep = Callable[[App, Session, Message, Context], str]



def _history(app: App, decoded: DecodedMessage) -> tuple[set[str], bool]:
    """Kinds of the messages this one replies to (directly or via our notices); does the sender have an application?"""
    with session_scope(app.engine) as session:
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
    day = app.settings.schedule.calendar().local_date(msg.received_at)  # the year of an undated period
    if msg.size > app.settings.max_message_bytes:
        return Context(message=msg, decoded=large.headers_only(app, msg, large.too_large(msg, app.settings)), analyses=[])
    if large.wanted(app, msg):
        decoded, analyses = large.prepare(app, msg, day)
    else:
        raw = app.archive.get(msg.sha256)
        decoded = decode_message(raw)
        del raw
        analyses = read_attachments(app.analyzer, decoded, day)
    for analysis in flatten(analyses):
        if getattr(analysis, "environment_error", ""):
            raise TransientError(f"attachment {analysis.filename!r}: {analysis.environment_error}")
    return Context(message=msg, decoded=decoded, analyses=analyses)


def finish_message(app: App, ctx: Context, only_if_received: bool = False, *, workflows: WorkflowStep) -> str:
    """Classify and write everything the message decides, in one transaction; returns its status."""
    pk = ctx.message.id
    thread_kinds, sender_known = _history(app, ctx.decoded)
    ctx.classification = classify(app.routing_settings(), ctx.message, ctx.decoded, ctx.analyses, thread_kinds, sender_known)
    with session_scope(app.engine) as session:
        row = session.get(Message, pk, with_for_update=True)
        if only_if_received and row.status != RECEIVED:
            return row.status  # another worker got there first
        _write_message(session, row, ctx)
        _write_attachments(session, row, ctx)
        status = _apply_workflows(app, session, row, ctx, workflows)
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


def process_message(app: App, pk: int, only_if_received: bool = False, *, workflows: WorkflowStep) -> str:
    msg = load_message(app, pk)
    if only_if_received and msg.status != RECEIVED:
        return msg.status  # another worker got there first
    return finish_message(app, prepare_message(app, msg), only_if_received, workflows=workflows)


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
    session.exec(delete(Attachment).where(Attachment.message_pk == row.id))
    for position, (att, analysis) in enumerate(zip(ctx.decoded.attachments, ctx.analyses, strict=False)):
        problems = list(getattr(analysis, "problems", []) or [])
        material = getattr(analysis, "material", None)
        session.add(Attachment(
            message_pk=row.id, position=position, filename=att.filename[:1000], raw_filename=att.raw_filename[:2000],
            content_type=att.content_type[:255], size=att.size, sha256=att.sha256,
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


def _apply_workflows(app: App, session: Session, row: Message, ctx: Context, workflows: WorkflowStep) -> str:
    """Turn the classification into records; returns the message status."""
    if not ctx.decoded.is_mail:
        return FAILED
    return workflows(app, session, row, ctx)
