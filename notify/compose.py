"""Notices as e-mail: context dataclasses, template rendering and message building.

``render(kind, context)`` turns one context dataclass into (subject, text, html)
using the Jinja2 templates in ``notify/templates`` (autoescaped for HTML, never
for text, ``StrictUndefined`` so a missing value is an error, not a blank).
``compose(...)`` wraps that into a ready-to-send ``EmailMessage``:
multipart/alternative, UTF-8, RFC 2047 subject, our own Message-ID, threading
headers and the RFC 3834 ``Auto-Submitted`` marker.

No database, no network, no clock: the caller passes ``now``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import jinja2
from markupsafe import Markup

from notify.errors import InvalidAddressError, TemplateContextError, UnknownNoticeKindError
from zxjyck import labels
from zxjyck.calendar import DEFAULT_TIMEZONE, zone
from zxjyck.message_ids import message_id_of

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_BUREAU_NAME = "广东省职业训练局"
WEEKLY_FORM_NAME = "附件2 企业职工线上适岗技能提升培训备案情况统计表"

# Kinds whose notice answers a message from the recipient (RFC 3834 "auto-replied");
# the others are sent on our own initiative ("auto-generated").
REPLY_KINDS = frozenset({"receipt", "missing_items", "correction_request", "status_reply"})
AUTO_SUBMITTED_VALUES = frozenset({"auto-replied", "auto-generated", "auto-notified"})
MAX_REFERENCES = 20
MAX_SUBJECT_CHARS = 200


# ---------------------------------------------------------------- contexts


@dataclass(kw_only=True)
class NoticeContext:
    """What every notice has: the letterhead and the optional original message.

    ``bureau_name``, ``contact_line`` and ``timezone`` (``schedule.timezone``, the zone every
    date and time of the notice is written in) come from the configuration.
    ``letter_date`` is the 落款 date; ``compose`` fills it from ``now`` when None.
    ``salutation`` overrides the 称呼 the notice would choose by itself.
    ``original_subject``/``original_received_at`` describe the message answered, if any.
    """

    bureau_name: str = DEFAULT_BUREAU_NAME
    contact_line: str = ""
    timezone: str = DEFAULT_TIMEZONE
    letter_date: date | None = None
    salutation: str | None = None
    original_subject: str | None = None

    kind: ClassVar[str] = ""
    variant: ClassVar[str] = ""

    def subject(self) -> str:
        raise NotImplementedError

    def default_salutation(self) -> str:
        return "您好"

    def problems_with_context(self) -> list[str]:
        """Why this context cannot make a sensible notice (empty when it can)."""
        return []

    @property
    def greeting(self) -> str:
        return _one_line(self.salutation or self.default_salutation())


@dataclass(kw_only=True)
class WeeklyReceiptContext(NoticeContext):
    """A city's weekly report was accepted."""

    city: str
    week_start: date
    week_end: date
    enterprise_count: int
    total_headcount: int
    received_at: datetime
    late: bool = False
    deadline: datetime | None = None  # shown in the late note: "本次报送晚于截止时间（2月24日16:00）"
    zero: bool = False  # the city reported that it has nothing new this week (报零)

    kind: ClassVar[str] = "receipt"
    variant: ClassVar[str] = "weekly_report"

    def subject(self) -> str:
        return f"回执：{_short(self.city, 20)} {cn_week_range(self.week_start, self.week_end)} 周报已收到"

    def default_salutation(self) -> str:
        return city_bureau_salutation(self.city)


@dataclass(kw_only=True)
class ApplicationReceiptContext(NoticeContext):
    """A platform application arrived complete."""

    platform_name: str
    organization: str
    materials_received: list[str] = field(default_factory=lambda: [k for k in labels.MATERIAL if k != "stamped_form"])
    received_at: datetime | None = None

    kind: ClassVar[str] = "receipt"
    variant: ClassVar[str] = "application"

    def subject(self) -> str:
        return f"回执：“{_short(self.platform_name, 40)}”线上培训平台申报材料已收到"

    def default_salutation(self) -> str:
        return _one_line(self.organization) or "申报单位"


