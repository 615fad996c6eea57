"""Processing one stored message: decode, analyse attachments, classify, record.

Runs from the archived raw bytes, so replay after a parser fix or a config
change is the same code path. The expensive part (attachment analysis in the
sandbox) happens outside the database transaction; everything the message
decides (attachments, kind, entities, outbox rows) is written in one.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, delete, select

from ingest.app import App
from ingest.errors import TransientError
from ingest.pipeline import large
from ingest.pipeline.analyse import read_attachments
from ingest.pipeline.classify import Classification, classify, flatten
from ingest.pipeline.decode import DecodedMessage, decode_message
from store.db import session_scope
from store.errors import DiskFullError
from store.models import FAILED, NEEDS_REVIEW, RECEIVED, Application, Attachment, Message
from store.repo import thread_message_pks

if TYPE_CHECKING:
    from parsers.analysis import AttachmentAnalysis

log = logging.getLogger(__name__)


@dataclass
class MessageWork:
    """One stored message on its way through the pipeline: decoded, analysed, then classified and written."""

    message: Message
    decoded: DecodedMessage
    analyses: list[AttachmentAnalysis]  # one per attachment, in order, then the body's form if any
    classification: Classification | None = None
    problems: list[str] = field(default_factory=list)
    prepare_seconds: float = 0.0  # decoding and reading the attachments took this long (a duration, not a time)


# What runs once a message is classified, inside its transaction, returning its status:
# ingest.workflows.dispatch.run_workflows, passed in by the caller (the pipeline imports no workflow).
WorkflowStep = Callable[[App, Session, Message, MessageWork], str]


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


def prepare_message(app: App, msg: Message) -> MessageWork:
    """The expensive, database-free half: archived bytes, decoding, attachment analysis.

    ``process_pending`` runs it for the next message in a helper thread while the
    current one is written, so parsing overlaps the database work.
    """
    started = time.perf_counter()
    day = app.settings.schedule.calendar().local_date(msg.received_at)  # the year of an undated period
    if msg.size > app.settings.max_message_bytes:
        decoded = large.headers_only(app, msg, large.too_large(msg, app.settings))
        return MessageWork(message=msg, decoded=decoded, analyses=[],
                           prepare_seconds=time.perf_counter() - started)
    if large.wanted(app, msg):
        decoded, analyses = large.prepare(app, msg, day)
    else:
        raw = app.archive.get(msg.sha256)
        decoded = decode_message(raw)
        del raw
        analyses = read_attachments(app.analyzer, decoded, day)
    for analysis in flatten(analyses):
        if analysis.environment_error.startswith(("ENOSPC", "EDQUOT")):  # the operator's disk, not the message
            raise DiskFullError(analysis.environment_path or tempfile.gettempdir(), analysis.environment_error)
        if analysis.environment_error:
            raise TransientError(f"attachment {analysis.filename!r}: {analysis.environment_error}")
    return MessageWork(message=msg, decoded=decoded, analyses=analyses, prepare_seconds=time.perf_counter() - started)


def finish_message(app: App, work: MessageWork, only_if_received: bool = False, *, workflows: WorkflowStep) -> str:
    """Classify and write everything the message decides, in one transaction; returns its status.

    The thread history, the registered cities (store.cities.registered_cities, read once per
    transaction) and the writes share that transaction: one connection and one commit a message."""
    pk = work.message.id
    started = time.perf_counter()
    with session_scope(app.engine) as session:
        row = session.get(Message, pk, with_for_update=True)
        if only_if_received and row.status != RECEIVED:
            return row.status  # another worker got there first
        thread_kinds, sender_known = _history(session, work.decoded)
        work.classification = classify(app.routing_settings(session), work.message, work.decoded, work.analyses,
                                       thread_kinds, sender_known)
        _write_message(session, row, work)
        _write_attachments(session, row, work)
        status = _apply_workflows(app, session, row, work, workflows)
        limited = limit_problems(work)
        if limited and status != FAILED:
            status = NEEDS_REVIEW  # staff decide whether what went unread mattered
        row.status = status
        row.problems = list(dict.fromkeys(limited + work.problems))
        row.processed_at = app.now()
        row.attempts += 1
        row.processing_ms = round((work.prepare_seconds + time.perf_counter() - started) * 1000)
        session.add(row)
    log.info("processed message id=%s kind=%s status=%s", pk, work.classification.kind, status)
    return status


def limit_problems(work: MessageWork) -> list[str]:
    """What a limit left unread anywhere in the message (MIME parts, attachment size, rows, pages, columns...),
    each naming its limit: it goes on the message's problems, first, and holds the message for staff."""
    notes = list(work.decoded.limited)
    for analysis in flatten(work.analyses):
        notes.extend(analysis.limited or [])
    return list(dict.fromkeys(notes))


