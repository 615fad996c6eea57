"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, delete, select

from ingest.pipeline.classify import flatten
from ingest.pipeline.decode import nfkc
from ingest.pipeline.process import mail_date
from ingest.workflows.problems import _attachment_problems, about_file
from ingest.workflows.reminders import deadline_for, outbox_settings
from notify.compose import (
    CorrectionRequestContext,
    FileProblem,
    WeeklyReceiptContext,
)
from notify.outbox import reply
from parsers.dates import parse_date_range, week_problems
from store.cities import normalize_address, registered_cities
from store.models import (
    NEEDS_REVIEW,
    PROCESSED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
    Message,
    WeeklyReport,
    WeeklyRow,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- weekly reports


MAX_HEADCOUNT = 10_000_000  # more than any enterprise could enrol: a typo or hostile input, not a figure
MAX_HOURS = 100_000


def previous_week(day: date) -> tuple[date, date]:
    """The Monday-Sunday week before the one containing ``day``."""
    monday = day - timedelta(days=day.weekday()) - timedelta(days=7)
    return monday, monday + timedelta(days=6)


@dataclass
class _Found:
    """One weekly form and the attachment it came from."""

    filename: str
    weekly: object
    low_confidence_fields: list[str] = field(default_factory=list)  # OCR values staff must confirm


@dataclass
class _WeeklyForm:
    """One city's form for one week, as found in the mail (``chosen`` None: no form was found at all)."""

    city: str | None
    chosen: _Found | None
    same_week: list = field(default_factory=list)  # the city's other forms for that week, not used


def _forms_by_city(analyses: list, fallback_city: str | None) -> list[_WeeklyForm]:
    """Every city's form in the mail: one per (city, week), the one with most rows when there are several."""
    groups: dict[tuple, list] = {}
    for analysis in flatten(analyses):
        for data in [getattr(analysis, "weekly", None), *(getattr(analysis, "more_weekly", None) or [])]:
            if data is not None:
                key = (data.city or fallback_city, data.week_start, data.week_end)
                groups.setdefault(key, []).append(
                    _Found(analysis.filename, data, list(getattr(analysis, "low_confidence_fields", None) or [])))
    if not groups:
        return [_WeeklyForm(fallback_city, None)]
    forms = []
    for (city, _start, _end), found in groups.items():
        found.sort(key=lambda a: len(a.weekly.rows), reverse=True)  # stable: the first of equals wins
        forms.append(_WeeklyForm(city, found[0], found[1:]))
    return forms


def _registered_for(session: Session, row: Message, ctx, city: str) -> bool:
    """Whether the message's sender is one of ``city``'s registered addresses in the store (the console may
    change them); a From with sender problems (forged or ambiguous) is registered for no city."""
    if ctx.decoded.sender_problems:
        return False
    return normalize_address(row.from_addr) in registered_cities(session).get(city, ())


def weekly_workflow(app, session: Session, row: Message, ctx) -> str:
    """Each city's form becomes its own report; forms for a city the sender is not registered for are held."""
    forms = _forms_by_city(ctx.analyses, ctx.classification.city)
    forms.sort(key=lambda f: (not (f.city and _registered_for(session, row, ctx, f.city)),
                              -len(f.chosen.weekly.rows) if f.chosen else 0))
    if row.attempts:  # a message never processed before has no reports (they are written with attempts + 1)
        session.exec(delete(WeeklyRow).where(WeeklyRow.report_id.in_(
            select(WeeklyReport.id).where(WeeklyReport.message_pk == row.id))))
        session.exec(delete(WeeklyReport).where(WeeklyReport.message_pk == row.id))
    statuses = []
    for index, form in enumerate(forms):
        for other in form.same_week:
            if _weekly_values(other.weekly) != _weekly_values(form.chosen.weekly):
                ctx.problems.append(
                    f"附件“{other.filename}”与附件“{form.chosen.filename}”同为{form.city or '同一地市'}同一周的统计表，"
                    f"内容不同，已按行数较多的附件“{form.chosen.filename}”登记，请工作人员核对")
        several = len(forms) if len(forms) > 1 else 0
        suffix = "" if index == 0 else f":{form.city}:{form.chosen.weekly.week_start if form.chosen else ''}"
        statuses.append(_weekly_report(app, session, row, ctx, form, several=several, key_suffix=suffix))
    return NEEDS_REVIEW if NEEDS_REVIEW in statuses else PROCESSED


def _weekly_values(data) -> tuple:
    return (data.city, data.week_start, data.week_end, data.declared_total,
            [(r.enterprise, r.headcount, r.platform) for r in data.rows])


def _weekly_report(app, session: Session, row: Message, ctx, form: _WeeklyForm, *, several: int,
                   key_suffix: str) -> str:
    """Record one city's report from ``form`` (replacing none: the caller cleared the message's reports)."""
    chosen, city = form.chosen, form.city
    data = chosen.weekly if chosen else None
    if city is None:
        ctx.problems.append("无法确定报送地市（表内“地市名称”、主题和发件人均未识别），待工作人员确认 / city unknown")
        return NEEDS_REVIEW
    mail_day = mail_date(app, row)
    week = (data.week_start, data.week_end) if data and data.week_start and data.week_end else None
    problems: list[str] = []
    file_problems: list[FileProblem] = []
    duplicates: set[int] = set()
    if week is None:
        week = parse_date_range(row.subject, mail_day) or previous_week(mail_day)
        if data is not None:
            problems.append(f"表内未填写报送时间，按{week[0]:%Y-%m-%d}至{week[1]:%Y-%m-%d}处理")
    if data is None:
        file_problems = _attachment_problems(ctx.analyses) or [
            FileProblem(reason="邮件中没有找到《企业职工线上适岗技能提升培训备案情况统计表》附件")]
        problems.extend(about_file(p.filename, p.reason) for p in file_problems)
    else:
        problems.extend(data.problems)
        problems.extend(week_problems(*week))
        problems.extend(week_sanity_problems(week, mail_day, app.settings.reports.max_age_weeks))
        duplicates = mark_duplicate_rows(data.rows)
        if not data.rows:
            problems.append("统计表中没有企业数据行")
            file_problems.append(FileProblem(reason="统计表中没有企业数据行", filename=chosen.filename))
        for r in data.rows:
            for p in r.problems:
                file_problems.append(FileProblem(reason=p, filename=chosen.filename, row=r.row_number))
                problems.append(p)
    problems = list(dict.fromkeys(problems))
    registered = _registered_for(session, row, ctx, city)
    if not registered:
        status = REPORT_NEEDS_REVIEW
        if several:
            problems.append(f"同一封邮件含{several}个地市的统计表；发件人 {row.from_addr} 不是{city}登记的报送邮箱，"
                            f"{city}的统计表（附件“{chosen.filename if chosen else ''}”）已暂存待工作人员确认 "
                            f"/ one of {several} cities' forms in this mail; the sender is not registered for {city}")
        else:
            problems.append(f"发件人 {row.from_addr} 不是{city}登记的报送邮箱，已暂存待工作人员确认 "
                            f"/ sender is not a registered address of {city}")
    elif problems or file_problems:
        status = REPORT_NEEDS_CORRECTION
    else:
        status = REPORT_ACCEPTED
    low = chosen.low_confidence_fields if chosen else []
    if low:  # a doubtful OCR figure is never sent back as an error
        status = REPORT_NEEDS_REVIEW
        problems.append("统计表为扫描件或照片，以下内容识别把握不足，待工作人员核对，不向地市发更正通知："
                        f"{'、'.join(low[:20])} / low-confidence OCR values wait for staff")
    deadline = deadline_for(app.settings, week[0])
    late = row.received_at > deadline
    for r in data.rows if data else []:
        if r.headcount is not None and not 0 <= r.headcount <= MAX_HEADCOUNT:
            reason = f"第{r.row_number}行“备案人数”数值异常：“{r.raw_headcount[:30]}”"
            r.headcount, r.problems = None, [*r.problems, reason]
            problems.append(reason)
            file_problems.append(FileProblem(reason=reason, filename=chosen.filename, row=r.row_number))
            status = REPORT_NEEDS_CORRECTION if status == REPORT_ACCEPTED else status
    counts = [r.headcount for r in (data.rows if data else []) if r.headcount is not None
              and id(r) not in duplicates]
    report = WeeklyReport(
        message_pk=row.id, city=city, week_start=week[0], week_end=week[1], status=status, late=late,
        received_at=row.received_at, filled_by=(data.filled_by if data else "")[:200],
        phone=(data.phone if data else "")[:200], period_text=(data.period_text if data else "")[:500],
        attachment=chosen.filename if chosen else "", total_headcount=sum(counts) if data and data.rows else None,
        declared_total=data.declared_total if data and 0 <= (data.declared_total or 0) <= MAX_HEADCOUNT * 1000
        else None, problems=problems)
    session.add(report)
    session.flush()
    for position, r in enumerate(data.rows if data else []):
        session.add(WeeklyRow(report_id=report.id, position=position, enterprise=r.enterprise[:1000],
                              headcount=r.headcount, platform=r.platform[:1000], raw_headcount=r.raw_headcount[:200],
                              problems=r.problems))
    _update_superseded(session, city, week[0])
    ctx.problems.extend(f"{city}：{p}" if several and city not in p else p for p in problems)
    _weekly_notice(app, session, row, ctx, report, file_problems, deadline, key_suffix)
    return NEEDS_REVIEW if status == REPORT_NEEDS_REVIEW else PROCESSED


def week_sanity_problems(week: tuple[date, date], mail_day: date, max_age_weeks: int) -> list[str]:
    """A reported week that cannot be right: not ended when the mail arrived, or older than the horizon.

    The week may end on the day the mail arrives (a report sent on the Sunday); a
    week ending later is one the city cannot have counted yet (often a mistyped year).
    """
    start, end = week
    if end > mail_day:
        return [f"统计时间{start:%Y-%m-%d}至{end:%Y-%m-%d}在邮件收到日期{mail_day:%Y-%m-%d}之后尚未结束，"
                "请核对年份和日期 / the reported week had not ended when the mail arrived"]
    if end < mail_day - timedelta(weeks=max_age_weeks):
        return [f"统计时间{start:%Y-%m-%d}至{end:%Y-%m-%d}早于邮件收到日期{mail_day:%Y-%m-%d}超过{max_age_weeks}周，"
                f"请核对年份和日期 / the reported week is more than {max_age_weeks} weeks old"]
    return []


def _enterprise_key(name: str) -> str:
    return "".join(nfkc(name).split()).casefold()


def mark_duplicate_rows(rows: list) -> set[int]:
    """An enterprise listed again is a row problem on each later row; returns those rows (``id``), not summed."""
    first: dict[str, int] = {}
    later: set[int] = set()
    for r in rows:
        key = _enterprise_key(r.enterprise)
        if not key:
            continue
        if key in first:
            r.problems = [*r.problems, f"第{r.row_number}行企业“{r.enterprise[:60]}”与第{first[key]}行重复，"
                                       "未计入合计，请删除重复行"]
            later.add(id(r))
        else:
            first[key] = r.row_number
    return later


def _update_superseded(session: Session, city: str, week_start: date) -> None:
    """Exactly one current report per city and week: the latest received, held ones never over a real one."""
    reports = list(session.exec(select(WeeklyReport).where(WeeklyReport.city == city,
                                                           WeeklyReport.week_start == week_start)))
    if not reports:
        return
    eligible = [r for r in reports if r.status != REPORT_NEEDS_REVIEW] or reports
    current = max(eligible, key=lambda r: (r.received_at, r.id))
    for r in reports:
        r.superseded = r.id != current.id
        session.add(r)


def _weekly_notice(app, session: Session, row: Message, ctx, report: WeeklyReport, file_problems, deadline,
                   key_suffix: str = "") -> None:
    cfg = outbox_settings(app.settings)
    now = app.now()
    if report.status == REPORT_ACCEPTED:
        context = WeeklyReceiptContext(city=report.city, week_start=report.week_start, week_end=report.week_end,
                                       enterprise_count=len(report_rows(session, report)),
                                       total_headcount=report.total_headcount or 0, received_at=row.received_at,
                                       late=report.late, deadline=deadline)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="receipt", context=context,
              dedupe_key=f"receipt:{row.sha256}{key_suffix}", now=now)
    elif report.status == REPORT_NEEDS_CORRECTION:
        problems = file_problems or [FileProblem(reason=p) for p in report.problems]
        context = CorrectionRequestContext(problems=problems, city=report.city, week_start=report.week_start,
                                           week_end=report.week_end, received_at=row.received_at)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="correction_request", context=context,
              dedupe_key=f"correction_request:{row.sha256}{key_suffix}", now=now)


def report_rows(session: Session, report: WeeklyReport) -> list[WeeklyRow]:
    return list(session.exec(select(WeeklyRow).where(WeeklyRow.report_id == report.id)))