@dataclass(kw_only=True)
class MissingItemsContext(NoticeContext):
    """An application arrived but material is missing or the basic form has errors.

    ``materials_missing``/``materials_received`` hold material keys (see zxjyck.labels.MATERIAL);
    ``field_problems`` are whole sentences, e.g. "统一社会信用代码“…”校验位不正确".
    """

    platform_name: str = ""
    organization: str = ""
    materials_missing: list[str] = field(default_factory=list)
    materials_received: list[str] = field(default_factory=list)
    field_problems: list[str] = field(default_factory=list)
    received_at: datetime | None = None

    kind: ClassVar[str] = "missing_items"
    variant: ClassVar[str] = "application"

    def problems_with_context(self) -> list[str]:
        if not self.materials_missing and not self.field_problems:
            return ["missing_items needs materials_missing or field_problems"]
        return []

    def subject(self) -> str:
        name = _short(self.platform_name, 40) or _short(self.organization, 40)
        what = f"“{name}”线上培训平台" if name else "线上培训平台"
        return f"补充材料通知：{what}申报材料尚需补充"

    def default_salutation(self) -> str:
        return _one_line(self.organization) or "申报单位"


@dataclass(kw_only=True)
class FileProblem:
    """One reason a file (and optionally a row of it) cannot be used."""

    reason: str
    filename: str = ""
    row: int | None = None
    sheet: str = ""


@dataclass(kw_only=True)
class CorrectionRequestContext(NoticeContext):
    """A weekly report (or an attachment) is unusable and must be corrected and sent again."""

    problems: list[FileProblem]
    city: str | None = None
    week_start: date | None = None
    week_end: date | None = None
    received_at: datetime | None = None

    kind: ClassVar[str] = "correction_request"
    variant: ClassVar[str] = "weekly_report"

    def problems_with_context(self) -> list[str]:
        return [] if self.problems else ["correction_request needs at least one problem"]

    @property
    def week_known(self) -> bool:
        return self.week_start is not None and self.week_end is not None

    def subject(self) -> str:
        if self.city and self.week_start and self.week_end:
            return f"更正通知：{_short(self.city, 20)} {cn_week_range(self.week_start, self.week_end)} 周报需更正后重新报送"
        if self.city:
            return f"更正通知：{_short(self.city, 20)} 周报需更正后重新报送"
        return "更正通知：来件附件无法使用，请更正后重新发送"

    def default_salutation(self) -> str:
        return city_bureau_salutation(self.city) if self.city else "报送单位"


@dataclass(kw_only=True)
class LateReminderContext(NoticeContext):
    """A city has no accepted report for a week at the deadline."""

    city: str
    week_start: date
    week_end: date
    deadline: datetime
    submit_address: str
    as_of: datetime | None = None  # "截至…" moment; the deadline when None

    kind: ClassVar[str] = "late_reminder"
    variant: ClassVar[str] = "weekly_report"

    def subject(self) -> str:
        return (
            f"催报提醒：{_short(self.city, 20)} {cn_week_range(self.week_start, self.week_end)} 周报尚未收到"
        )

    def default_salutation(self) -> str:
        return city_bureau_salutation(self.city)


@dataclass(kw_only=True)
class DigestCityRow:
    """One city in the digest grid. ``status``: accepted | needs_correction | needs_review | missing."""

    city: str
    status: str
    received_at: datetime | None = None
    enterprise_count: int | None = None
    total_headcount: int | None = None
    late: bool = False
    to_check: bool = False  # 请核实: far above the city's own earlier weeks, not yet verified by staff

    @property
    def status_label(self) -> str:
        return labels.report_status(self.status, self.late)


@dataclass(kw_only=True)
class DigestApplicationRow:
    platform_name: str
    organization: str
    received_at: datetime | None = None
    complete: bool = False
    missing: list[str] = field(default_factory=list)  # material keys
    problem_count: int = 0  # form fields that failed validation
    batch: str | None = None  # the batch it fell in once complete ([applications] batches)
    recommended_by: str | None = None  # the city, authority or association that sent it
    staff_checks: list[str] = field(default_factory=list)  # for staff only: seal, licence, OCR values


@dataclass(kw_only=True)
class DigestReviewRow:
    """A stored message waiting for a human."""

    reason: str
    message_ref: str = ""  # what `zxjyck show` takes, e.g. the row id "42"
    sender: str = ""
    subject: str = ""
    received_at: datetime | None = None


@dataclass(kw_only=True)
class DigestOutboxRow:
    """A notice that failed or bounced. ``status``: failed | bounced | pending | suppressed."""

    to: list[str]
    subject: str
    status: str
    detail: str = ""
    attempts: int = 0

    @property
    def status_label(self) -> str:
        return labels.label(labels.DIGEST_STATUS, self.status)


