"""The staff daily digest: the week's grid of the 21 cities, new applications, what waits for a human.

The digest for ``day`` describes the stored state *as at that day's digest
time* (``staff.digest_time``, 08:30 by default, in ``schedule.timezone``):

- the grid shows the last complete Monday-Sunday reporting week before ``day``
  (the week whose deadline is the deadline weekday on or before ``day``); for
  each city the latest report received before the digest time counts;
- "new applications" are those with a message received in the 24 hours before
  the digest time (from the previous day's digest to this one), so consecutive
  digests neither skip nor repeat one;
- review items, outbox problems and health count what existed before the
  digest time.

Nothing reads the clock except to choose the default day, so ``--date`` renders
any past day from stored data, and rendering a day twice gives the same text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from ingest.app import App
from ingest.errors import IngestError
from ingest.outbound import outbox_settings
from ingest.outputs.rates import on_time_counts
from ingest.outputs.workbooks import current_reports
from ingest.workflows.application_checks import items_to_ask
from notify.compose import (
    DigestApplicationRow,
    DigestCityRow,
    DigestContext,
    DigestHealth,
    DigestOutboxRow,
    DigestReviewRow,
    render,
    staff_text,
)
from notify.outbox import AUTO_GENERATED, enqueue, find_by_key
from store.db import session_scope
from store.models import (
    FAILED,
    MATERIAL_KEYS,
    NEEDS_REVIEW,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    RECEIVED,
    REPORT_NEEDS_REVIEW,
    REVISION_PENDING,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    Message,
    Outbox,
    PollRun,
    WeeklyReport,
)
from zxjyck.calendar import parse_hhmm

log = logging.getLogger(__name__)
MAX_REVIEW_ITEMS = 100
MAX_OUTBOX_ITEMS = 100


class DigestError(IngestError):
    """The digest could not be prepared or queued."""


class DigestRecipientsMissing(DigestError):
    """``staff.digest_to`` is empty, so there is nobody to send the digest to."""


@dataclass(frozen=True)
class DigestWindow:
    """The moments a digest covers: new items arrived in [since, until); state as at ``until``."""

    day: date
    since: datetime
    until: datetime
    week_start: date
    week_end: date


def digest_window(app: App, day: date) -> DigestWindow:
    cal = app.settings.schedule.calendar()
    until = cal.at(day, parse_hhmm(app.settings.staff.digest_time))
    week_start, week_end = cal.reporting_week(day)
    return DigestWindow(day, until - timedelta(days=1), until, week_start, week_end)


def today(app: App) -> date:
    """The default day: today in the configured time zone (``schedule.timezone``)."""
    return app.settings.schedule.calendar().local_date(app.now())


# ---------------------------------------------------------------- the sections


def city_rows(session: Session, window: DigestWindow, tz: ZoneInfo) -> list[DigestCityRow]:
    """All 21 cities in the usual order, as they stood at the digest time (ingest.week_status's rule:
    a city whose mail is held or failed is 待人工核对, not missing)."""
    from ingest.outputs.week_status import week_summary

    summary = week_summary(session, window.week_start, tz, as_of=window.until)
    return [DigestCityRow(city=c.city, status=c.status, received_at=c.received_at,
                          enterprise_count=c.enterprise_count, total_headcount=c.headcount, late=c.late,
                          to_check=c.to_check)
            for c in summary.cities]


def application_rows(session: Session, window: DigestWindow,
                     require_stamped_form: bool = True) -> list[DigestApplicationRow]:
    """Applications with a message received in the window, with what they lacked at the digest time.

    The stamped form counts as lacking, as in the missing-items notice, when the rule asks for it and only an
    editable copy of the form came.
    """
    arrivals = session.exec(
        select(ApplicationMessage.application_id, func.max(ApplicationMessage.received_at))
        .where(ApplicationMessage.received_at >= window.since, ApplicationMessage.received_at < window.until)
        .group_by(ApplicationMessage.application_id)
    ).all()
    result = []
    for app_id, received_at in sorted(arrivals, key=lambda pair: (pair[1], pair[0])):
        application = session.get(Application, app_id)
        if application is None:
            continue
        missing = items_to_ask(missing_materials(session, app_id, window.until), require_stamped_form,
                               application.stamped)
        result.append(DigestApplicationRow(
            platform_name=application.platform_name or "（未填平台名称）",
            organization=application.organization or application.from_addr,
            received_at=received_at, complete=application.complete and not missing, missing=missing,
            problem_count=len(application.form_problems),
            batch=application.batch if application.complete and not missing else None,
            recommended_by=application.recommended_by, staff_checks=list(application.staff_problems or [])))
    return result


def missing_materials(session: Session, application_id: int, as_of: datetime) -> list[str]:
    """Material keys with no evidence from a message received before ``as_of``, in the notice's order."""
    found = set(session.exec(
        select(ApplicationMaterial.category)
        .join(Message, Message.id == ApplicationMaterial.message_pk)
        .where(ApplicationMaterial.application_id == application_id, Message.received_at < as_of)
    ).all())
    return [key for key in MATERIAL_KEYS if key not in found]


