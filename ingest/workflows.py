"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlmodel import Session, delete, select

from ingest.classify import flatten
from ingest.notices import deadline_for, outbox_settings
from ingest.processing import mail_date
from notify.bounce import parse_bounce
from notify.compose import (
    ApplicationReceiptContext,
    CorrectionRequestContext,
    FileProblem,
    MissingItemsContext,
    WeeklyReceiptContext,
)
from notify.outbox import mark_bounced, reply
from parsers.application import ApplicationData, ProjectData, validate_application
from parsers.dates import parse_date_range, week_problems
from parsers.validators import credit_code_valid, normalize_credit_code
from store.models import (
    MATERIAL_KEYS,
    NEEDS_REVIEW,
    PROCESSED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    Message,
    WeeklyReport,
    WeeklyRow,
)
from store.repo import thread_message_pks

log = logging.getLogger(__name__)


def apply_workflow(app, session: Session, row: Message, ctx) -> str:
    """Dispatch on the message kind; returns the message status."""
    handler = _HANDLERS.get(ctx.classification.kind)
    return handler(app, session, row, ctx) if handler else PROCESSED


# --------------------------------------------------------------------------- weekly reports


MAX_HEADCOUNT = 10_000_000  # more than any enterprise could enrol: a typo or hostile input, not a figure
MAX_HOURS = 100_000


def previous_week(day: date) -> tuple[date, date]:
    """The Monday-Sunday week before the one containing ``day``."""
    monday = day - timedelta(days=day.weekday()) - timedelta(days=7)
    return monday, monday + timedelta(days=6)


def _pick_weekly(analyses: list):
    found = [a for a in flatten(analyses) if getattr(a, "weekly", None) is not None]
    return max(found, key=lambda a: len(a.weekly.rows)) if found else None


def about_file(filename: str, reason: str) -> str:
    """A problem sentence naming its file once (the parsers' own sentences often name it already)."""
    if not filename or f"“{filename}”" in reason:
        return reason
    return f"附件“{filename}”：{reason}"


def _attachment_problems(analyses: list) -> list[FileProblem]:
    out = []
    for analysis in flatten(analyses):
        for problem in analysis.problems:
            out.append(FileProblem(reason=problem, filename=analysis.filename))
    return out


def weekly_workflow(app, session: Session, row: Message, ctx) -> str:
    chosen = _pick_weekly(ctx.analyses)
    data = chosen.weekly if chosen else None
    city = (data.city if data and data.city else None) or ctx.classification.city
    if city is None:
        ctx.problems.append("无法确定报送地市（表内“地市名称”、主题和发件人均未识别），待工作人员确认 / city unknown")
        return NEEDS_REVIEW
    mail_day = mail_date(app, row)
    week = (data.week_start, data.week_end) if data and data.week_start and data.week_end else None
    problems: list[str] = []
    file_problems: list[FileProblem] = []
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
        if not data.rows:
            problems.append("统计表中没有企业数据行")
            file_problems.append(FileProblem(reason="统计表中没有企业数据行", filename=chosen.filename))
        for r in data.rows:
            for p in r.problems:
                file_problems.append(FileProblem(reason=p, filename=chosen.filename, row=r.row_number))
                problems.append(p)
    problems = list(dict.fromkeys(problems))
    from store.cities import normalize_address, registered_cities

    registered = normalize_address(row.from_addr) in registered_cities(session).get(city, ())
    if not registered:
        status = REPORT_NEEDS_REVIEW
        problems.append(f"发件人 {row.from_addr} 不是{city}登记的报送邮箱，已暂存待工作人员确认 "
                        f"/ sender is not a registered address of {city}")
    elif problems or file_problems:
        status = REPORT_NEEDS_CORRECTION
    else:
        status = REPORT_ACCEPTED
    deadline = deadline_for(app.settings, week[0])
    late = row.received_at > deadline
    session.exec(delete(WeeklyRow).where(WeeklyRow.report_id.in_(
        select(WeeklyReport.id).where(WeeklyReport.message_pk == row.id))))
    session.exec(delete(WeeklyReport).where(WeeklyReport.message_pk == row.id))
    for r in data.rows if data else []:
        if r.headcount is not None and not 0 <= r.headcount <= MAX_HEADCOUNT:
            reason = f"第{r.row_number}行“备案人数”数值异常：“{r.raw_headcount[:30]}”"
            r.headcount, r.problems = None, [*r.problems, reason]
            problems.append(reason)
            file_problems.append(FileProblem(reason=reason, filename=chosen.filename, row=r.row_number))
            status = REPORT_NEEDS_CORRECTION if status == REPORT_ACCEPTED else status
    counts = [r.headcount for r in (data.rows if data else []) if r.headcount is not None]
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
    ctx.problems.extend(problems)
    _weekly_notice(app, session, row, ctx, report, file_problems, deadline)
    return NEEDS_REVIEW if status == REPORT_NEEDS_REVIEW else PROCESSED


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