@dataclass(kw_only=True)
class DigestHealth:
    last_poll: datetime | None = None
    backlog: int = 0
    failed_messages: int = 0
    outbox_pending: int = 0
    outbox_failed: int = 0
    note: str = ""


@dataclass(kw_only=True)
class DigestContext(NoticeContext):
    """The staff daily digest for ``day``; the grid covers the reporting week shown."""

    day: date
    week_start: date
    week_end: date
    cities: list[DigestCityRow] = field(default_factory=list)
    applications: list[DigestApplicationRow] = field(default_factory=list)
    review_items: list[DigestReviewRow] = field(default_factory=list)
    outbox_problems: list[DigestOutboxRow] = field(default_factory=list)
    health: DigestHealth = field(default_factory=DigestHealth)
    messages_received: int = 0
    # reports accepted as first sent before the deadline (ingest.outputs.rates), this week and the week before
    on_time_this_week: int | None = None
    on_time_last_week: int | None = None
    cities_expected: int = 21

    kind: ClassVar[str] = "digest"
    variant: ClassVar[str] = "staff"

    def subject(self) -> str:
        return f"每日汇总：{cn_date(self.day)} 线上培训报送情况"

    def default_salutation(self) -> str:
        return "各位同事"

    @property
    def cities_reported(self) -> int:
        return sum(1 for row in self.cities if row.status != "missing")

    @property
    def cities_accepted(self) -> int:
        return sum(1 for row in self.cities if row.status == "accepted")

    @property
    def total_enterprises(self) -> int:
        """Accepted reports only; held ones are in ``held_enterprises``."""
        return sum(row.enterprise_count or 0 for row in self.cities if row.status == "accepted")

    @property
    def total_headcount(self) -> int:
        """Accepted reports only; held ones are in ``held_headcount``."""
        return sum(row.total_headcount or 0 for row in self.cities if row.status == "accepted")

    @property
    def cities_held(self) -> int:
        return sum(1 for row in self.cities if row.status in ("needs_review", "needs_correction"))

    @property
    def held_enterprises(self) -> int:
        return sum(row.enterprise_count or 0 for row in self.cities if row.status in ("needs_review", "needs_correction"))

    @property
    def held_headcount(self) -> int:
        return sum(row.total_headcount or 0 for row in self.cities if row.status in ("needs_review", "needs_correction"))

    # How the grid is shown (the figures above are not touched): cities needing attention first
    # (to correct, held, late), then the ones received in order, then every 未报送 city in one line.

    @property
    def attention_cities(self) -> list[DigestCityRow]:
        return [row for row in self.cities if row.status != "missing" and (row.status != "accepted" or row.late)]

    @property
    def received_cities(self) -> list[DigestCityRow]:
        return [row for row in self.cities if row.status == "accepted" and not row.late]

    @property
    def missing_cities(self) -> list[DigestCityRow]:
        return [row for row in self.cities if row.status == "missing"]


@dataclass(kw_only=True)
class OutcomeContext(NoticeContext):
    """The panel's result for one application, told after the batch's list was published."""

    platform_name: str
    organization: str
    batch: str
    list_title: str  # 第一批职业技能提升行动线上培训平台名单
    verdict: str  # 入选 | 不入选 | 补充材料后再议
    published_on: date

    kind: ClassVar[str] = "outcome"
    variant: ClassVar[str] = "application"

    def subject(self) -> str:
        return f"评审结果通知：“{_short(self.platform_name or self.organization, 40)}”线上培训平台申报"

    def default_salutation(self) -> str:
        return _one_line(self.organization) or "申报单位"


@dataclass(kw_only=True)
class StatusLine:
    """One application as its sender may see it: no staff-only checks, no panel opinion."""

    platform_name: str
    organization: str
    first_received_at: datetime
    state: str  # 已收到，正在核对 | 尚需补充 | 材料齐全 …
    missing: list[str] = field(default_factory=list)  # material keys (and stamped_form)
    needs_correction: bool = False
    batch: str | None = None
    result: str | None = None  # the panel's verdict, only once the batch's list is published
    published_on: date | None = None


