"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, delete, select

from ingest.application_checks import (
    STAMPED_FORM_ITEM,
    copy_address,
    form_copies,
    licence_check,
    licence_problems,
    merge_stamped,
    ocr_reading,
    recommended_by,
    seal_seen,
    stamp_decision,
    values_source,
)
from ingest.classify import flatten
from ingest.decode import nfkc
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
from notify.outbox import enqueue, mark_bounced, reply, sent_recently_to
from parsers.application import ApplicationData, ProjectData, validate_application
from parsers.dates import parse_date_range, week_problems
from parsers.validators import credit_code_valid, normalize_credit_code
from store.cities import city_of_address, normalize_address, registered_cities
from store.models import (
    MATERIAL_KEYS,
    NEEDS_REVIEW,
    OUTBOX_SUPPRESSED,
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
    """Each city's form becomes its own report; forms for a city the sender is not registered for are held."""
    forms = _forms_by_city(ctx.analyses, ctx.classification.city)
    forms.sort(key=lambda f: (not (f.city and _registered_for(session, row, ctx, f.city)),
                              -len(f.chosen.weekly.rows) if f.chosen else 0))
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


SCAN_UNREAD = ("基本情况表为扫描件或照片，未能识别出内容，待工作人员核对，不要求申报单位另发可编辑版本 "
               "/ nothing could be read from the scanned form: staff to check")


def _form_problems(session: Session, application: Application, present: list[str],
                   skip: set[str] = frozenset(), unreadable_to_staff: bool = False) -> list[str]:
    """What the sender must correct in the basic form; nothing while the form itself is missing.

    ``skip`` names fields OCR read with low confidence: staff confirm those, the sender is not asked.
    """
    if "basic_form" not in present:
        return []
    form = stored_form(session, application)
    if not (form.platform_name or form.organization or form.credit_code or form.projects):
        if skip or unreadable_to_staff:
            return []
        return [UNREADABLE_FORM]  # recognised by its name only: asking for each field would mislead
    return [p.message for p in validate_application(form) if p.field not in skip]


def application_workflow(app, session: Session, row: Message, ctx) -> str:
    found = list(flatten(ctx.analyses))
    copies = form_copies(found)
    form_analysis = values_source(copies)
    form = form_analysis.application if form_analysis else None
    application = _find_application(session, row, form)
    now = app.now()
    if application is None:
        application = Application(key=_key_for(row, form), from_addr=row.from_addr, first_received_at=row.received_at,
                                  updated_at=now)
        session.add(application)
        session.flush()
    had_form_before = "basic_form" in materials_of(session, application)
    reading = ocr_reading(form_analysis)
    if form is not None:
        _apply_form(application, form, session)
        application.form_scanned = reading.scanned
        application.ocr_fields = reading.fields
        new_key = _key_for(row, form)
        if new_key.startswith("credit:") and application.key != new_key and not session.exec(
                select(Application.id).where(Application.key == new_key)).first():
            application.key = new_key
    session.exec(delete(ApplicationMaterial).where(ApplicationMaterial.message_pk == row.id))
    for analysis in found:
        category = "basic_form" if any(analysis is c for c in copies) else getattr(analysis.material, "category", None) \
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
    application.stamped = merge_stamped(application.stamped, had_form_before, seal_seen(copies), bool(copies))
    stamp = stamp_decision(app.settings.applications.require_stamped_form, "basic_form" in present,
                           application.stamped)
    # a scan or photo of the form from which OCR read nothing: staff look at it, the sender is not asked again
    scan_unread = form is None and any(getattr(a, "scanned", False) for a in copies)
    field_problems = _form_problems(session, application, present, skip=set(reading.low),
                                    unreadable_to_staff=scan_unread)
    staff = [p for p in (stamp.staff_problem, reading.staff_problem()) if p]
    if scan_unread and not field_problems and not (application.platform_name or application.organization):
        staff.append(SCAN_UNREAD)
    staff += licence_problems(found, application.credit_code, application.organization)
    application.licence_check = licence_check(found, application.credit_code, application.organization) \
        or application.licence_check
    sender_city = None if ctx.decoded.sender_problems else city_of_address(session, row.from_addr)
    recommender = recommended_by(sender_city, row.from_addr, row.from_name, f"{row.subject}\n{ctx.decoded.text[:3000]}",
                                 application.email)
    if recommender or not application.recommended_by:
        application.recommended_by = recommender[:2000] if recommender else None
    application.form_problems = field_problems
    application.staff_problems = list(dict.fromkeys(staff))
    held = bool(reading.low or stamp.staff_problem or SCAN_UNREAD in staff)
    application.complete = not missing and not field_problems and not stamp.missing_item and not held
    _set_batch(app, application, row)
    application.updated_at = now
    session.add(application)
    ctx.problems.extend(field_problems)
    ctx.problems.extend(application.staff_problems)
    for analysis in found:
        ctx.problems.extend(about_file(analysis.filename, p) for p in analysis.problems)
    if held:
        return NEEDS_REVIEW  # nothing goes to the sender on a value or a seal staff must look at first
    asked = [*missing, *([STAMPED_FORM_ITEM] if stamp.missing_item else [])]
    _application_notice(app, session, row, ctx, application, present, asked, field_problems)
    return NEEDS_REVIEW if application.staff_problems else PROCESSED


def _set_batch(app, application: Application, row: Message) -> None:
    """The batch of the day the materials became complete; kept when later mail only adds to it."""
    if not application.complete:
        application.completed_at, application.batch = None, None
        return
    if application.completed_at is None:
        application.completed_at = row.received_at
    day = application.completed_at.astimezone(ZoneInfo(app.settings.schedule.timezone)).date()
    application.batch = app.settings.applications.batch_on(day)


def _application_notice(app, session, row, ctx, application, present, missing, field_problems) -> None:
    cfg = outbox_settings(app.settings)
    if application.complete:
        context = ApplicationReceiptContext(platform_name=application.platform_name,
                                            organization=application.organization, materials_received=present,
                                            received_at=row.received_at)
        sent = reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="receipt", context=context,
                     dedupe_key=f"receipt:{row.sha256}", now=app.now())
        _receipt_copy(app, session, cfg, row, application, context, sent)
    else:
        context = MissingItemsContext(platform_name=application.platform_name,
                                      organization=application.organization, materials_missing=missing,
                                      materials_received=present, field_problems=field_problems,
                                      received_at=row.received_at)
        reply(session, cfg, about=row, headers=ctx.decoded.headers, kind="missing_items", context=context,
              dedupe_key=f"missing_items:{row.sha256}", now=app.now())


def _receipt_copy(app, session, cfg, row: Message, application: Application, context, sent) -> None:
    """A recommended application: a copy of the receipt to the contact address the form names."""
    if not application.recommended_by:
        return  # the platform applied itself: the sender is the applicant
    to = copy_address(application.email, row.from_addr, set(cfg.our_addresses))
    if to is None or sent.status == OUTBOX_SUPPRESSED:
        return  # no copy of a receipt the loop rules held back (its row already says why)
    block = None
    if sent_recently_to(session, to, app.now()) >= cfg.max_per_sender_per_day:
        block = f"不自动发送：今日发往 {to} 的通知已达上限"
    copy = replace(context, salutation=None)
    enqueue(session, cfg, kind="receipt", context=copy, to=[to], dedupe_key=f"receipt-copy:{row.sha256}",
            now=app.now(), about=row, references=list(row.references or []), block_reason=block)

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
