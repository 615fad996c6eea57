"""The JSON export of docs/CONTRACT.md: the whole state as one document.

Times are ISO 8601 with the offset of the configured zone (``schedule.timezone``,
the CLI passes it); lists in the order received. Nothing secret is ever part of it (no URLs, no passwords, no bodies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ingest.outputs.rates import on_time_reports, weeks_json
from ingest.workflows.application_checks import items_to_ask
from ingest.workflows.figures import changes
from store.db import session_scope
from store.models import (
    MATERIAL_KEYS,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    Attachment,
    Message,
    Outbox,
    WeeklyReport,
    WeeklyRow,
)
from zxjyck.calendar import DEFAULT_TIMEZONE, Calendar, zone


def iso(value: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the offset of ``tz`` ("2020-02-24T10:02:15+08:00"); None stays None."""
    return value.astimezone(tz).isoformat() if value else None


def message_dict(msg: Message, attachments: Sequence[Attachment], tz: tzinfo) -> dict[str, Any]:
    """One message as the export and `zxjyck messages --json` show it."""
    return {
        "id": msg.id,
        "message_id": msg.message_id,
        "from": msg.from_addr,
        "subject": msg.subject,
        "received_at": iso(msg.received_at, tz),
        "kind": msg.kind,
        "status": msg.status,
        "problems": list(msg.problems),
        "attachments": [{"filename": a.filename, "size": a.size, "sha256": a.sha256} for a in attachments],
        "same_message_id_as": msg.same_message_id_as,
        "city": msg.city,
        "reasons": list(msg.reasons),
        "confidence": msg.confidence,
    }


def export_messages(session: Session, tz: tzinfo) -> list[dict[str, Any]]:
    by_message: dict[int, list[Attachment]] = defaultdict(list)
    for att in session.exec(select(Attachment).order_by(Attachment.message_pk, Attachment.position)):
        by_message[att.message_pk].append(att)
    rows = session.exec(select(Message).order_by(Message.received_at, Message.id))
    return [message_dict(m, by_message.get(m.id, []), tz) for m in rows]


def _message_ids(session: Session) -> dict[int, str | None]:
    """Row id -> Message-ID, for the sections that name the message they came from."""
    return {pk: mid for pk, mid in session.exec(select(Message.id, Message.message_id))}


def export_weekly_reports(session: Session, ids: dict[int, str | None], tz: tzinfo,
                          on_time: set[int] | None = None) -> list[dict[str, Any]]:
    """Every report, superseded ones too; ``on_time``: the ids of reports that made their week on time."""
    on_time = on_time or set()
    rows_by_report: dict[int, list[WeeklyRow]] = defaultdict(list)
    for r in session.exec(select(WeeklyRow).order_by(WeeklyRow.report_id, WeeklyRow.position)):
        rows_by_report[r.report_id].append(r)
    out = []
    for rep in session.exec(select(WeeklyReport).order_by(WeeklyReport.received_at, WeeklyReport.id)):
        out.append({
            "id": rep.id,
            "city": rep.city, "week_start": rep.week_start.isoformat(), "week_end": rep.week_end.isoformat(),
            "status": rep.status, "late": rep.late, "superseded": rep.superseded,
            "received_at": iso(rep.received_at, tz), "message_id": ids.get(rep.message_pk),
            "filled_by": rep.filled_by, "phone": rep.phone,
            "rows": [{"enterprise": r.enterprise, "headcount": r.headcount, "platform": r.platform}
                     for r in rows_by_report.get(rep.id, [])],
            "total_headcount": rep.total_headcount,
            "declared_total": rep.declared_total,
            "problems": list(rep.problems),
            "on_time": rep.id in on_time,
            "flags": list(rep.flags or []),
            "zero_report": is_zero_report(rep, len(rows_by_report.get(rep.id or 0, []))),
            "revision": rep.revision,
        })
    return out


def is_zero_report(report: WeeklyReport, rows: int) -> bool:
    """A report of 0 enterprises and 0 people: the city stated it had nothing new that week."""
    return rows == 0 and report.total_headcount == 0


def export_figure_changes(session: Session, ids: dict[int, str | None], tz: tzinfo) -> list[dict[str, Any]]:
    return [{
        "city": c.city, "week_start": c.week_start.isoformat(), "at": iso(c.at, tz), "actor": c.actor,
        "reason": c.reason, "message_id": ids.get(c.message_pk) if c.message_pk else None,
        "old": None if c.old_people is None else {"enterprises": c.old_enterprises, "people": c.old_people},
        "new": None if c.new_people is None else {"enterprises": c.new_enterprises, "people": c.new_people},
    } for c in changes(session)]