@dataclass(kw_only=True)
class StatusReplyContext(NoticeContext):
    """The answer to a sender asking where their applications stand (only those sent from their address)."""

    address: str
    applications: list[StatusLine] = field(default_factory=list)

    kind: ClassVar[str] = "status_reply"
    variant: ClassVar[str] = "application"

    def subject(self) -> str:
        return "申报进度查询答复"

    def default_salutation(self) -> str:
        return "您好"


@dataclass(kw_only=True)
class AlertContext(NoticeContext):
    """To the administrators ([alerts] to), never to a sender: a condition started (``cleared_at`` None) or
    cleared. ``condition`` is its label (zxjyck.labels.ALERT), ``host`` the machine that noticed it."""

    condition: str
    detail: str
    started_at: datetime
    cleared_at: datetime | None = None
    host: str = ""

    kind: ClassVar[str] = "alert"

    def subject(self) -> str:
        return f"【zxjyck {'恢复' if self.cleared_at else '告警'}】{_one_line(self.condition)}"

    def default_salutation(self) -> str:
        return "系统管理员"


CONTEXT_TYPES: dict[str, tuple[type[NoticeContext], ...]] = {
    "receipt": (WeeklyReceiptContext, ApplicationReceiptContext),
    "missing_items": (MissingItemsContext,),
    "correction_request": (CorrectionRequestContext,),
    "late_reminder": (LateReminderContext,),
    "digest": (DigestContext,),
    "outcome": (OutcomeContext,),
    "status_reply": (StatusReplyContext,),
    "alert": (AlertContext,),
}
NOTICE_KINDS = tuple(CONTEXT_TYPES)


# ---------------------------------------------------------------- formatting helpers (also template filters)


def city_bureau_salutation(city: str | None) -> str:
    """The 称呼 for a city: "广州市人力资源社会保障局"."""
    name = _one_line(city or "")
    return f"{name}人力资源社会保障局" if name else "报送单位"


def to_local(moment: datetime, tz: tzinfo | None) -> datetime:
    """Aware datetimes are shown in ``tz`` (the notice's zone); naive ones are taken as already local."""
    if moment.tzinfo is None:
        return moment
    if tz is None:
        raise ValueError("an aware time needs the zone to show it in")
    return moment.astimezone(tz)


def cn_date(day: date | datetime, tz: tzinfo | None = None) -> str:
    if isinstance(day, datetime):
        day = to_local(day, tz).date()
    return f"{day.year}年{day.month}月{day.day}日"


def cn_week_range(start: date, end: date) -> str:
    """2020年2月17日—2月23日; the year is repeated only when the week crosses it."""
    if start.year == end.year:
        return f"{cn_date(start)}—{end.month}月{end.day}日"
    return f"{cn_date(start)}—{cn_date(end)}"


def cn_datetime(moment: datetime, tz: tzinfo | None) -> str:
    local = to_local(moment, tz)
    return f"{cn_date(local.date())} {local:%H:%M}"


def cn_datetime_near(moment: datetime, day: date, tz: tzinfo | None) -> str:
    """"12月1日 09:02" when the moment is in the year of ``day`` (the digest's own date gives it),
    else with its year; short enough for a phone's column."""
    local = to_local(moment, tz)
    if local.year == day.year:
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return cn_datetime(local, tz)


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _is_english(text: str) -> bool:
    """Starts with a Latin letter and has more English words than Chinese characters."""
    return bool(re.match(r"[A-Za-z]", text)) and len(re.findall(r"[A-Za-z]+", text)) > len(_CJK.findall(text))


def staff_text(text: str) -> str:
    """A stored reason as staff read it: Chinese only.

    Reasons are kept bilingual for logs and the CLI ("发送失败 / delivery failed: 554 …"); the
    English half goes, but what it quotes after its colon (a server's answer) is kept:
    "发送失败：554 …". A reason with no Chinese at all is kept whole.
    """
    parts = (text or "").split(" / ")
    if len(parts) == 1 or not _CJK.search(parts[0]):
        return text
    kept = [parts[0]]
    for part in parts[1:]:
        if _is_english(part.split(": ", 1)[0]):
            if ": " in part:
                kept[-1] += "：" + part.split(": ", 1)[1]
            continue
        kept.append(part)
    return " / ".join(kept)


def cn_deadline(moment: datetime, tz: tzinfo | None) -> str:
    """The deadline with its year, "2020年2月24日16:00": a notice read weeks later, or beside a dated
    receipt in another year, must not leave the year to guess."""
    local = to_local(moment, tz)
    return f"{cn_date(local.date())}{local:%H:%M}"


