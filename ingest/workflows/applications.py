"""Applications: each organisation's basic form (附件1) and materials in a message, merged over its mail.

A message usually carries one organisation's form, or continues an application
by replying to our notice; a city or an association recommending several
platforms sends one form per organisation, and each becomes its own
application (``application_groups``). Per organisation, ``read_state`` reads the
application it continues as plain values, ``decide`` (pure) returns a frozen
ApplicationDecision (values, materials, seal, completeness, batch, the receipt
or missing-items notice and the receipt copy with their dedupe keys, the
problems for the sender and for staff), and ``record`` writes it in the
message's transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

from sqlmodel import Session, delete, select

from ingest.outbound import outbox_settings
from ingest.pipeline.classify import flatten
from ingest.workflows.application_checks import (
    copy_address,
    form_copies,
    items_to_ask,
    licence_check,
    licence_problems,
    merge_stamped,
    name_key,
    ocr_reading,
    recommended_by,
    seal_seen,
    stamp_decision,
    values_source,
)
from ingest.workflows.decisions import MessageFacts, Reply, facts_of
from ingest.workflows.problems import about_file
from ingest.workflows.weekly import MAX_HOURS
from notify.compose import (
    ApplicationReceiptContext,
    MissingItemsContext,
)
from notify.outbox import enqueue, reply, sent_recently_to
from parsers.application import ApplicationData, ProjectData, validate_application
from parsers.cities import GUANGDONG_CITIES
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


def _find_application(session: Session, row: Message, form: ApplicationData | None,
                      continue_thread: bool = True) -> Application | None:
    """The application this message continues. One of several organisations' forms in a message is found by its
    own credit code or platform only: the thread and the sender's latest application belong to none in particular."""
    found = _thread_application(session, row) if continue_thread else None
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
    if not continue_thread:
        return None
    stmt = select(Application).where(Application.from_addr == row.from_addr, Application.complete.is_(False))
    if form is not None:  # the form after the materials: the same sender's application that has no form yet
        stmt = stmt.where(Application.platform_name == "", Application.credit_code == "")
    # a supplement from the same sender: their latest incomplete application
    return session.exec(stmt.order_by(Application.updated_at.desc())).first()


def _key_for(from_addr: str, sha256: str, form: ApplicationData | None, index: int = 0) -> str:
    """A new application's key: its credit code, else its sender and platform (``index``: the message's n-th form)."""
    if form is not None and normalize_credit_code(form.credit_code):
        return f"credit:{normalize_credit_code(form.credit_code)}"
    name = form.platform_name if form is not None else ""
    key = f"sender:{from_addr}:{name or sha256[:12]}"
    return key[:200] if not index else f"{key[:190]}#{index}"  # the n-th form's key stays its own when cut


FORM_FIELD_LIMITS = {"platform_name": 5000, "website": 5000, "organization": 5000, "contact": 200,
                     "contact_title": 200, "phone": 200, "email": 320, "address": 5000, "intro": 20000}


def _apply_form(application: Application, values: ApplicationData, credit_valid: bool, session: Session) -> None:
    """Write the form's values (``as_stored``: already cut to the columns' sizes) and its projects."""
    for field_name in FORM_FIELD_LIMITS:
        setattr(application, field_name, getattr(values, field_name))
    application.credit_code = values.credit_code
    application.credit_code_valid = credit_valid
    session.exec(delete(ApplicationProject).where(ApplicationProject.application_id == application.id))
    for position, p in enumerate(values.projects):
        session.add(ApplicationProject(application_id=application.id, position=position, name=p.name,
                                       occupation=p.occupation, format=p.format, hours=p.hours,
                                       assessment=p.assessment, source=p.source, fee=p.fee))


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


UNREADABLE_FORM = ("附件1 基本情况表的内容未能读取（可能是扫描件、图片或受保护的文件），"
                   "请发送可编辑的 Word 或 Excel 版本")


SCAN_UNREAD = ("基本情况表为扫描件或照片，未能识别出内容，待工作人员核对，不要求申报单位另发可编辑版本 "
               "/ nothing could be read from the scanned form: staff to check")


