"""Weekly reports: each city's form in a message becomes that city's report for its week.

``decide`` is pure: the message's facts, the analyses, the cities the sender is
registered for (read beforehand) and the settings give a frozen WeeklyDecision
(the reports with their rows, the receipt or correction request each causes
with its dedupe key, the problems, the message status). ``record`` writes it in
the message's transaction: the message's earlier reports are replaced (replay),
exactly one report per city and week stays current, and the outbox's dedupe
keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlmodel import Session, delete, select

from ingest.outbound import outbox_settings
from ingest.pipeline.classify import flatten
from ingest.pipeline.decode import nfkc
from ingest.workflows import figures
from ingest.workflows.decisions import MessageFacts, Reply, facts_of
from ingest.workflows.problems import _attachment_problems, about_file
from notify.compose import (
    CorrectionRequestContext,
    FileProblem,
    WeeklyReceiptContext,
)
from notify.outbox import reply
from parsers.dates import parse_date_range, week_problems
from parsers.weekly import ZERO_HINT, zero_statement_in
from store.cities import normalize_address, registered_cities
from store.models import (
    FLAG_VERIFIED,
    NEEDS_REVIEW,
    PROCESSED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
    REVISION_PENDING,
    Message,
    WeeklyReport,
    WeeklyRow,
)
from zxjyck import calendar

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- weekly reports


MAX_HEADCOUNT = 10_000_000  # more than any enterprise could enrol: a typo or hostile input, not a figure
MAX_HOURS = 100_000


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
        for data in [analysis.weekly, *(analysis.more_weekly or [])]:
            if data is not None:
                key = (data.city or fallback_city, data.week_start, data.week_end)
                groups.setdefault(key, []).append(
                    _Found(analysis.filename, data, list(analysis.low_confidence_fields or [])))
    if not groups:
        return [_WeeklyForm(fallback_city, None)]
    forms = []
    for (city, _start, _end), found in groups.items():
        found.sort(key=lambda a: len(a.weekly.rows), reverse=True)  # stable: the first of equals wins
        forms.append(_WeeklyForm(city, found[0], found[1:]))
    return forms


def registered_cities_of(session: Session, facts: MessageFacts) -> frozenset[str]:
    """The cities the message's sender is a registered address of in the store (the console may change them);
    a From with sender problems (forged or ambiguous) is registered for no city."""
    if not facts.sender_trusted:
        return frozenset()
    address = normalize_address(facts.from_addr)
    return frozenset(city for city, addresses in registered_cities(session).items() if address in addresses)


@dataclass(frozen=True)
class RowRecord:
    """One enterprise row of a report, as it is written."""

    position: int
    enterprise: str
    headcount: int | None
    platform: str
    raw_headcount: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportRecord:
    """One city's report for one week, as it is written, and the notice it causes (None: nothing is sent)."""

    city: str
    week_start: date
    week_end: date
    status: str
    late: bool
    received_at: datetime
    filled_by: str
    phone: str
    period_text: str
    attachment: str
    total_headcount: int | None
    declared_total: int | None
    problems: tuple[str, ...]
    rows: tuple[RowRecord, ...]
    notice: Reply | None


@dataclass(frozen=True)
class WeeklyDecision:
    """What a weekly-report message leads to: each city's report, the message's problems, its status."""

    reports: tuple[ReportRecord, ...]
    problems: tuple[str, ...]
    status: str


def decide(facts: MessageFacts, analyses: list, registered: frozenset[str], settings) -> WeeklyDecision:
    """Each city's form becomes its own report; forms for a city the sender is not registered for are held.

    Pure: ``registered`` are the cities the sender is a registered address of (``registered_cities_of``);
    the analyses are read, never changed.
    """
    forms = _forms_by_city(analyses, facts.city)
    forms.sort(key=lambda f: (not (f.city and f.city in registered),
                              -len(f.chosen.weekly.rows) if f.chosen else 0))
    problems: list[str] = []
    reports: list[ReportRecord] = []
    held = False
    for index, form in enumerate(forms):
        for other in form.same_week:
            if _weekly_values(other.weekly) != _weekly_values(form.chosen.weekly):
                problems.append(
                    f"附件“{other.filename}”与附件“{form.chosen.filename}”同为{form.city or '同一地市'}同一周的统计表，"
                    f"内容不同，已按行数较多的附件“{form.chosen.filename}”登记，请工作人员核对")
        several = len(forms) if len(forms) > 1 else 0
        suffix = "" if index == 0 else f":{form.city}:{form.chosen.weekly.week_start if form.chosen else ''}"
        if form.city is None:
            problems.append("无法确定报送地市（表内“地市名称”、主题和发件人均未识别），待工作人员确认 / city unknown")
            held = True
            continue
        report = _decide_report(facts, analyses, form, form.city in registered, settings, several=several,
                                key_suffix=suffix)
        problems.extend(f"{form.city}：{p}" if several and form.city not in p else p for p in report.problems)
        held = held or report.status == REPORT_NEEDS_REVIEW
        reports.append(report)
    return WeeklyDecision(tuple(reports), tuple(problems), NEEDS_REVIEW if held else PROCESSED)