def material_label(key: str) -> str:
    return labels.label(labels.MATERIAL, key)


def cn_number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def file_problem_text(problem: FileProblem) -> str:
    """附件“周报.xlsx”（工作表“Sheet1”）第5行：备案人数为空

    A reason that already names its file, row (the parsers write "第5行“备案人数”为空") or sheet
    keeps it, and the prefix leaves it out, so no one reads "第5行：第5行…" or the file name twice.
    """
    reason = problem.reason.strip()
    where = ""
    if problem.filename and f"附件“{_one_line(problem.filename)}”" not in reason:
        where = f"附件“{_one_line(problem.filename)}”"
        if problem.sheet and f"“{problem.sheet.strip()}”" not in reason:
            where += f"（工作表“{_one_line(problem.sheet)}”）"
    if problem.row is not None and f"第{problem.row}行" not in reason:
        where += f"第{problem.row}行"
    return f"{where}：{reason}" if where else reason


def reason_without_row(problem: FileProblem) -> str:
    """The reason for a table that shows the row in its own column: "第5行“备案人数”为空" -> "“备案人数”为空"."""
    reason = problem.reason.strip()
    if problem.row is not None:
        reason = re.sub(rf"^(.*?)第{problem.row}行[：:，,\s]*", r"\1", reason, count=1)
    return reason or problem.reason.strip()


def _one_line(text: str) -> str:
    """Collapse every run of whitespace and control characters to one space."""
    return re.sub(r"[\s\x00-\x1f\x7f]+", " ", text or "").strip()


def _short(text: str, limit: int) -> str:
    line = _one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---------------------------------------------------------------- rendering

_CELL = "border:1px solid #cccccc;padding:6px 8px;text-align:left;vertical-align:top;"
_GRID = "border-bottom:1px solid #dddddd;padding:6px 4px;text-align:left;vertical-align:top;"
HTML_STYLES = {
    "page": Markup('style="margin:0;padding:0;background:#f2f2f2;"'),
    "sheet": Markup(
        'style="max-width:680px;margin:0 auto;padding:16px 18px;background:#ffffff;color:#222222;'
        "font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',SimSun,sans-serif;"
        'font-size:16px;line-height:1.7;"'
    ),
    "title": Markup('style="font-size:19px;font-weight:bold;margin:4px 0 16px 0;text-align:center;"'),
    "p": Markup('style="margin:0 0 12px 0;text-indent:2em;"'),
    "p_plain": Markup('style="margin:0 0 12px 0;"'),
    "table": Markup('style="border-collapse:collapse;width:100%;font-size:14px;margin:0 0 14px 0;"'),
    "th": Markup(f'style="{_CELL}background:#eef2f7;font-weight:bold;"'),
    "td": Markup(f'style="{_CELL}"'),
    "td_num": Markup(f'style="{_CELL}text-align:right;white-space:nowrap;"'),
    "warn": Markup('style="color:#b00020;font-weight:bold;"'),
    # The digest, made for a phone first: a 4-column grid that never needs 390 px, one-column cards
    # for everything with free text, long addresses allowed to break anywhere.
    "grid": Markup('style="border-collapse:collapse;width:100%;font-size:15px;margin:0 0 10px 0;"'),
    "g_th": Markup(f'style="{_GRID}background:#eef2f7;font-weight:bold;white-space:nowrap;"'),
    "g_th_num": Markup(f'style="{_GRID}background:#eef2f7;font-weight:bold;white-space:nowrap;text-align:right;width:3em;"'),
    "g_group": Markup(f'style="{_GRID}background:#f7f7f7;font-size:13px;font-weight:bold;color:#555555;"'),
    "g_city": Markup(f'style="{_GRID}white-space:nowrap;"'),
    "g_td": Markup(f'style="{_GRID}"'),
    "g_num": Markup(f'style="{_GRID}text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;width:3em;"'),
    "small": Markup('style="font-size:13px;color:#666666;line-height:1.5;"'),
    "nowrap": Markup('style="white-space:nowrap;"'),
    "card": Markup(f'style="{_GRID}padding:8px 10px;overflow-wrap:anywhere;word-break:break-word;"'),
    "card_title": Markup('style="font-weight:bold;"'),
    "missing_line": Markup('style="margin:0 0 12px 0;font-size:15px;"'),
    "h2": Markup('style="font-size:16px;font-weight:bold;margin:18px 0 8px 0;"'),
    "sign": Markup('style="margin:24px 0 12px 0;text-align:right;"'),
    "footer": Markup(
        'style="margin:18px 0 0 0;padding-top:8px;border-top:1px solid #dddddd;font-size:13px;color:#666666;"'
    ),
}