def _form_problems(form: ApplicationData, present: list[str], skip: set[str] = frozenset(),
                   unreadable_to_staff: bool = False) -> list[str]:
    """What the sender must correct in the basic form (its values as stored); nothing while the form is missing.

    ``skip`` names fields OCR read with low confidence: staff confirm those, the sender is not asked.
    """
    if "basic_form" not in present:
        return []
    if not (form.platform_name or form.organization or form.credit_code or form.projects):
        if skip or unreadable_to_staff:
            return []
        return [UNREADABLE_FORM]  # recognised by its name only: asking for each field would mislead
    return [p.message for p in validate_application(form) if p.field not in skip]


# ------------------------------------------------------------------------------ which form, which application


MAX_ORGANISATIONS = 30  # a city recommends a handful of platforms in one mail; more is a mistake or hostile


@dataclass(frozen=True)
class FormGroup:
    """One organisation's basic form in the message: its copies, its materials, the ones it shares.

    A message normally carries one (the platform applying, or one recommended); a city or an
    association recommending several platforms sends one basic form per organisation.
    """

    index: int
    copies: tuple  # the analyses that are this organisation's basic form (editable and scanned copies)
    members: tuple  # every analysis that belongs to this application: its copies and its materials, in mail order
    shared: tuple[str, ...] = ()  # materials no organisation could be matched to: counted for each, staff check
    several: int = 0  # how many organisations the message carries (0: just one)

    @property
    def form_analysis(self):
        return values_source(list(self.copies))

    @property
    def form(self) -> ApplicationData | None:
        source = self.form_analysis
        return source.application if source is not None else None


def _key_text(text: str) -> str:
    """A name to compare (the licence check's rule), case-folded, at most 200 characters (names are shorter)."""
    return name_key((text or "")[:400]).casefold()[:200]


# words every organisation's or file's name may have: they never tell whose a file is
_GENERIC_WORDS = tuple(sorted({
    "股份有限公司", "有限责任公司", "有限公司", "公司", "集团", "科技", "教育", "培训", "职业", "技能", "平台", "线上", "网络",
    "信息", "技术", "发展", "服务", "中心", "学院", "学校", "广东省", "广东", "申报", "材料", "说明", "附件", "基本情况表",
    "营业执照", "扫描件", "盖章", *GUANGDONG_CITIES, *(city[:-1] for city in GUANGDONG_CITIES)}, key=len, reverse=True))


def _distinctive(text: str) -> str:
    """A name without the words every name has (公司, 培训, 广州市, 材料...): what tells one organisation's apart."""
    key = _key_text(re.sub(r"\.[A-Za-z0-9]{1,5}$", "", text or ""))
    for word in _GENERIC_WORDS:
        key = key.replace(word, "/")
    return key


def _name_tokens(form: ApplicationData) -> list[str]:
    """What a file or folder name may call the organisation: the distinctive part of its platform's or its name."""
    return [t for t in (_distinctive(form.platform_name), _distinctive(form.organization)) if t.strip("/")]


def _identity(analysis) -> tuple[str, tuple[str, str]]:
    """What tells whose form a copy is: its credit code when the check character holds, its platform's and
    organisation's names; a value OCR read with low confidence tells nothing."""
    form, low = analysis.application, set(analysis.low_confidence_fields or [])
    code = "" if "credit_code" in low else normalize_credit_code(form.credit_code)
    names = tuple("" if name in low else _key_text(getattr(form, name)) for name in ("platform_name", "organization"))
    return (code if code and credit_code_valid(code) else ""), names


def _same_organisation(a, b) -> bool:
    """Two readable copies of one organisation's form: the same credit code, else the same platform or name.

    A copy read by OCR may misread a character, so its names need only be close; a credit code only
    separates two editable copies (OCR's misreading can pass a check character by chance).
    """
    scanned = bool(a.scanned or b.scanned)
    (ca, names_a), (cb, names_b) = _identity(a), _identity(b)
    if ca and cb:
        if ca == cb:
            return True
        if not scanned:
            return False
    return any(x and y and (x == y or scanned and SequenceMatcher(None, x, y).ratio() >= 0.8)
               for x, y in zip(names_a, names_b, strict=True))