def review_rows(session: Session, window: DigestWindow) -> list[DigestReviewRow]:
    """Messages held for review or failed, and held weekly reports of the week, oldest first."""
    messages = session.exec(
        select(Message).where(Message.status.in_((NEEDS_REVIEW, FAILED)), Message.received_at < window.until)
        .order_by(Message.received_at, Message.id)
    ).all()
    items = [DigestReviewRow(reason=message_reason(m), message_ref=str(m.id), sender=m.from_addr,
                             subject=m.subject, received_at=m.received_at) for m in messages]
    listed = {m.id for m in messages}
    for report in current_reports(session, window.week_start, as_of=window.until).values():
        if report.status == REPORT_NEEDS_REVIEW and report.message_pk not in listed:
            message = session.get(Message, report.message_pk)
            items.append(DigestReviewRow(
                reason=f"{report.city}周报待人工核对" + (f"：{'；'.join(map(staff_text, report.problems))}"
                                                     if report.problems else ""),
                message_ref=str(report.message_pk), sender=message.from_addr if message else "",
                subject=message.subject if message else "", received_at=report.received_at))
    revisions = session.exec(select(WeeklyReport).where(WeeklyReport.revision == REVISION_PENDING,
                                                        WeeklyReport.received_at < window.until)
                             .order_by(WeeklyReport.received_at, WeeklyReport.id))
    for report in revisions:
        message = session.get(Message, report.message_pk)
        items.append(DigestReviewRow(
            reason=f"{report.city}{report.week_start:%m月%d日}一周已关闭后收到的修订（周报编号 {report.id}），"
                   "待接受后才计入（控制台本周页“接受修订”或 zxjyck week accept）",
            message_ref=str(report.message_pk), sender=message.from_addr if message else "",
            subject=message.subject if message else "", received_at=report.received_at))
    return items


def message_reason(message: Message) -> str:
    if message.problems:
        return "；".join(staff_text(p) for p in message.problems)  # staff read Chinese; English stays in logs
    return "处理失败，原因未记录" if message.status == FAILED else "需人工核对"


def outbox_rows(session: Session, window: DigestWindow) -> list[DigestOutboxRow]:
    """Notices that failed for good or bounced, oldest first."""
    rows = session.exec(
        select(Outbox).where((Outbox.status == OUTBOX_FAILED) | Outbox.bounced, Outbox.created_at < window.until,
                             not_dismissed_by(window.until))
        .order_by(Outbox.created_at, Outbox.id)
    ).all()
    return [DigestOutboxRow(to=list(row.to), subject=row.subject, status="bounced" if row.bounced else "failed",
                            detail=staff_text(row.reason), attempts=row.attempts) for row in rows]


def not_dismissed_by(moment: datetime) -> Any:
    """A notice staff had not dismissed at ``moment`` (a later dismissal leaves an earlier digest as it was)."""
    return Outbox.dismissed_at.is_(None) | (Outbox.dismissed_at >= moment)


def count(session: Session, *conditions: Any, model: Any = Message) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*conditions)).one())


def service_health(session: Session, window: DigestWindow) -> DigestHealth:
    last_ok = session.exec(
        select(PollRun).where(PollRun.ok, PollRun.finished_at.is_not(None), PollRun.finished_at < window.until)
        .order_by(PollRun.finished_at.desc()).limit(1)
    ).first()
    last_any = session.exec(
        select(PollRun).where(PollRun.started_at < window.until).order_by(PollRun.started_at.desc()).limit(1)
    ).first()
    note = ""
    if last_any is not None and not last_any.ok:
        note = f"最近一次收取失败：{(last_any.error or '原因未记录')[:200]}"
    return DigestHealth(
        last_poll=last_ok.finished_at if last_ok else None,
        backlog=count(session, Message.status == RECEIVED, Message.received_at < window.until),
        failed_messages=count(session, Message.status == FAILED, Message.received_at < window.until),
        outbox_pending=count(session, Outbox.status == OUTBOX_PENDING, Outbox.created_at < window.until,
                             model=Outbox),
        outbox_failed=count(session, Outbox.status == OUTBOX_FAILED, Outbox.created_at < window.until,
                            not_dismissed_by(window.until), model=Outbox),
        note=note,
    )