def _weekly_notice(app, session: Session, row: Message, ctx, report: WeeklyReport, file_problems, deadline) -> None:
    cfg = outbox_settings(app.settings)
    now = app.now()
    if report.status == REPORT_ACCEPTED:
        context = WeeklyReceiptContext(city=report.city, week_start=report.week_start, week_end=report.week_end,
                                       enterprise_count=len(report_rows(session, report)),
                                       total_headcount=report.total_headcount or 0, received_at=row.received_at,
                                       late=report.late, deadline=deadline)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="receipt", context=context,
              dedupe_key=f"receipt:{row.sha256}", now=now)
    elif report.status == REPORT_NEEDS_CORRECTION:
        problems = file_problems or [FileProblem(reason=p) for p in report.problems]
        context = CorrectionRequestContext(problems=problems, city=report.city, week_start=report.week_start,
                                           week_end=report.week_end, received_at=row.received_at)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="correction_request", context=context,
              dedupe_key=f"correction_request:{row.sha256}", now=now)


def report_rows(session: Session, report: WeeklyReport) -> list[WeeklyRow]:
    return list(session.exec(select(WeeklyRow).where(WeeklyRow.report_id == report.id)))


# --------------------------------------------------------------------------- applications


def _thread_application(session: Session, row: Message) -> Application | None:
    """The application this message continues, by In-Reply-To/References (theirs or our notices)."""
    pks = thread_message_pks(session, [row.in_reply_to, *(row.references or [])])
    if not pks:
        return None
    link = session.exec(select(ApplicationMessage).where(ApplicationMessage.message_pk.in_(pks))
                        .order_by(ApplicationMessage.id.desc())).first()
    return session.get(Application, link.application_id) if link else None


def _find_application(session: Session, row: Message, form: ApplicationData | None) -> Application | None:
    found = _thread_application(session, row)
    if found is not None:
        return found
    if form is not None:
        code = normalize_credit_code(form.credit_code)
        if code:
            found = session.exec(select(Application).where(Application.credit_code == code)).first()
            if found is not None:
                return found
        if form.platform_name:
            found = session.exec(select(Application).where(Application.from_addr == row.from_addr,
                                                           Application.platform_name == form.platform_name)).first()
            if found is not None:
                return found
    stmt = select(Application).where(Application.from_addr == row.from_addr, Application.complete.is_(False))
    if form is not None:  # the form after the materials: the same sender's application that has no form yet
        stmt = stmt.where(Application.platform_name == "", Application.credit_code == "")
    # a supplement from the same sender: their latest incomplete application
    return session.exec(stmt.order_by(Application.updated_at.desc())).first()


def _key_for(row: Message, form: ApplicationData | None) -> str:
    if form is not None and normalize_credit_code(form.credit_code):
        return f"credit:{normalize_credit_code(form.credit_code)}"
    name = form.platform_name if form is not None else ""
    return f"sender:{row.from_addr}:{name or row.sha256[:12]}"[:200]


FORM_FIELD_LIMITS = {"platform_name": 5000, "website": 5000, "organization": 5000, "contact": 200,
                     "contact_title": 200, "phone": 200, "email": 320, "address": 5000, "intro": 20000}


def _apply_form(application: Application, form: ApplicationData, session: Session) -> None:
    for field_name, limit in FORM_FIELD_LIMITS.items():  # column sizes: a stranger's text must fit, not fail
        setattr(application, field_name, (getattr(form, field_name) or "")[:limit])
    application.credit_code = (normalize_credit_code(form.credit_code) or form.credit_code.strip())[:64]
    application.credit_code_valid = credit_code_valid(form.credit_code)
    session.exec(delete(ApplicationProject).where(ApplicationProject.application_id == application.id))
    for position, p in enumerate(form.projects):
        session.add(ApplicationProject(application_id=application.id, position=position, name=p.name[:5000],
                                       occupation=p.occupation[:5000], format=p.format[:200],
                                       hours=p.hours if p.hours is not None and 0 <= p.hours <= MAX_HOURS else None,
                                       assessment=p.assessment[:5000], source=p.source[:5000], fee=p.fee[:200]))