def _identified(analysis) -> bool:
    """A readable copy that says whose form it is (see ``_identity``)."""
    code, names = _identity(analysis)
    return bool(code or any(names))


def _owner(filename: str, tokens: list[list[str]]) -> int | None:
    """The one organisation a file or folder name names: the longest run of distinctive characters it shares
    with the organisation's platform or name, three at least and longer than any other organisation's."""
    name = _distinctive(filename)
    scores = []
    for index, names in enumerate(tokens):
        best = 0
        for token in names:
            match = SequenceMatcher(None, name, token, autojunk=False).find_longest_match(0, len(name), 0, len(token))
            best = max(best, len(name[match.a:match.a + match.size].replace("/", "")))
        scores.append((best, index))
    scores.sort(reverse=True)
    if scores[0][0] < 3 or len(scores) > 1 and scores[0][0] == scores[1][0]:
        return None
    return scores[0][1]


def application_groups(analyses: list) -> list[FormGroup]:
    """The message's organisations: one group per organisation whose basic form it carries (at least one group).

    With one organisation every analysis belongs to it. With several, each material goes to the
    organisation its file or folder name names; one no name matches is shared by all and flagged for staff.
    """
    found = list(flatten(analyses))
    copies = form_copies(found)
    readable = [a for a in copies if a.application is not None and _identified(a)]
    clusters: list[list] = []
    for copy in readable:
        home = next((c for c in clusters if any(_same_organisation(copy, other) for other in c[:5])), None)
        if home is None:
            clusters.append([copy])
            if len(clusters) > MAX_ORGANISATIONS:
                break  # the workflow holds the message: no need to tell the rest apart
        else:
            home.append(copy)
    if len(clusters) <= 1:
        return [FormGroup(0, tuple(copies), tuple(found))]
    tokens = [_name_tokens(values_source(c).application) for c in clusters]
    owned: list[list] = [[] for _ in clusters]
    shared: list = []
    for analysis in found:
        cluster = next((i for i, c in enumerate(clusters) if any(analysis is a for a in c)), None)
        if cluster is None:
            cluster = _owner(analysis.filename, tokens)
        if cluster is None:
            shared.append(analysis)
        else:
            owned[cluster].append(analysis)
    shared_names = tuple(a.filename for a in shared if _category(a, copies) in MATERIAL_KEYS)
    groups = []
    for index in range(len(clusters)):
        members = [a for a in found if any(a is m for m in owned[index]) or any(a is s for s in shared)]
        group_copies = [a for a in copies if any(a is m for m in members)]
        groups.append(FormGroup(index, tuple(group_copies), tuple(members), shared_names, len(clusters)))
    return groups


def _category(analysis, copies) -> str | None:
    if any(analysis is c for c in copies):
        return "basic_form"
    return analysis.material.category if analysis.material else None


# ------------------------------------------------------------------------------ the state a decision needs


@dataclass(frozen=True)
class ApplicationState:
    """The application a form group continues, read from the store before deciding (``id`` None: a new one)."""

    id: int | None = None
    key: str = ""
    stored: ApplicationData = field(default_factory=ApplicationData)  # its form values as stored
    stamped: bool | None = None
    recommended_by: str | None = None
    licence_check: str = ""
    completed_at: datetime | None = None
    materials_before: frozenset[str] = frozenset()  # recorded for it so far (this message's earlier records too)
    materials_elsewhere: frozenset[str] = frozenset()  # recorded for it from other messages
    key_taken: bool = False  # another application holds the credit-code key this group's form would give it
    sender_city: str | None = None  # the registered city the sender is an address of (None: none, or untrusted)


