"""The application form (附件1 职业技能提升行动线上培训平台基本情况表): Document -> ApplicationData.

Labels are found wherever they are: value in the same cell (``联系人：张三``),
to the right, below, merged across cells, several pairs in one row, or in
the running text of a PDF. The project table is found by its header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .document import Document, Table
from .labels import (
    LabelHit,
    LabelIndex,
    LabelSpec,
    clean_value,
    first_values,
    grid_label_hits,
    label_key,
    row_is_blank,
    squash,
    text_label_hits,
)
from .validators import (
    credit_code_problem,
    email_valid,
    find_email,
    find_url,
    normalize_credit_code,
    normalize_email,
    normalize_phone,
    normalize_url,
    phone_problem,
    url_valid,
)
from .weekly import find_weekly_header

log = logging.getLogger(__name__)


@dataclass
class ProjectData:
    name: str
    occupation: str
    format: str
    hours: int | None
    assessment: str
    source: str
    fee: str
    raw_hours: str


@dataclass
class ApplicationData:
    platform_name: str = ""
    website: str = ""
    organization: str = ""
    credit_code: str = ""
    contact: str = ""
    contact_title: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    intro: str = ""
    projects: list[ProjectData] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class FieldProblem:
    field: str  # an ApplicationData field name or "projects"
    message: str  # Chinese, something the sender can act on


FIELD_NAMES: dict[str, str] = {
    "platform_name": "平台名称",
    "website": "平台网址",
    "organization": "机构名称",
    "credit_code": "统一社会信用代码",
    "contact": "联系人",
    "contact_title": "职务",
    "phone": "联系电话",
    "email": "电子邮箱",
    "address": "通讯地址",
    "intro": "平台简介",
}

# what a field OCR gave a confidence for is called on staff's screens (show, console)
_OCR_PROJECT_PARTS = {"name": "项目名称", "occupation": "专业（职业/工种/岗位）", "format": "培训形式",
                      "hours": "培训课时", "assessment": "评价形式", "source": "资源来源", "fee": "费用"}
_OCR_WEEKLY = {"city": "地市", "period_text": "填报周期", "filled_by": "填报人", "phone": "联系电话"}
_OCR_ROW_PARTS = {"enterprise": "企业名称", "headcount": "备案人数", "platform": "培训平台"}


def ocr_field_label(name: str, weekly: bool = False) -> str:
    """``projects[0].hours`` → 培训项目1·培训课时, ``rows[2].headcount`` → 第3行·备案人数; unknown names as they are."""
    import re

    m = re.fullmatch(r"(projects|rows)\[(\d+)\]\.(\w+)", name)
    if m:
        kind, index, part = m.group(1), int(m.group(2)) + 1, m.group(3)
        if kind == "projects":
            return f"培训项目{index}·{_OCR_PROJECT_PARTS.get(part, part)}"
        return f"第{index}行·{_OCR_ROW_PARTS.get(part, part)}"
    if weekly and name in _OCR_WEEKLY:
        return _OCR_WEEKLY[name]
    return FIELD_NAMES.get(name) or _OCR_WEEKLY.get(name, name)

_PROJECT_HEADER_WORDS = ("序号", "项目名称", "培训项目", "专业", "培训形式", "培训课时", "课时", "学时",
                         "评价形式", "考核方式", "资源来源", "费用", "收费标准")

_PERSON_GROUPS = ("法定代表人", "法人代表", "法定代表人（负责人）", "负责人", "主要负责人", "单位负责人",
                  "项目负责人", "技术负责人")

LABELS = LabelIndex(
    [
        LabelSpec("platform_name", ("平台名称", "培训平台名称", "线上培训平台名称", "平台全称", "线上平台名称")),
        LabelSpec("website", ("平台网址", "网址", "网站", "网站地址", "平台网站", "网站网址", "平台链接",
                              "平台地址", "域名", "网站域名", "URL", "平台URL", "访问地址")),
        LabelSpec("organization", ("注册登记机构", "注册登记单位", "机构名称", "运营机构", "运营机构名称", "单位名称", "运营单位", "运营单位名称",
                                   "企业名称", "运营主体", "申报单位", "申报机构", "机构全称", "平台运营机构",
                                   "主办单位", "运营企业", "运营机构全称")),
        LabelSpec("credit_code", ("统一社会信用代码", "信用代码", "社会信用代码", "机构统一社会信用代码",
                                  "组织机构代码", "统一信用代码")),
        LabelSpec("contact", ("联系人", "联系人姓名", "姓名", "项目联系人", "申报联系人")),
        LabelSpec("contact_title", ("职务", "职位", "联系人职务", "职务/职称")),
        LabelSpec("phone", ("联系电话", "电话", "手机", "手机号码", "手机号", "联系方式", "办公电话", "联系人电话")),
        LabelSpec("email", ("电子邮箱", "邮箱", "E-mail", "Email", "电子邮件", "邮件", "联系邮箱", "邮箱地址",
                            "电子信箱", "电子邮件地址", "邮件地址", "电子邮箱地址")),
        LabelSpec("address", ("通讯地址", "地址", "联系地址", "办公地址", "单位地址", "注册地址", "机构地址",
                              "通信地址", "通讯地址及邮编", "地址及邮编", "通讯地址及邮政编码")),
        LabelSpec("intro", ("平台简介", "简介", "平台介绍", "平台基本情况", "基本情况介绍", "机构简介",
                            "平台情况简介", "平台概况", "平台情况介绍"), multiline=True),
    ],
    stop_labels=(*_PERSON_GROUPS, "传真", "邮编", "邮政编码", "备注", "盖章", "单位盖章", "填表日期",
                 "申报日期", "填报日期", "成立时间", "成立日期", "注册资本", "注册资金", "员工人数", "从业人数",
                 "单位性质", "机构性质", "企业性质", "所在地区", "所属地区", "QQ", "微信", "开户行", "开户银行",
                 "账号", "平台类型", "上线时间", "注册用户数", "用户数", "课程数量", "课程数", "资源数量",
                 "服务对象", "合作机构", "经营范围", "签字", "签名", *_PROJECT_HEADER_WORDS),
)
# people other than the contact whose 姓名/电话/职务 sub-rows must not fill the contact fields
_PERSON_FIELDS = ("contact", "contact_title", "phone", "email")
_DISTINCT_KEYS = {"platform_name", "website", "organization", "credit_code"}
_TITLE_WORDS = ("线上培训平台基本情况表", "培训平台基本情况表", "平台基本情况表")


# --- project table --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProjectHeader:
    row: int
    columns: dict[str, int]


def _project_role(key: str) -> str | None:
    if not key:
        return None
    if key in ("序号", "序", "编号", "no", "no."):
        return "seq"
    if "评价" in key or "考核" in key or "鉴定" in key:
        return "assessment"
    if "课时" in key or "学时" in key or "时长" in key:
        return "hours"
    if "来源" in key:
        return "source"
    if "费用" in key or "收费" in key or "价格" in key:
        return "fee"
    if "项目名称" in key or key in ("培训项目", "项目", "课程名称", "培训课程", "课程", "培训项目(课程)名称"):
        return "name"
    if "形式" in key or "方式" in key:
        return "format"
    if any(w in key for w in ("专业", "职业", "工种", "岗位")):
        return "occupation"
    return None


def _name_priority(key: str) -> int:
    return 3 if "项目名称" in key else 2 if "名称" in key else 1


def _project_header_of_row(row: Sequence[str], index: int) -> _ProjectHeader | None:
    columns: dict[str, int] = {}
    for j, cell in enumerate(row):
        key = label_key(cell)
        role = _project_role(key)
        if role is None or cell in row[:j]:
            continue  # a merged header cell repeats: its first column counts
        if role not in columns or (role == "name" and _name_priority(key) > _name_priority(label_key(row[columns[role]]))):
            columns[role] = j
    if "name" in columns and len(set(columns) - {"name", "seq"}) >= 2:
        return _ProjectHeader(index, columns)
    return None


def _find_project_header(table: Table) -> _ProjectHeader | None:
    for i, row in enumerate(table.rows):
        header = _project_header_of_row(row, i)
        if header:
            return header
    return None


def parse_hours(raw: str) -> int | None:
    """``"48"``, ``"48.0"``, ``"48课时"``, ``"４８学时"``, ``"共48课时"`` -> 48; anything else None."""
    text = squash(raw).replace(",", "")
    m = re.match(r"^\D{0,3}?(\d+)(?:\.0+)?(?!\.?\d)", text)
    return int(m.group(1)) if m else None


def _cell(row: Sequence[str], col: int | None) -> str:
    if col is None or col >= len(row):
        return ""
    return clean_value(row[col])


def _project_rows(rows: Sequence[Sequence[str]], start: int, header: _ProjectHeader) -> tuple[list[ProjectData], bool]:
    """The projects from ``start`` on, and whether the table ended (a label or a note was reached)."""
    cols = header.columns
    projects: list[ProjectData] = []
    for row in rows[start:]:
        if row_is_blank(row):
            continue
        first = next((c for c in row if c and c.strip()), "")
        if LABELS.key_of_cell(first) not in (None, "") or re.match(r"^(备注|说明|注|填表说明)", squash(first)):
            return projects, True
        if _project_header_of_row(row, 0):
            continue  # the header repeated (a new page, a second header line)
        values = {role: _cell(row, col) for role, col in cols.items()}
        if not any(v for role, v in values.items() if role != "seq"):
            continue  # a numbered template line left empty
        raw_hours = values.get("hours", "")
        projects.append(ProjectData(
            name=values.get("name", ""),
            occupation=values.get("occupation", ""),
            format=values.get("format", ""),
            hours=parse_hours(raw_hours),
            assessment=values.get("assessment", ""),
            source=values.get("source", ""),
            fee=values.get("fee", ""),
            raw_hours=raw_hours,
        ))
    return projects, False


def _read_projects(doc: Document) -> tuple[list[ProjectData], bool]:
    """(projects, whether a project header was found anywhere)."""
    projects: list[ProjectData] = []
    found = False
    header: _ProjectHeader | None = None
    open_table = False
    for table in doc.tables:
        own = _find_project_header(table)
        if own is not None:
            found, header = True, own
            rows, ended = _project_rows(table.rows, own.row + 1, own)
            projects += rows
            open_table = not ended
        elif header is not None and open_table and _continues_projects(table, header):
            rows, ended = _project_rows(table.rows, 0, header)
            projects += rows
            open_table = not ended
        else:
            open_table = False
    return projects, found


def _continues_projects(table: Table, header: _ProjectHeader) -> bool:
    seq = header.columns.get("seq")
    for row in table.rows:
        if row_is_blank(row):
            continue
        return seq is not None and re.fullmatch(r"\d{1,3}", squash(_cell(row, seq))) is not None
    return False


# --- labels ---------------------------------------------------------------------------------


def _label_hits(doc: Document) -> list[LabelHit]:
    hits: list[LabelHit] = []
    for table in doc.tables:
        header = _find_project_header(table)
        rows = table.rows
        if header is not None:  # the project grid has no labels; keep its cells out of the search
            rows = rows[: header.row] + [r for r in rows[header.row + 1:] if _is_label_row(r)]
        hits += grid_label_hits(rows, LABELS, groups=_PERSON_GROUPS)
    hits += text_label_hits(doc.text, LABELS)
    return [h for h in hits if not (h.group and h.key in _PERSON_FIELDS)]


def _is_label_row(row: Sequence[str]) -> bool:
    return any(c and LABELS.key_of_cell(c) for c in row) or any(c and LABELS.inline_pairs(c) for c in row)


_EMAIL_IN_TEXT_RE = re.compile(r"[A-Za-z0-9._%+\-]+\s*[@＠]\s*[A-Za-z0-9\-]+(?:\s*[.．]\s*[A-Za-z0-9\-]+)+")
_CONTACT_WITH_TITLE_RE = re.compile(r"^([\u4e00-\u9fff·]{2,5})\s*[(（/、,，\s]\s*([^()（）]{2,12}?)[)）]?$")


def _repair(values: dict[str, str]) -> dict[str, str]:
    """Values written together under one label: ``联系电话/邮箱``, ``张三（总经理）``."""
    out = dict(values)
    phone = out.get("phone", "")
    m = _EMAIL_IN_TEXT_RE.search(phone)
    if m:
        out["phone"] = clean_value(phone[: m.start()] + " " + phone[m.end():]).strip(" /、,，;；")
        if not out.get("email"):
            out["email"] = m.group(0)
    if not out.get("contact_title"):
        m = _CONTACT_WITH_TITLE_RE.match(out.get("contact", ""))
        if m:
            out["contact"], out["contact_title"] = m.group(1), m.group(2)
            out.setdefault("contact_title", "")
    return out


# the notice's hint under 二、平台简介, left in place by most senders above or before their text
_INTRO_HINT_RE = re.compile(r"^\s*[(（]\s*(?:简要|请)[^()（）]{0,60}[)）]\s*")


def _without_hint(text: str) -> str:
    return _INTRO_HINT_RE.sub("", text).strip()


def _joined_intro(hits: list[LabelHit]) -> str:
    """简介 written over several rows beside a vertically merged label: every paragraph, once each."""
    paragraphs: list[str] = []
    for hit in hits:
        value = _without_hint(hit.value) if hit.key == "intro" else ""
        if value and hit.where != "text" and value not in paragraphs:
            paragraphs.append(value)
    return "\n".join(paragraphs)


def _field_value(key: str, value: str) -> str:
    if key == "credit_code":
        code = normalize_credit_code(value)
        return code if re.fullmatch(r"[0-9A-Z]{8,24}", code) else value
    if key == "phone":
        return normalize_phone(value)
    if key == "email":
        return normalize_email(value)
    if key == "website":
        return normalize_url(value)
    return value


def _looks_like_application(doc: Document, keys: set[str], has_projects: bool) -> bool:
    flat = squash(doc.text) + "".join(squash(c) for t in doc.tables for r in t.rows[:4] for c in r)
    titled = any(w in flat for w in _TITLE_WORDS)
    if titled or has_projects:
        return len(keys) >= 2
    # without the title or the project table, contact lines alone (联系人/电话/邮箱 under a
    # company profile) do not make a form: at least two of the platform's own fields must be there
    return len(keys & _DISTINCT_KEYS) >= 2 and len(keys) >= 4


def parse_application(doc: Document) -> ApplicationData | None:
    """The basic information form in ``doc``, or None when the document is not one."""
    if any(find_weekly_header(t) for t in doc.tables):
        return None  # the weekly form (企业名称/备案人数) is never an application
    hits = _label_hits(doc)
    values = _repair(first_values(hits))
    if values.get("intro"):
        values["intro"] = _joined_intro(hits) or _without_hint(values["intro"])
    projects, has_project_table = _read_projects(doc)
    if not _looks_like_application(doc, set(values), has_project_table):
        return None
    app = ApplicationData(**{key: _field_value(key, values.get(key, "")) for key in FIELD_NAMES})
    app.projects = projects
    if not has_project_table:
        app.problems.append("未找到培训项目表（需含“项目名称”“培训课时”等列）")
    missing = [FIELD_NAMES[k] for k in FIELD_NAMES if k not in values]
    if missing:
        app.problems.append(f"表中未找到以下栏目：{'、'.join(missing)}")
    log.debug("application: %d fields, %d projects", len(values), len(projects))
    return app


# --- validation -----------------------------------------------------------------------------


def _project_problems(projects: Sequence[ProjectData]) -> list[FieldProblem]:
    if not projects:
        return [FieldProblem("projects", "未填写培训项目，请在培训项目表中至少填写一个项目（含项目名称和培训课时）")]
    problems: list[FieldProblem] = []
    for n, project in enumerate(projects, start=1):
        which = f"第{n}个培训项目" + (f"“{project.name}”" if project.name else "")
        if not project.name:
            problems.append(FieldProblem("projects", f"{which}未填写“项目名称”，请补充"))
        if project.hours is None:
            if project.raw_hours:
                problems.append(FieldProblem(
                    "projects", f"{which}的“培训课时”“{project.raw_hours}”无法识别，请填写课时数（如48）"))
            else:
                problems.append(FieldProblem("projects", f"{which}未填写“培训课时”，请补充"))
    return problems


def validate_application(app: ApplicationData) -> list[FieldProblem]:
    """Everything the sender must correct, one FieldProblem per issue (empty when the form is complete)."""
    problems: list[FieldProblem] = []
    for key, name in FIELD_NAMES.items():
        value = getattr(app, key) or ""
        if not value.strip():
            problems.append(FieldProblem(key, f"“{name}”未填写，请补充"))
            continue
        if key == "credit_code":
            message = credit_code_problem(value)
            if message:
                problems.append(FieldProblem(key, message))
        elif key == "phone":
            message = phone_problem(value)
            if message:
                problems.append(FieldProblem(key, message))
        elif key == "email" and not (email_valid(value) or find_email(value)):
            problems.append(FieldProblem(key, f"电子邮箱“{value}”格式不正确，请填写如 name@example.com 的邮箱地址"))
        elif key == "website" and not (url_valid(value) or find_url(value)):
            problems.append(FieldProblem(
                key, f"平台网址“{value}”不是有效网址，请填写如 https://www.example.com 的网址"))
    problems += _project_problems(app.projects)
    return problems