def _notice_zone(template: jinja2.runtime.Context) -> tzinfo:
    """The zone of the notice being rendered (its context's ``timezone``)."""
    return zone(template["ctx"].timezone)


@jinja2.pass_context
def _cn_date_filter(template: jinja2.runtime.Context, day: date | datetime) -> str:
    return cn_date(day, _notice_zone(template))


@jinja2.pass_context
def _cn_datetime_filter(template: jinja2.runtime.Context, moment: datetime) -> str:
    return cn_datetime(moment, _notice_zone(template))


@jinja2.pass_context
def _cn_datetime_near_filter(template: jinja2.runtime.Context, moment: datetime, day: date) -> str:
    return cn_datetime_near(moment, day, _notice_zone(template))


@jinja2.pass_context
def _cn_deadline_filter(template: jinja2.runtime.Context, moment: datetime) -> str:
    return cn_deadline(moment, _notice_zone(template))


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        cn_date=_cn_date_filter,
        cn_week_range=cn_week_range,
        cn_datetime=_cn_datetime_filter,
        cn_deadline=_cn_deadline_filter,
        material_label=material_label,
        cn_number=cn_number,
        file_problem=file_problem_text,
        reason_without_row=reason_without_row,
        cn_datetime_near=_cn_datetime_near_filter,
        staff_text=staff_text,
        one_line=_one_line,
    )
    env.globals.update(S=HTML_STYLES, WEEKLY_FORM_NAME=WEEKLY_FORM_NAME)
    return env


def render(kind: str, context: NoticeContext, *, today: date | None = None) -> tuple[str, str, str]:
    """Render one notice: (subject, plain text, HTML).

    ``today`` is the 落款 date when the context has no ``letter_date``
    (``compose`` passes the date of its ``now``).
    """
    expected = CONTEXT_TYPES.get(kind)
    if expected is None:
        raise UnknownNoticeKindError(f"unknown notice kind {kind!r}; known: {', '.join(NOTICE_KINDS)}")
    if not isinstance(context, expected):
        names = " or ".join(t.__name__ for t in expected)
        raise TemplateContextError(f"notice {kind!r} needs a {names}, got {type(context).__name__}")
    reasons = context.problems_with_context()
    if reasons:
        raise TemplateContextError(f"notice {kind!r}: {'; '.join(reasons)}")
    try:
        tz = zone(context.timezone)
    except ValueError as exc:
        raise TemplateContextError(f"notice {kind!r}: {exc}") from exc
    if context.letter_date is None:
        context = replace(context, letter_date=today or datetime.now(tz).date())
    subject = _short(context.subject(), MAX_SUBJECT_CHARS)
    values = {"ctx": context, "subject": subject}
    env = template_environment()
    try:
        text = env.get_template(f"{kind}.txt.j2").render(values)
        html = env.get_template(f"{kind}.html.j2").render(values)
    except jinja2.TemplateNotFound as exc:
        raise UnknownNoticeKindError(
            f"notice {kind!r}: template {exc.name} missing in {TEMPLATE_DIR}"
        ) from exc
    except (jinja2.UndefinedError, AttributeError, TypeError) as exc:
        raise TemplateContextError(f"notice {kind!r}: the context cannot fill the template: {exc}") from exc
    return subject, text, html


# ---------------------------------------------------------------- composing


def new_message_id(domain: str) -> str:
    """A fresh "<...@domain>" Message-ID, e.g. to store in the outbox row before the first attempt."""
    return make_msgid(domain=domain)


def normalise_message_id(value: str | None) -> str | None:
    """ "<a@b>" from "a@b", " <a@b> " or "<a@b> (comment)"; None when it does not look like a Message-ID."""
    return message_id_of(value, strict=True)