def process_message(app: App, pk: int, only_if_received: bool = False, *, workflows: WorkflowStep) -> str:
    msg = load_message(app, pk)
    if only_if_received and msg.status != RECEIVED:
        return msg.status  # another worker got there first
    return finish_message(app, prepare_message(app, msg), only_if_received, workflows=workflows)


def _write_message(session: Session, row: Message, work: MessageWork) -> None:
    decoded = work.decoded
    verdict = work.classification
    row.from_addr = decoded.from_addr[:320]
    row.from_name = decoded.from_name[:500]
    row.subject = decoded.subject[:2000]
    row.message_id = decoded.message_id or row.message_id
    row.date_header = decoded.date
    row.in_reply_to = decoded.in_reply_to
    row.references = decoded.references
    row.defects = decoded.defects[:200]
    row.kind = verdict.kind
    row.confidence = verdict.confidence
    row.reasons = verdict.reasons
    row.city = verdict.city
    if not decoded.is_mail:
        work.problems.append(decoded.defects[0] if decoded.defects else "not an e-mail message")


def _write_attachments(session: Session, row: Message, work: MessageWork) -> None:
    if row.attempts:  # a message never processed before has no attachment rows (they are written with attempts + 1)
        session.exec(delete(Attachment).where(Attachment.message_pk == row.id))
    for position, (att, analysis) in enumerate(zip(work.decoded.attachments, work.analyses, strict=False)):
        problems = list(analysis.problems or []) + [n for a in analysis.walk() for n in getattr(a, "notes", None) or []]
        material = analysis.material
        session.add(Attachment(
            message_pk=row.id, position=position, filename=att.filename[:1000], raw_filename=att.raw_filename[:2000],
            content_type=att.content_type[:255], size=att.size, sha256=att.sha256,
            format=analysis.format, category=material.category if material else None,
            evidence=(material.evidence if material else "") or "", problems=problems, defects=att.defects,
            scanned=bool(analysis.scanned), stamped=analysis.stamped,
            ocr_fields=dict(analysis.ocr_fields or {}), ocr_values=ocr_values(analysis),
            low_confidence_fields=list(analysis.low_confidence_fields or []),
            ocr_ms=round(analysis.ocr_seconds * 1000) if analysis.ocr_seconds is not None else None,
        ))


_ROW_FIELD_RE = re.compile(r"^rows\[(\d+)\]\.(\w+)$")
_PROJECT_FIELD_RE = re.compile(r"^projects\[(\d+)\]\.(\w+)$")


def ocr_values(analysis) -> dict[str, Any]:
    """What OCR read for each field it gives a confidence for, so staff see value and confidence together."""
    fields = analysis.ocr_fields or {}
    form, weekly = analysis.application, analysis.weekly
    out: dict[str, Any] = {}
    for name in list(fields)[:500]:
        row_cell = _ROW_FIELD_RE.match(name)
        project_cell = _PROJECT_FIELD_RE.match(name)
        if row_cell and weekly is not None:
            rows = weekly.rows
            index = int(row_cell.group(1))
            value = getattr(rows[index], row_cell.group(2), None) if index < len(rows) else None
        elif project_cell and form is not None:  # a project row's cell (hours as read, before conversion)
            projects, index, attr = form.projects, int(project_cell.group(1)), project_cell.group(2)
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


def _apply_workflows(app: App, session: Session, row: Message, work: MessageWork, workflows: WorkflowStep) -> str:
    """Turn the classification into records; returns the message status."""
    if not work.decoded.is_mail:
        return FAILED
    return workflows(app, session, row, work)
