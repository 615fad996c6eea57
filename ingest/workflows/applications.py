"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlmodel import Session, delete, select

from ingest.pipeline.classify import flatten
from ingest.workflows.application_checks import (
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
from ingest.workflows.problems import about_file
from ingest.workflows.reminders import outbox_settings
from ingest.workflows.weekly import MAX_HOURS
from notify.compose import (
    ApplicationReceiptContext,
    MissingItemsContext,
)
from notify.outbox import enqueue, reply, sent_recently_to
from parsers.application import ApplicationData, ProjectData, validate_application
from parsers.validators import credit_code_valid, normalize_credit_code
from store.cities import city_of_address
from store.models import (
    MATERIAL_KEYS,
    NEEDS_REVIEW,
    OUTBOX_SUPPRESSED,
    PROCESSED,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    Message,
)
from store.repo import thread_message_pks

log = logging.getLogger(__name__)


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
    day = app.settings.schedule.calendar().local_date(application.completed_at)
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