def export_applications(session: Session, ids: dict[int, str | None], tz: tzinfo,
                        require_stamped_form: bool = True) -> list[dict[str, Any]]:
    projects: dict[int, list[ApplicationProject]] = defaultdict(list)
    for p in session.exec(select(ApplicationProject).order_by(ApplicationProject.application_id,
                                                              ApplicationProject.position)):
        projects[p.application_id].append(p)
    materials: dict[int, set[str]] = defaultdict(set)
    for m in session.exec(select(ApplicationMaterial)):
        materials[m.application_id].add(m.category)
    messages: dict[int, list[str]] = defaultdict(list)
    for link in session.exec(select(ApplicationMessage).order_by(ApplicationMessage.received_at,
                                                                 ApplicationMessage.id)):
        if ids.get(link.message_pk):
            messages[link.application_id].append(ids[link.message_pk])
    out = []
    for a in session.exec(select(Application).order_by(Application.first_received_at, Application.id)):
        present = [k for k in MATERIAL_KEYS if k in materials.get(a.id, set())]
        out.append({
            "platform_name": a.platform_name, "website": a.website, "organization": a.organization,
            "credit_code": a.credit_code, "credit_code_valid": a.credit_code_valid, "contact": a.contact,
            "contact_title": a.contact_title, "phone": a.phone, "email": a.email, "address": a.address,
            "intro": a.intro,
            "projects": [{"name": p.name, "occupation": p.occupation, "format": p.format, "hours": p.hours,
                          "assessment": p.assessment, "source": p.source, "fee": p.fee}
                         for p in projects.get(a.id, [])],
            "materials": present,
            "missing": items_to_ask([k for k in MATERIAL_KEYS if k not in present], require_stamped_form, a.stamped),
            "complete": a.complete,
            "message_ids": messages.get(a.id, []),
            "problems": list(a.form_problems),
            "batch": a.batch,
            "recommended_by": a.recommended_by,
            "stamped": a.stamped,
            "ocr_fields": dict(a.ocr_fields or {}),
            "staff_problems": list(a.staff_problems or []),
            "completed_at": iso(a.completed_at, tz),
        })
    return out


def export_outbox(session: Session, ids: dict[int, str | None], tz: tzinfo) -> list[dict[str, Any]]:
    return [{
        "kind": o.kind, "to": list(o.to), "subject": o.subject, "in_reply_to": o.in_reply_to,
        "status": o.status, "about_message_id": ids.get(o.about_message_pk) if o.about_message_pk else None,
        "message_id": o.message_id, "reason": o.reason, "attempts": o.attempts, "bounced": o.bounced,
        "created_at": iso(o.created_at, tz), "sent_at": iso(o.sent_at, tz),
        "dismissed_at": iso(o.dismissed_at, tz), "dismissed_by": o.dismissed_by,
    } for o in session.exec(select(Outbox).order_by(Outbox.created_at, Outbox.id))]


def export_state(engine: Engine, tz: tzinfo | None = None, require_stamped_form: bool = True, *,
                 calendar: Calendar | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The whole state; times in ``tz``, the configured ``schedule.timezone`` (its default when None).

    ``require_stamped_form`` is ``[applications] require_stamped_form``: an application's ``missing`` names the
    stamped form too when the rule asks for it, as the missing-items notice and the digest do.
    ``weeks`` runs from the first week reported to the last whose deadline passed at ``now`` (without
    ``now``: the last week reported), judged by ``calendar`` (the configured one; the default without it).
    """
    tz = tz or zone(DEFAULT_TIMEZONE)
    calendar = calendar or Calendar(zone(DEFAULT_TIMEZONE))
    with session_scope(engine) as session:
        ids = _message_ids(session)  # row id -> Message-ID, read once for every section
        return {
            "messages": export_messages(session, tz),
            "weekly_reports": export_weekly_reports(session, ids, tz, on_time_reports(session, calendar)),
            "applications": export_applications(session, ids, tz, require_stamped_form),
            "outbox": export_outbox(session, ids, tz),
            "weeks": weeks_json(session, calendar, now),
            "figure_changes": export_figure_changes(session, ids, tz),
        }