def read_state(session: Session, row: Message, facts: MessageFacts, group: FormGroup) -> ApplicationState:
    form = group.form
    several = group.several > 1
    application = _find_application(session, row, form, continue_thread=not several)
    city = city_of_address(session, row.from_addr) if facts.sender_trusted else None
    new_key = _key_for(row.from_addr, row.sha256, form, group.index)
    if application is None:
        return ApplicationState(key=new_key, sender_city=city)
    taken = new_key.startswith("credit:") and application.key != new_key and session.exec(
        select(Application.id).where(Application.key == new_key)).first() is not None
    mine = set(session.exec(select(ApplicationMaterial.category).where(
        ApplicationMaterial.application_id == application.id)))
    elsewhere = set(session.exec(select(ApplicationMaterial.category).where(
        ApplicationMaterial.application_id == application.id, ApplicationMaterial.message_pk != row.id)))
    return ApplicationState(
        id=application.id, key=application.key, stored=stored_form(session, application),
        stamped=application.stamped, recommended_by=application.recommended_by,
        licence_check=application.licence_check or "", completed_at=application.completed_at,
        materials_before=frozenset(mine), materials_elsewhere=frozenset(elsewhere), key_taken=taken,
        sender_city=city)


# ------------------------------------------------------------------------------ decide


@dataclass(frozen=True)
class MaterialRecord:
    category: str
    filename: str
    evidence: str


@dataclass(frozen=True)
class ReceiptCopy:
    """A copy of the receipt to the contact address a recommended application's form names.

    Queued only when the receipt itself was not held back; the per-address daily limit applies.
    """

    to: str
    context: Any
    dedupe_key: str


@dataclass(frozen=True)
class ApplicationDecision:
    """What one organisation's form and materials in a message lead to."""

    application_id: int | None  # None: a new application with ``key``
    key: str
    values: ApplicationData | None  # the form's values as stored (None: the message carries no readable form)
    credit_code_valid: bool  # of the form's credit code as written
    form_scanned: bool
    ocr_fields: dict
    materials: tuple[MaterialRecord, ...]
    stamped: bool | None
    recommended_by: str | None
    licence_check: str
    form_problems: tuple[str, ...]
    staff_problems: tuple[str, ...]
    complete: bool
    completed_at: datetime | None
    batch: str | None
    notice: Reply | None
    copy: ReceiptCopy | None
    problems: tuple[str, ...]  # for the message
    status: str


def as_stored(form: ApplicationData) -> ApplicationData:
    """The form's values as the store keeps them (column sizes, the normalised credit code, sane hours)."""
    values = {name: (getattr(form, name) or "")[:limit] for name, limit in FORM_FIELD_LIMITS.items()}
    projects = []
    for p in form.projects:
        hours = p.hours if p.hours is not None and 0 <= p.hours <= MAX_HOURS else None
        projects.append(ProjectData(name=p.name[:5000], occupation=p.occupation[:5000], format=p.format[:200],
                                    hours=hours, assessment=p.assessment[:5000], source=p.source[:5000],
                                    fee=p.fee[:200], raw_hours=str(hours or "")))
    return ApplicationData(**values, credit_code=(normalize_credit_code(form.credit_code)
                                                  or form.credit_code.strip())[:64], projects=projects)