def build_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """The parent's References plus its Message-ID, normalised, without repeats, at most MAX_REFERENCES."""
    ids: list[str] = []
    for raw in [*references, in_reply_to] if in_reply_to else list(references):
        for piece in re.findall(r"<[^<>]*>", raw or "") or [raw]:
            mid = normalise_message_id(piece)
            if mid and mid not in ids:
                ids.append(mid)
    if len(ids) > MAX_REFERENCES:  # keep the thread root and the most recent ones
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def reply_subject(original: str) -> str:
    """ "Re: <original>" after removing stacked Re:/AW:/回复:/答复: prefixes (Fwd: is kept)."""
    text = _one_line(original)
    while True:
        stripped = re.sub(r"^(?:re|aw|回复|答复)\s*(?:\[\d+\])?\s*[:：]\s*", "", text, flags=re.IGNORECASE)
        if stripped == text:
            break
        text = stripped
    return _short(f"Re: {text}", MAX_SUBJECT_CHARS)


def make_address(addr: str, display_name: str = "") -> Address:
    """An ``Address`` for a header; raises InvalidAddressError for anything that is not one plain address."""
    spec = _one_line(addr)
    if spec.count("@") != 1 or spec.startswith("@") or spec.endswith("@") or " " in spec:
        raise InvalidAddressError(f"not a usable e-mail address: {addr!r}")
    try:
        return Address(display_name=_one_line(display_name), addr_spec=spec)
    except (ValueError, IndexError) as exc:  # email.errors header defects are ValueErrors
        raise InvalidAddressError(f"not a usable e-mail address: {addr!r}: {exc}") from exc


def _unique_addresses(addresses: list[Address]) -> list[Address]:
    seen: dict[str, Address] = {}
    for address in addresses:
        seen.setdefault(address.addr_spec.lower(), address)
    return list(seen.values())


def _own_message_id(message_id: str | None, domain: str) -> str:
    if not message_id:
        return new_message_id(domain)
    mid = normalise_message_id(message_id)
    if mid is None:
        raise ValueError(f"compose: message_id {message_id!r} is not a Message-ID")
    return mid


def compose(
    kind: str,
    context: NoticeContext,
    *,
    to: list[str],
    sender: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str | None = None,
    msgid_domain: str,
    now: datetime,
    message_id: str | None = None,
    subject_style: str = "own",
    sender_name: str | None = None,
) -> EmailMessage:
    """Build the notice as a multipart/alternative message ready for a transport.

    - ``auto_submitted``: None chooses by kind (RFC 3834): "auto-replied" for receipt,
      missing_items and correction_request, "auto-generated" for late_reminder and digest.
    - ``message_id``: reuse a Message-ID assigned earlier (an outbox row being retried);
      a new one of ``msgid_domain`` otherwise.
    - ``subject_style``: "own" (the notice's subject, e.g. "回执：广州市 … 周报已收到") or
      "reply" ("Re: <context.original_subject>", falling back to "own" without one).
    - ``now`` must be timezone-aware; it gives Date and the 落款 date.
    No Precedence header is set (RFC 3834 section 3.1.8: not on responses).
    """
    if now.tzinfo is None:
        raise ValueError("compose: now must be timezone-aware")
    if not to:
        raise InvalidAddressError(f"notice {kind!r} has no recipient")
    submitted = auto_submitted or ("auto-replied" if kind in REPLY_KINDS else "auto-generated")
    if submitted not in AUTO_SUBMITTED_VALUES:
        raise ValueError(
            f"compose: Auto-Submitted must be one of {sorted(AUTO_SUBMITTED_VALUES)}, not {submitted!r}"
        )
    try:
        today = now.astimezone(zone(context.timezone)).date()
    except ValueError as exc:
        raise TemplateContextError(f"notice {kind!r}: {exc}") from exc
    subject, text, html = render(kind, context, today=today)
    if subject_style == "reply" and context.original_subject and _one_line(context.original_subject):
        subject = reply_subject(context.original_subject)
    elif subject_style not in ("own", "reply"):
        raise ValueError(f"compose: subject_style must be 'own' or 'reply', not {subject_style!r}")

    msg = EmailMessage()
    msg["From"] = make_address(sender, sender_name if sender_name is not None else context.bureau_name)
    msg["To"] = _unique_addresses([make_address(addr) for addr in to])
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _own_message_id(message_id, msgid_domain)
    parent = normalise_message_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = parent
    thread = build_references(references, parent)
    if thread:
        msg["References"] = " ".join(thread)
    msg["Auto-Submitted"] = submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    msg["Content-Language"] = "zh-CN"  # after set_content, which clears every Content-* header
    log.debug("composed %s notice %s to %d recipient(s)", kind, msg["Message-ID"], len(to))
    return msg