def stored_form(session: Session, application: Application) -> ApplicationData:
    projects = session.exec(select(ApplicationProject).where(ApplicationProject.application_id == application.id)
                            .order_by(ApplicationProject.position))
    return ApplicationData(
        platform_name=application.platform_name, website=application.website,
        organization=application.organization, credit_code=application.credit_code, contact=application.contact,
        contact_title=application.contact_title, phone=application.phone, email=application.email,
        address=application.address, intro=application.intro,
        projects=[ProjectData(name=p.name, occupation=p.occupation, format=p.format, hours=p.hours,
                              assessment=p.assessment, source=p.source, fee=p.fee,
                              raw_hours=str(p.hours or "")) for p in projects])


def materials_of(session: Session, application: Application) -> list[str]:
    present = set(session.exec(select(ApplicationMaterial.category)
                               .where(ApplicationMaterial.application_id == application.id)))
    return [k for k in MATERIAL_KEYS if k in present]


UNREADABLE_FORM = ("附件1 基本情况表的内容未能读取（可能是扫描件、图片或受保护的文件），"
                   "请发送可编辑的 Word 或 Excel 版本")


def _form_problems(session: Session, application: Application, present: list[str]) -> list[str]:
    """What the sender must correct in the basic form; nothing while the form itself is missing."""
    if "basic_form" not in present:
        return []
    form = stored_form(session, application)
    if not (form.platform_name or form.organization or form.credit_code or form.projects):
        return [UNREADABLE_FORM]  # recognised by its name only: asking for each empty field would mislead
    return [p.message for p in validate_application(form)]


def application_workflow(app, session: Session, row: Message, ctx) -> str:
    found = list(flatten(ctx.analyses))
    form_analysis = next((a for a in found if getattr(a, "application", None) is not None), None)
    form = form_analysis.application if form_analysis else None
    application = _find_application(session, row, form)
    now = app.now()
    if application is None:
        application = Application(key=_key_for(row, form), from_addr=row.from_addr, first_received_at=row.received_at,
                                  updated_at=now)
        session.add(application)
        session.flush()
    if form is not None:
        _apply_form(application, form, session)
        new_key = _key_for(row, form)
        if new_key.startswith("credit:") and application.key != new_key and not session.exec(
                select(Application.id).where(Application.key == new_key)).first():
            application.key = new_key
    session.exec(delete(ApplicationMaterial).where(ApplicationMaterial.message_pk == row.id))
    for analysis in found:
        category = "basic_form" if analysis is form_analysis else getattr(analysis.material, "category", None) \
            if analysis.material else None
        if category in MATERIAL_KEYS:
            session.add(ApplicationMaterial(application_id=application.id, message_pk=row.id, category=category,
                                            filename=analysis.filename[:1000],
                                            evidence=(analysis.material.evidence if analysis.material else
                                                      "表内识别出基本情况表")[:1000]))
    if not session.exec(select(ApplicationMessage).where(ApplicationMessage.application_id == application.id,
                                                         ApplicationMessage.message_pk == row.id)).first():
        session.add(ApplicationMessage(application_id=application.id, message_pk=row.id,
                                       received_at=row.received_at))
    session.flush()
    present = materials_of(session, application)
    missing = [k for k in MATERIAL_KEYS if k not in present]
    field_problems = _form_problems(session, application, present)
    application.form_problems = field_problems
    application.complete = not missing and not field_problems
    application.updated_at = now
    session.add(application)
    ctx.problems.extend(field_problems)
    for analysis in found:
        ctx.problems.extend(about_file(analysis.filename, p) for p in analysis.problems)
    _application_notice(app, session, row, ctx, application, present, missing, field_problems)
    return PROCESSED


def _application_notice(app, session, row, ctx, application, present, missing, field_problems) -> None:
    cfg = outbox_settings(app.settings)
    if application.complete:
        context = ApplicationReceiptContext(platform_name=application.platform_name,
                                            organization=application.organization, materials_received=present,
                                            received_at=row.received_at)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="receipt", context=context,
              dedupe_key=f"receipt:{row.sha256}", now=app.now())
    else:
        context = MissingItemsContext(platform_name=application.platform_name,
                                      organization=application.organization, materials_missing=missing,
                                      materials_received=present, field_problems=field_problems,
                                      received_at=row.received_at)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="missing_items", context=context,
              dedupe_key=f"missing_items:{row.sha256}", now=app.now())


# --------------------------------------------------------------------------- bounces


def bounce_workflow(app, session: Session, row: Message, ctx) -> str:
    if ctx.decoded.message is None:
        return PROCESSED
    report = parse_bounce(ctx.decoded.message)
    marked = mark_bounced(session, report.message_ids, row, report)
    if marked:
        ctx.classification.reasons.append(f"退信对应本系统发出的 {len(marked)} 封通知")
    return PROCESSED


_HANDLERS = {"weekly_report": weekly_workflow, "application": application_workflow, "bounce": bounce_workflow}