def decide(facts: MessageFacts, group: FormGroup, state: ApplicationState, settings) -> ApplicationDecision:
    """Pure: one organisation's application after this message, the notices it causes, the message status."""
    copies = list(group.copies)
    form_analysis = group.form_analysis
    form = form_analysis.application if form_analysis else None
    reading = ocr_reading(form_analysis)
    values = as_stored(form) if form is not None else None
    current = values if values is not None else state.stored  # the values the checks see
    key = state.key
    if state.id is not None and form is not None:
        new_key = _key_for(facts.from_addr, facts.sha256, form, group.index)
        if new_key.startswith("credit:") and state.key != new_key and not state.key_taken:
            key = new_key
    materials = tuple(MaterialRecord(category, a.filename[:1000],
                                     (a.material.evidence if a.material else "表内识别出基本情况表")[:1000])
                      for a in group.members if (category := _category(a, copies)) in MATERIAL_KEYS)
    had_form_before = "basic_form" in state.materials_before
    present = [k for k in MATERIAL_KEYS if k in state.materials_elsewhere or any(m.category == k for m in materials)]
    missing = [k for k in MATERIAL_KEYS if k not in present]
    stamped = merge_stamped(state.stamped, had_form_before, seal_seen(copies), bool(copies))
    stamp = stamp_decision(settings.applications.require_stamped_form, "basic_form" in present, stamped)
    # a scan or photo of the form from which OCR read nothing: staff look at it, the sender is not asked again
    scan_unread = form is None and any(a.scanned for a in copies)
    field_problems = _form_problems(current, present, skip=set(reading.low), unreadable_to_staff=scan_unread)
    staff = [p for p in (stamp.staff_problem, reading.staff_problem()) if p]
    if scan_unread and not field_problems and not (current.platform_name or current.organization):
        staff.append(SCAN_UNREAD)
    members = list(group.members)
    staff += licence_problems(members, current.credit_code, current.organization)
    if group.shared:
        staff.append(f"同一封邮件含{group.several}个单位的基本情况表，附件“{'”“'.join(group.shared[:10])}”"
                     "无法按文件名或文件夹对应到具体单位，已同时计入各单位的申请，待工作人员核对 "
                     "/ materials not matched to one organisation: counted for each, staff to check")
    licence = licence_check(members, current.credit_code, current.organization) or state.licence_check
    recommender = recommended_by(state.sender_city, facts.from_addr, facts.from_name,
                                 f"{facts.subject}\n{facts.body}", current.email)
    recommended = state.recommended_by  # a recommender once seen stays, unless another one is seen now
    if recommender or not state.recommended_by:
        recommended = recommender[:2000] if recommender else None
    staff = list(dict.fromkeys(staff))
    held = bool(reading.low or stamp.staff_problem or SCAN_UNREAD in staff)
    complete = not missing and not field_problems and not stamp.missing_item and not held
    copy_to = copy_address(current.email, facts.from_addr, set(settings.our_addresses())) \
        if recommended and complete and not held else None
    if copy_to is not None and not state.sender_city:
        # only a registered address may make the bureau write to an address a form names; a stranger who
        # writes 推荐 may not: the receipt goes to the sender alone, and staff decide about the contact
        staff.append(f"推荐人 {facts.from_addr} 不是登记的地市邮箱，回执未抄送申报表所填联系邮箱 {copy_to}，"
                     "如需告知申报单位请工作人员处理 / receipt not copied to the form's contact address: "
                     "the recommender is not a registered address")
        copy_to = None
    completed_at, batch = None, None
    if complete:
        completed_at = state.completed_at or facts.received_at
        batch = settings.applications.batch_on(settings.schedule.calendar().local_date(completed_at))
    prefix = f"{current.platform_name or current.organization}：" if group.several else ""
    problems = [prefix + p for p in (*field_problems, *staff)]
    suffix = f":{group.index}" if group.index else ""
    notice, copy = None, None
    if not held:
        if complete:
            context = ApplicationReceiptContext(platform_name=current.platform_name,
                                                organization=current.organization, materials_received=present,
                                                received_at=facts.received_at)
            notice = Reply("receipt", context, f"receipt:{facts.sha256}{suffix}")
            if copy_to is not None:  # recommended by a registered address: a copy to the form's contact address
                copy = ReceiptCopy(copy_to, replace(context, salutation=None), f"receipt-copy:{facts.sha256}{suffix}")
        else:
            asked = items_to_ask(missing, settings.applications.require_stamped_form, stamped)
            notice = Reply("missing_items", MissingItemsContext(
                platform_name=current.platform_name, organization=current.organization, materials_missing=asked,
                materials_received=present, field_problems=field_problems, received_at=facts.received_at),
                f"missing_items:{facts.sha256}{suffix}")
    status = NEEDS_REVIEW if held or staff else PROCESSED
    return ApplicationDecision(
        application_id=state.id, key=key, values=values,
        credit_code_valid=credit_code_valid(form.credit_code) if form is not None else False,
        form_scanned=reading.scanned, ocr_fields=reading.fields,
        materials=materials, stamped=stamped, recommended_by=recommended, licence_check=licence,
        form_problems=tuple(field_problems), staff_problems=tuple(staff), complete=complete,
        completed_at=completed_at, batch=batch, notice=notice, copy=copy, problems=tuple(problems), status=status)