def record(session: Session, decision: WeeklyDecision, row: Message, headers, cfg, now: datetime) -> str:
    """Write the decision: the message's reports (replacing its earlier ones), their rows, the notices.

    A report for a closed week received after its closing waits for staff (a pending revision); every change
    of a city's counted figures is written to the figure history with this message and its sender."""
    kept: dict[tuple, tuple[str | None, list[str]]] = {}  # (city, week) -> revision and flags before a replay
    if row.attempts:  # a message never processed before has no reports (they are written with attempts + 1)
        kept = {(r.city, r.week_start): (r.revision, list(r.flags or [])) for r in session.exec(
            select(WeeklyReport).where(WeeklyReport.message_pk == row.id))}
    keys = {(d.city, d.week_start) for d in decision.reports} | set(kept)
    before = {key: figures.counted_figures(session, *key) for key in keys}
    if kept:
        session.exec(delete(WeeklyRow).where(WeeklyRow.report_id.in_(
            select(WeeklyReport.id).where(WeeklyReport.message_pk == row.id))))
        session.exec(delete(WeeklyReport).where(WeeklyReport.message_pk == row.id))
        for key in kept:
            figures.update_current(session, *key)
    for decided in decision.reports:
        earlier_revision, earlier_flags = kept.get((decided.city, decided.week_start), (None, []))
        revision = None
        if figures.is_revision(session, decided.week_start, decided.received_at):
            revision = earlier_revision or REVISION_PENDING
        report = WeeklyReport(
            message_pk=row.id, city=decided.city, week_start=decided.week_start, week_end=decided.week_end,
            status=decided.status, late=decided.late, received_at=decided.received_at, filled_by=decided.filled_by,
            phone=decided.phone, period_text=decided.period_text, attachment=decided.attachment,
            total_headcount=decided.total_headcount, declared_total=decided.declared_total,
            problems=list(decided.problems), revision=revision,
            flags=[f for f in earlier_flags if f == FLAG_VERIFIED])
        session.add(report)
        session.flush()
        for r in decided.rows:
            session.add(WeeklyRow(report_id=report.id, position=r.position, enterprise=r.enterprise,
                                  headcount=r.headcount, platform=r.platform, raw_headcount=r.raw_headcount,
                                  problems=list(r.problems)))
        session.flush()
        figures.update_current(session, decided.city, decided.week_start)
        figures.refresh_flags(session, report)
        if decided.notice is not None:
            reply(session, cfg, about=row, headers=headers, kind=decided.notice.kind,
                  context=decided.notice.fresh_context(), dedupe_key=decided.notice.dedupe_key, now=now)
    session.flush()
    for key in sorted(keys):
        figures.record_change(session, *key, before[key], figures.counted_figures(session, *key),
                              actor=row.from_addr or "?", reason="report", message_pk=row.id, now=now)
    return decision.status


def weekly_workflow(app, session: Session, row: Message, ctx) -> str:
    facts = facts_of(app, row, ctx)
    decision = decide(facts, ctx.analyses, registered_cities_of(session, facts), app.settings)
    ctx.problems.extend(decision.problems)
    return record(session, decision, row, ctx.decoded.headers, outbox_settings(app.settings), app.now())


def _weekly_values(data) -> tuple:
    return (data.city, data.week_start, data.week_end, data.declared_total,
            [(r.enterprise, r.headcount, r.platform) for r in data.rows])