def _capped(items: list, limit: int, what: str, notes: list[str]) -> list:
    if len(items) > limit:
        notes.append(f"{what}共{len(items)}件，仅列出最早的{limit}件，其余请用 zxjyck messages 查看。")
        return items[:limit]
    return items


# ---------------------------------------------------------------- public entry points


def build_digest(app: App, day: date) -> DigestContext:
    """The digest of ``day`` from stored data (see the module docstring for what "as at" means)."""
    window = digest_window(app, day)
    notes: list[str] = []
    with session_scope(app.engine) as session:
        grid = city_rows(session, window, app.settings.schedule.calendar().tz)
        applications = application_rows(session, window, app.settings.applications.require_stamped_form)
        review = _capped(review_rows(session, window), MAX_REVIEW_ITEMS, "待人工处理", notes)
        outbox = _capped(outbox_rows(session, window), MAX_OUTBOX_ITEMS, "发送失败与退信", notes)
        health = service_health(session, window)
        received = count(session, Message.received_at >= window.since, Message.received_at < window.until)
        on_time, on_time_before, expected = on_time_counts(session, app.settings.schedule.calendar(),
                                                           window.week_start, window.until)
    if notes:
        health.note = " ".join(filter(None, [health.note, *notes]))
    return DigestContext(
        bureau_name=app.settings.notify.bureau_name, contact_line=app.settings.notify.contact_line,
        timezone=app.settings.schedule.timezone, letter_date=day, day=day, week_start=window.week_start,
        week_end=window.week_end, cities=grid,
        applications=applications, review_items=review, outbox_problems=outbox, health=health,
        messages_received=received, on_time_this_week=on_time, on_time_last_week=on_time_before,
        cities_expected=expected,
    )


def render_digest(context: DigestContext) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a digest."""
    return render("digest", context, today=context.day)


def enqueue_digest(app: App, day: date, context: DigestContext | None = None) -> tuple[Outbox, bool]:
    """Queue the digest of ``day`` to ``staff.digest_to`` once per day; (row, newly queued)."""
    recipients = list(app.settings.staff.digest_to)
    if not recipients:
        raise DigestRecipientsMissing(
            f"{app.settings.path}: staff.digest_to is empty, nobody to send the digest to / 未配置每日汇总收件人")
    key = f"digest:{day.isoformat()}"
    context = context or build_digest(app, day)
    with session_scope(app.engine) as session:
        existing = find_by_key(session, key)
        if existing is not None:
            return existing, False
        row = enqueue(session, outbox_settings(app.settings), kind="digest", context=context, to=recipients,
                      dedupe_key=key, now=app.now(), auto_submitted=AUTO_GENERATED)
    log.info("digest for %s queued as outbox %s to %d recipient(s)", day, row.id, len(recipients))
    return row, True


def digest_command(app: App, day: date | None, send: bool) -> str:
    """`zxjyck digest`: the plain text of the digest (default: today), queued for staff with ``send``."""
    day = day or today(app)
    if send and not app.settings.staff.digest_to:
        raise DigestRecipientsMissing(
            f"{app.settings.path}: staff.digest_to is empty, nobody to send the digest to / 未配置每日汇总收件人")
    context = build_digest(app, day)
    subject, text, _html = render_digest(context)
    output = f"{subject}\n\n{text.rstrip()}\n"
    if send:
        row, new = enqueue_digest(app, day, context)
        to = "、".join(row.to)
        output += (f"\n已加入发件箱 queued for {to} (outbox #{row.id})\n" if new else
                   f"\n当日汇总已在发件箱中 already queued for {to} (outbox #{row.id}, {row.status})\n")
        if row.status == OUTBOX_PENDING:
            output += ("下一次收取（zxjyck poll，或常驻服务 zxjyck run 的下一轮）时发出 / "
                       "it goes out with the next cycle: zxjyck poll, or the running daemon's next round\n")
    return output


def queue_todays_digest(app: App) -> Outbox | None:
    """The scheduled job: queue today's digest; skipped (with a warning) when nobody is to receive it."""
    if not app.settings.staff.digest_to:
        log.warning("digest not queued: staff.digest_to is empty in %s", app.settings.path)
        return None
    row, _new = enqueue_digest(app, today(app))
    return row