# ------------------------------------------------------------------------------ record


def record(session: Session, decision: ApplicationDecision, row: Message, headers, cfg, now: datetime) -> str:
    """Write one application's decision and queue its notices (the caller cleared the message's materials)."""
    if decision.application_id is None:
        application = Application(key=decision.key, from_addr=row.from_addr, first_received_at=row.received_at,
                                  updated_at=now)
        session.add(application)
        session.flush()
    else:
        application = session.get(Application, decision.application_id)
    if decision.values is not None:
        _apply_form(application, decision.values, decision.credit_code_valid, session)
        application.form_scanned = decision.form_scanned
        application.ocr_fields = dict(decision.ocr_fields)
        application.key = decision.key
    for m in decision.materials:
        session.add(ApplicationMaterial(application_id=application.id, message_pk=row.id, category=m.category,
                                        filename=m.filename, evidence=m.evidence))
    if not session.exec(select(ApplicationMessage).where(ApplicationMessage.application_id == application.id,
                                                         ApplicationMessage.message_pk == row.id)).first():
        session.add(ApplicationMessage(application_id=application.id, message_pk=row.id,
                                       received_at=row.received_at))
    application.stamped = decision.stamped
    application.licence_check = decision.licence_check
    application.recommended_by = decision.recommended_by
    application.form_problems = list(decision.form_problems)
    application.staff_problems = list(decision.staff_problems)
    application.complete = decision.complete
    application.completed_at, application.batch = decision.completed_at, decision.batch
    application.updated_at = now
    session.add(application)
    session.flush()
    if decision.notice is not None:
        sent = reply(session, cfg, about=row, headers=headers, kind=decision.notice.kind,
                     context=decision.notice.fresh_context(), dedupe_key=decision.notice.dedupe_key, now=now)
        if decision.copy is not None and sent.status != OUTBOX_SUPPRESSED:
            _receipt_copy(session, cfg, row, decision.copy, now)  # no copy of a receipt the loop rules held back
    return decision.status


def _receipt_copy(session: Session, cfg, row: Message, copy: ReceiptCopy, now: datetime) -> None:
    block = None
    if sent_recently_to(session, copy.to, now) >= cfg.max_per_sender_per_day:
        block = f"不自动发送：今日发往 {copy.to} 的通知已达上限"
    enqueue(session, cfg, kind="receipt", context=replace(copy.context), to=[copy.to], dedupe_key=copy.dedupe_key,
            now=now, about=row, references=list(row.references or []), block_reason=block)


def application_workflow(app, session: Session, row: Message, ctx) -> str:
    """Each organisation's basic form in the message becomes (or continues) its own application."""
    facts = facts_of(app, row, ctx)
    groups = application_groups(ctx.analyses)
    if len(groups) > MAX_ORGANISATIONS:
        ctx.problems.append(f"同一封邮件含{len(groups)}个单位的基本情况表，超过{MAX_ORGANISATIONS}个，未自动登记，"
                            f"待工作人员处理 / more than {MAX_ORGANISATIONS} organisations' forms in one mail: "
                            "nothing recorded, staff to handle")
        return NEEDS_REVIEW
    states = [read_state(session, row, facts, group) for group in groups]  # all read before anything is written
    session.exec(delete(ApplicationMaterial).where(ApplicationMaterial.message_pk == row.id))
    cfg, now = outbox_settings(app.settings), app.now()
    statuses = []
    for group, state in zip(groups, states, strict=True):
        decision = decide(facts, group, state, app.settings)
        ctx.problems.extend(decision.problems)
        statuses.append(record(session, decision, row, ctx.decoded.headers, cfg, now))
    for analysis in flatten(ctx.analyses):
        ctx.problems.extend(about_file(analysis.filename, p) for p in analysis.problems)
    return NEEDS_REVIEW if NEEDS_REVIEW in statuses else PROCESSED