def _decide_report(facts: MessageFacts, analyses: list, form: _WeeklyForm, registered: bool, settings, *,
                   several: int, key_suffix: str) -> ReportRecord:
    """One city's report from ``form``."""
    chosen, city = form.chosen, form.city
    data = chosen.weekly if chosen else None
    rows = [replace(r, problems=list(r.problems)) for r in data.rows] if data else []  # the analysis stays as read
    mail_day = facts.mail_day
    week = (data.week_start, data.week_end) if data and data.week_start and data.week_end else None
    problems: list[str] = []
    file_problems: list[FileProblem] = []
    duplicates: set[int] = set()
    if week is None:
        week = parse_date_range(facts.subject, mail_day) or calendar.previous_week(mail_day)
        if data is not None:
            problems.append(f"表内未填写报送时间，按{week[0]:%Y-%m-%d}至{week[1]:%Y-%m-%d}处理")
    zero = zero_statement_of(data, facts, analyses)
    if data is None and zero:
        problems.extend(week_sanity_problems(week, mail_day, settings.reports.max_age_weeks))
    elif data is None:
        file_problems = _attachment_problems(analyses) or _hidden_only(analyses) or [
            FileProblem(reason="邮件中没有找到《企业职工线上适岗技能提升培训备案情况统计表》附件。" + ZERO_HINT)]
        problems.extend(about_file(p.filename, p.reason) for p in file_problems)
    else:
        problems.extend(p for p in data.problems if not (zero and p.startswith("统计表中未填写任何企业备案数据")))
        problems.extend(week_problems(*week))
        problems.extend(week_sanity_problems(week, mail_day, settings.reports.max_age_weeks))
        duplicates = mark_duplicate_rows(rows)
        if not rows and not zero:
            problems.append("统计表中没有企业数据行")
            file_problems.append(FileProblem(reason=f"统计表中没有企业数据行。{ZERO_HINT}", filename=chosen.filename))
        for r in rows:
            for p in r.problems:
                file_problems.append(FileProblem(reason=p, filename=chosen.filename, row=r.row_number))
                problems.append(p)
    problems = list(dict.fromkeys(problems))
    if not registered:
        status = REPORT_NEEDS_REVIEW
        if several:
            problems.append(f"同一封邮件含{several}个地市的统计表；发件人 {facts.from_addr} 不是{city}登记的报送邮箱，"
                            f"{city}的统计表（附件“{chosen.filename if chosen else ''}”）已暂存待工作人员确认 "
                            f"/ one of {several} cities' forms in this mail; the sender is not registered for {city}")
        else:
            problems.append(f"发件人 {facts.from_addr} 不是{city}登记的报送邮箱，已暂存待工作人员确认 "
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
    deadline = settings.schedule.calendar().deadline(week[0])
    late = calendar.is_late(facts.received_at, deadline)
    for r in rows:
        if r.headcount is not None and not 0 <= r.headcount <= MAX_HEADCOUNT:
            reason = f"第{r.row_number}行“备案人数”数值异常：“{r.raw_headcount[:30]}”"
            r.headcount, r.problems = None, [*r.problems, reason]
            problems.append(reason)
            file_problems.append(FileProblem(reason=reason, filename=chosen.filename, row=r.row_number))
            status = REPORT_NEEDS_CORRECTION if status == REPORT_ACCEPTED else status
    counts = [r.headcount for r in rows if r.headcount is not None and id(r) not in duplicates]
    total = sum(counts) if data and rows else 0 if zero else None
    notice = None
    if status == REPORT_ACCEPTED:
        notice = Reply("receipt", WeeklyReceiptContext(
            city=city, week_start=week[0], week_end=week[1], enterprise_count=len(rows), total_headcount=total or 0,
            received_at=facts.received_at, late=late, deadline=deadline, zero=bool(zero)),
            f"receipt:{facts.sha256}{key_suffix}")
    elif status == REPORT_NEEDS_CORRECTION:
        notice = Reply("correction_request", CorrectionRequestContext(
            problems=file_problems or [FileProblem(reason=p) for p in problems], city=city, week_start=week[0],
            week_end=week[1], received_at=facts.received_at), f"correction_request:{facts.sha256}{key_suffix}")
    return ReportRecord(
        city=city, week_start=week[0], week_end=week[1], status=status, late=late, received_at=facts.received_at,
        filled_by=(data.filled_by if data else "")[:200], phone=(data.phone if data else "")[:200],
        period_text=(data.period_text if data else "")[:500], attachment=chosen.filename if chosen else "",
        total_headcount=total,
        declared_total=data.declared_total if data and 0 <= (data.declared_total or 0) <= MAX_HEADCOUNT * 1000
        else None, problems=tuple(problems),
        rows=tuple(RowRecord(position, r.enterprise[:1000], r.headcount, r.platform[:1000], r.raw_headcount[:200],
                             tuple(r.problems)) for position, r in enumerate(rows)),
        notice=notice)


def _hidden_only(analyses: list) -> list[FileProblem]:
    """No form on a visible sheet, but hidden sheets were left unread: the city may have hidden its form."""
    return [FileProblem(reason=f"{note.split(' / ')[0]}；如统计表在该工作表中，请取消隐藏后重新发送", filename=a.filename)
            for a in flatten(analyses) for note in (getattr(a, "notes", None) or [])]


def zero_statement_of(data, facts: MessageFacts, analyses: list) -> str:
    """The words by which the city reports zero for the week (its form, else its mail), or "" for none.

    Only a form with no enterprise rows (or no form at all) can be a report of zero; a mail saying 报零
    beside a form with rows is read by its rows.
    """
    if data is not None and data.rows:
        return ""
    if data is not None and data.zero_statement:
        return data.zero_statement
    if data is None and _attachment_problems(analyses):
        return ""  # a file could not be read: it may hold rows; the city is asked to send it again
    return zero_statement_in(facts.subject) or zero_statement_in(facts.body[:500])


def week_sanity_problems(week: tuple[date, date], mail_day: date, max_age_weeks: int) -> list[str]:
    """A reported week that cannot be right: not ended when the mail arrived, or older than the horizon.

    The week may end on the day the mail arrives (a report sent on the Sunday); a
    week ending later is one the city cannot have counted yet (often a mistyped year).
    """
    start, end = week
    if not calendar.week_ended_by(end, mail_day):
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


def report_rows(session: Session, report: WeeklyReport) -> list[WeeklyRow]:
    return list(session.exec(select(WeeklyRow).where(WeeklyRow.report_id == report.id)))
