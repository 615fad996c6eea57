"""The weekly form (附件2 企业职工线上适岗技能提升培训备案情况统计表): Document -> WeeklyReportData.

Cities fill the template every way a spreadsheet allows: blank lead rows,
merged titles, spaced labels, renamed or reordered columns, a 合计 row, notes
below, blank rows between data. The header row is found by what its cells
mean, anywhere in any table; everything else is read relative to it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import zip_longest

from .cities import normalize_city
from .dates import find_date_range, parse_date_range, week_problems
from .document import Document, Table
from .labels import (
    LabelHit,
    LabelIndex,
    LabelSpec,
    clean_value,
    grid_label_hits,
    label_key,
    label_pattern,
    nfkc,
    row_is_blank,
    squash,
    text_label_hits,
)
from .validators import normalize_phone

log = logging.getLogger(__name__)

ENTERPRISE = "企业名称"
HEADCOUNT = "备案人数"
PLATFORM = "培训平台名称"
# the notice (粤人社办〔2020〕2号) names the one weekly form three ways: its own title, 五、2, the attachment list
WEEKLY_FORM_NAMES = (
    "企业职工线上适岗技能提升培训备案情况统计表",
    "企业职工线上适岗职业技能提升培训备案情况统计表",
    "企业职工线上适岗职业技能培训备案情况统计表",
)
_TITLE_WORDS = (*WEEKLY_FORM_NAMES, "备案情况统计表", "适岗技能提升培训备案", "线上适岗技能", "线上适岗职业技能")


@dataclass
class WeeklyRowData:
    row_number: int  # 1-based row index within its table (the spreadsheet row when the sheet starts at A1)
    enterprise: str
    headcount: int | None
    platform: str
    raw_headcount: str
    problems: list[str] = field(default_factory=list)


@dataclass
class WeeklyReportData:
    city: str | None
    week_start: dt.date | None
    week_end: dt.date | None
    period_text: str
    filled_by: str
    phone: str
    rows: list[WeeklyRowData] = field(default_factory=list)
    declared_total: int | None = None
    problems: list[str] = field(default_factory=list)
    source: str = ""
    zero_statement: str = ""  # the words by which the form says the city has nothing to report this week


# --- a statement of zero ------------------------------------------------------------------------

# how cities say "nothing new this week": in a merged row, a note, the title, the mail's subject or body
ZERO_PHRASES = ("本周无新增", "本周无新", "无新增", "报零", "零报告", "零报送", "零申报", "无备案企业", "无新备案",
                "暂无备案", "暂无新增", "本周无企业备案", "本周无备案")
_ZERO_RE = re.compile("|".join(re.escape(w) for w in ZERO_PHRASES))
ZERO_HINT = ("如本周无新增备案企业，请在表中写明“本周无新增备案企业”并将合计填为0，或在邮件主题注明“报零”，"
             "即按0家、0人登记")
_NONE_CELLS = ("无", "暂无", "没有", "0", "零")


def zero_statement_in(text: str) -> str:
    """The phrase of ``text`` that states zero (``本周无新增备案企业``, ``报零``...), or ""."""
    m = _ZERO_RE.search(squash(nfkc(text or "")))
    return m.group(0) if m else ""


# --- header -------------------------------------------------------------------------------------

_HEADCOUNT_WORDS = ("人数", "人次", "职工数", "员工数", "人员数", "学员数", "参训数", "备案数")
_SEQ_KEYS = {"序号", "序", "编号", "no", "no.", "#", "序列"}


@dataclass(frozen=True)
class WeeklyHeader:
    row: int  # index of the header row in the table
    seq: int | None
    enterprise: int
    headcount: int
    platform: int | None


def _role(key: str) -> tuple[str, int] | None:
    """(role, priority) of a header cell; a higher priority wins when two columns claim a role."""
    if not key:
        return None
    if key in _SEQ_KEYS:
        return "seq", 1
    if any(w in key for w in _HEADCOUNT_WORDS) or "(人" in key:
        if "备案" in key:
            return "headcount", 3
        return "headcount", 2 if any(w in key for w in ("培训", "参训", "学员", "线上")) else 1
    if "平台" in key:
        return "platform", 3 if "平台名称" in key else 2
    if "培训机构" in key:
        return "platform", 1
    if "企业" in key or "单位" in key:
        return "enterprise", 3 if ("企业名称" in key or "单位名称" in key) else 2 if "名称" in key else 1
    return None


def header_of_row(row: Sequence[str], index: int) -> WeeklyHeader | None:
    """The column layout when this row is the weekly header (企业名称 and 备案人数 at least)."""
    best: dict[str, tuple[int, int]] = {}
    for j, cell in enumerate(row):
        found = _role(squash(cell).lower().strip(":：*"))
        if found is None:
            continue
        role, priority = found
        if role not in best or priority > best[role][0]:
            best[role] = (priority, j)
    columns = {role: j for role, (_p, j) in best.items()}
    if "enterprise" not in columns or "headcount" not in columns:
        return None
    return WeeklyHeader(index, columns.get("seq"), columns["enterprise"], columns["headcount"],
                        columns.get("platform"))


def find_weekly_header(table: Table) -> WeeklyHeader | None:
    """The first row of the table that reads as the weekly header, or None.

    A header written over two lines without merged cells (``备案情况`` above
    ``备案人数``) is read by joining each column's two cells.
    """
    for i, row in enumerate(table.rows):
        header = header_of_row(row, i)
        if header:
            return header
    for i in range(len(table.rows) - 1):
        upper, lower = table.rows[i], table.rows[i + 1]
        joined = [a if a == b else a + b for a, b in zip_longest(upper, lower, fillvalue="")]
        header = header_of_row(joined, i + 1)
        if header:
            return header
    return None


# --- cells ----------------------------------------------------------------------------------

_COUNT_SUFFIX_RE = re.compile(r"\(?(?:人次|人|名|位|个)\)?$")


def parse_headcount(raw: str) -> tuple[int | None, str | None]:
    """(value, None) or (None, reason): ``"120"``, ``"120.0"``, ``"１２０"``, ``"120人"``, ``"1,200"``."""
    text = squash(raw)
    if not text:
        return None, "empty"
    text = _COUNT_SUFFIX_RE.sub("", text).replace(",", "").replace("，", "")
    if re.fullmatch(r"\d+", text):
        return int(text), None
    if re.fullmatch(r"\d+\.0*", text):
        return int(text.split(".")[0]), None
    return None, "unreadable"


def _cell(row: Sequence[str], col: int | None) -> str:
    if col is None or col >= len(row):
        return ""
    return row[col] or ""


_TOTAL_RE = re.compile(r"^(?:合计|总计|小计|共计|总数|累计|汇总|合计数)")
_NOTE_WORDS = ("填报人", "填表人", "填报单位", "制表人", "制表", "经办人", "统计人", "审核人", "审核", "负责人",
               "单位负责人", "联系人", "联系电话", "电话", "备注", "说明", "注释", "注", "填报说明", "填表说明",
               "填报日期", "填报时间", "报送日期", "日期", "盖章", "单位盖章", "签字", "签名")
_NOTE_RE = re.compile(
    r"^\s*(?:" + "|".join(label_pattern(w) for w in sorted(_NOTE_WORDS, key=len, reverse=True)) + r")"
    r"(?:[:：\d一二三四五、.(（\s]|$)"
)

def _total_kind(row: Sequence[str], header: WeeklyHeader) -> str | None:
    """'total' (合计/总计), 'subtotal' (小计) or None."""
    first = next((c for c in row if c and c.strip()), "")
    for cell in (_cell(row, header.seq), _cell(row, header.enterprise), first):
        key = label_key(cell)
        m = _TOTAL_RE.match(key)
        if m and len(key) <= 14 and not key.endswith(("公司", "中心", "学校", "医院")):
            return "subtotal" if m.group(0) == "小计" else "total"
        if len(key) <= 12 and re.search(r"(?:合计|小计|总计|共计)$", key):
            return "subtotal"  # 天河区小计 / 天河区合计: a part, the report goes on
    return None


def _is_note_row(row: Sequence[str]) -> bool:
    first = next((c for c in row if c and c.strip()), "")
    return bool(_NOTE_RE.match(nfkc(first)))


def _is_header_repeat(row: Sequence[str], header_row: Sequence[str], header: WeeklyHeader) -> bool:
    """A second header line (vertical merges, a unit line such as ``（人）``) rather than data."""
    ent, cnt = _cell(row, header.enterprise), _cell(row, header.headcount)
    if ent and ent == _cell(header_row, header.enterprise):
        return True
    if header_of_row(row, 0):
        return True
    unitish = all(re.fullmatch(r"[(（]?(人|个|家|名|人次)?[)）]?", squash(c)) for c in row if c and c.strip())
    return unitish and not squash(ent) and not re.search(r"\d", squash(cnt))


def _total_figure(row: Sequence[str], header: WeeklyHeader) -> int | None:
    value, _ = parse_headcount(_cell(row, header.headcount))
    if value is not None:
        return value
    for j, cell in enumerate(row):
        if j in (header.seq, header.enterprise):
            continue
        value, _ = parse_headcount(cell)
        if value is not None:
            return value
    for cell in row:  # "合计：1,200人" written in one merged cell
        m = re.search(r"(?:合计|总计|共计|总数)\D{0,6}?(\d[\d,]*)\s*(?:人|名)", nfkc(cell))
        if m:
            return int(m.group(1).replace(",", ""))
    return None


# --- rows -----------------------------------------------------------------------------------


@dataclass
class _Block:
    """Rows read from one run of tables that belong together."""

    tables: list[Table]
    header_row_text: list[str]
    title_rows: list[list[str]]
    rows: list[WeeklyRowData] = field(default_factory=list)
    note_rows: list[list[str]] = field(default_factory=list)
    declared_total: int | None = None
    ended: bool = False  # a 合计 row or the notes were reached
    wrapped_lines: bool = False  # PDF text: a long name may run onto a line of its own
    subtotals: int = 0
    trailing_subtotal: int | None = None  # the figure of a 小计 row with no data after it
    zero_text: str = ""  # a row saying there is nothing to report (本周无新增备案企业, 无)

    def total(self) -> int | None:
        """The 合计/总计 figure; a single 小计 closing the table stands for it."""
        if self.declared_total is not None:
            return self.declared_total
        return self.trailing_subtotal if self.subtotals == 1 else None


def _read_rows(table: Table, start: int, header: WeeklyHeader, block: _Block, prefix: str) -> None:
    for i in range(start, len(table.rows)):
        row = table.rows[i]
        if block.ended:
            block.note_rows.append(row)
            continue
        if row_is_blank(row):
            continue
        kind = _total_kind(row, header)
        if kind == "total":
            block.declared_total = _total_figure(row, header)
            block.ended = True
            continue
        if kind == "subtotal":
            block.subtotals += 1
            block.trailing_subtotal = _total_figure(row, header)
            continue
        if _is_note_row(row) or _is_end_marker(row) or _is_merged_remark(row, header):
            block.zero_text = block.zero_text or zero_statement_in(" ".join(dict.fromkeys(row)))
            block.ended = True
            block.note_rows.append(row)
            continue
        if _is_header_repeat(row, block.header_row_text, header):
            continue
        if not block.rows and _is_none_row(row, header):
            block.zero_text = block.zero_text or zero_statement_in(" ".join(dict.fromkeys(row))) or "无"
            continue
        if block.wrapped_lines and block.rows and _is_wrapped_line(row, header):
            _join_wrapped_line(block.rows[-1], row, header)
            continue
        data = _row_data(row, i + 1, header, prefix)
        if data:
            block.rows.append(data)
            block.trailing_subtotal = None


def _is_wrapped_line(row: Sequence[str], header: WeeklyHeader) -> bool:
    """A PDF line holding only the rest of the name above it: no number, no headcount."""
    if squash(_cell(row, header.seq)) or squash(_cell(row, header.headcount)):
        return False
    return bool(squash(_cell(row, header.enterprise)) or squash(_cell(row, header.platform)))


def _join_wrapped_line(previous: WeeklyRowData, row: Sequence[str], header: WeeklyHeader) -> None:
    previous.enterprise += clean_value(_cell(row, header.enterprise))
    previous.platform += clean_value(_cell(row, header.platform))


def _row_data(row: Sequence[str], number: int, header: WeeklyHeader, prefix: str) -> WeeklyRowData | None:
    enterprise = clean_value(_cell(row, header.enterprise))
    raw = clean_value(_cell(row, header.headcount))
    platform = clean_value(_cell(row, header.platform))
    if all(_blankish(v) for v in (enterprise, raw, platform)):
        return None  # a numbered template line left empty, or struck out with "/"
    problems: list[str] = []
    where = f"{prefix}第{number}行"
    headcount, reason = parse_headcount(raw)
    if reason == "empty":
        problems.append(f"{where}“{HEADCOUNT}”为空")
    elif reason:
        problems.append(f"{where}“{HEADCOUNT}”无法识别：“{raw}”")
    if not enterprise:
        problems.append(f"{where}“{ENTERPRISE}”为空")
    if header.platform is not None and not platform:
        problems.append(f"{where}“{PLATFORM}”为空")
    return WeeklyRowData(number, enterprise, headcount, platform, raw, problems)


def _blankish(value: str) -> bool:
    return squash(value) in ("", "/", "\\", "-", "--", "—", "——", "无", "空", "略")


def _is_none_row(row: Sequence[str], header: WeeklyHeader) -> bool:
    """A first data line saying there is nothing: 企业名称 ``无`` (or ``本周无新增``), 备案人数 empty, ``0`` or ``无``."""
    name = squash(_cell(row, header.enterprise))
    count = squash(_cell(row, header.headcount))
    platform = squash(_cell(row, header.platform))
    says_none = name in _NONE_CELLS[:3] or bool(zero_statement_in(name))
    return says_none and count in ("", *_NONE_CELLS, "/", "-") and platform in ("", *_NONE_CELLS, "/", "-")


def _is_end_marker(row: Sequence[str]) -> bool:
    """``以下空白`` and friends: the filler people write under the last line of data."""
    first = next((c for c in row if c and c.strip()), "")
    return squash(first).strip("()（）。.") in ("以下空白", "以下无内容", "以下为空", "以下无", "此页无正文", "空白")


def _is_merged_remark(row: Sequence[str], header: WeeklyHeader) -> bool:
    """One text merged across the name and headcount columns (``本周无新增备案企业``): a remark, not data."""
    name, count = _cell(row, header.enterprise), _cell(row, header.headcount)
    return bool(name.strip()) and name == count


def _continues(table: Table, header: WeeklyHeader) -> bool:
    """Whether a table without a header carries on the rows of the previous one (a page break)."""
    for row in table.rows:
        if row_is_blank(row):
            continue
        if len(row) <= max(header.enterprise, header.headcount):
            return False
        if _total_kind(row, header) or _is_note_row(row):
            return True
        value, _ = parse_headcount(_cell(row, header.headcount))
        numbered = re.fullmatch(r"\d{1,4}", squash(_cell(row, header.seq))) is not None
        return value is not None or numbered
    return False


def _blocks(doc: Document) -> list[tuple[_Block, WeeklyHeader]]:
    blocks: list[tuple[_Block, WeeklyHeader]] = []
    current: tuple[_Block, WeeklyHeader] | None = None
    for table in doc.tables:
        header = find_weekly_header(table)
        if current is not None and not current[0].ended:
            block, first_header = current
            # a PDF repeats the header on every page, and its columns may shift between pages
            page_with_header = header is not None and doc.format == "pdf"
            if page_with_header or (header is None and _continues(table, first_header)):
                block.tables.append(table)
                use = header or first_header
                start = header.row + 1 if header else 0
                _read_rows(table, start, use, block, f"（{table.source}）" if table.source else "")
                continue
        if header is None:
            continue
        block = _Block([table], list(table.rows[header.row]), [list(r) for r in table.rows[: header.row]])
        block.wrapped_lines = doc.format == "pdf"
        _read_rows(table, header.row + 1, header, block, "")
        current = (block, header)
        blocks.append((block, header))
    return blocks


# --- metadata -------------------------------------------------------------------------------

_META = LabelIndex(
    [
        LabelSpec("city", ("地市名称", "地市", "城市", "市别", "所属地市", "填报单位", "报送单位", "地区")),
        LabelSpec("period", ("统计时间", "统计周期", "统计时段", "统计时间段", "统计期间", "时间范围", "填报周期",
                             "报送周期", "备案时间", "时间段", "时间", "周期",
                             "填报时间", "报送时间", "日期", "填报日期")),
        LabelSpec("filled_by", ("填报人", "填表人", "经办人", "制表人", "统计人", "联系人")),
        LabelSpec("phone", ("联系电话", "电话", "手机", "手机号码", "联系方式", "办公电话")),
    ],
    stop_labels=("审核人", "负责人", "单位负责人", "备注", "说明", "盖章", "单位盖章", "审核"),
)
_PHONE_IN_TEXT_RE = re.compile(r"[(（]?(?:\+?86)?[\d\-—－ ()（）转]{7,}\d[)）]?")


@dataclass
class _Meta:
    city: str | None = None
    period: tuple[dt.date, dt.date] | None = None
    period_text: str = ""
    filled_by: str = ""
    phone: str = ""


def _split_name_phone(value: str) -> tuple[str, str]:
    """``"张三 13800000000"`` -> (``"张三"``, ``"13800000000"``)."""
    m = _PHONE_IN_TEXT_RE.search(nfkc(value))
    if not m or len(re.sub(r"\D", "", m.group(0))) < 7:
        return value, ""
    name = clean_value(nfkc(value)[: m.start()] + nfkc(value)[m.end():]).strip(" ,，;；、:：-")
    name = re.sub(r"(?:联系)?(?:电话|手机)$", "", name).strip(" ,，;；、:：")
    return name, m.group(0).strip(" ()（）")


def _apply_hits(meta: _Meta, hits: list[LabelHit], ref: dt.date, seen_period: list[str]) -> None:
    for hit in hits:
        if hit.key == "city" and meta.city is None and hit.value:
            meta.city = normalize_city(hit.value)
        elif hit.key == "period" and meta.period is None and hit.value:
            rng = parse_date_range(hit.value, ref)
            if rng:
                meta.period, meta.period_text = rng, hit.value
            else:
                seen_period.append(hit.value)
        elif hit.key == "filled_by" and not meta.filled_by and hit.value:
            name, phone = _split_name_phone(hit.value)
            meta.filled_by = name
            if phone and not meta.phone:
                meta.phone = normalize_phone(phone)
        elif hit.key == "phone" and not meta.phone and hit.value:
            meta.phone = normalize_phone(hit.value)


def _scan_free_cells(meta: _Meta, cells: list[str], ref: dt.date) -> None:
    """Cities and ranges written without a label: a title ``广州市……统计表（2月17日-2月23日）``."""
    for text in cells:
        if meta.city is None:
            meta.city = normalize_city(text)
        if meta.period is None:
            found = find_date_range(text, ref)
            if found:
                labelled = [h.value for h in _META.inline_pairs(text) if h.key == "period" and h.value]
                meta.period = (found[0], found[1])
                meta.period_text = labelled[0] if labelled else clean_value(found[2])


def _read_meta(doc: Document, chosen: _Block | None, ref: dt.date) -> _Meta:
    meta = _Meta()
    unparsed_periods: list[str] = []
    grids: list[list[list[str]]] = []
    if chosen is not None:
        grids += [chosen.title_rows, chosen.note_rows]
    chosen_ids = {id(t) for t in chosen.tables} if chosen else set()
    grids += [t.rows for t in doc.tables if id(t) not in chosen_ids and find_weekly_header(t) is None]
    for grid in grids:
        _apply_hits(meta, grid_label_hits(grid, _META), ref, unparsed_periods)
    _apply_hits(meta, text_label_hits(doc.text, _META), ref, unparsed_periods)
    free = [c for grid in grids for row in grid for c in dict.fromkeys(row) if c and c.strip()]
    names = {squash(v) for r in (chosen.rows if chosen else []) for v in (r.enterprise, r.platform) if v}
    free += [ln for ln in (doc.text or "").splitlines()
             if ln.strip() and not any(n in squash(ln) for n in names)]
    # a range typed over several cells: 时间 | 2020-02-17 | 至 | 2020-02-23
    free += [" ".join(dict.fromkeys(c for c in row if c and c.strip())) for grid in grids for row in grid]
    _scan_free_cells(meta, free, ref)
    if meta.city is None and chosen is not None:
        meta.city = normalize_city(chosen.tables[0].source)
    if meta.period is None and unparsed_periods:
        meta.period_text = unparsed_periods[0]
    return meta


# --- entry point ----------------------------------------------------------------------------


def _looks_like_weekly_title(doc: Document) -> bool:
    texts = [doc.text] + [c for t in doc.tables for r in t.rows[:6] for c in r]
    flat = "".join(squash(t) for t in texts)
    return any(w in flat for w in _TITLE_WORDS)


def _report_problems(report: WeeklyReportData, meta: _Meta, block: _Block | None) -> list[str]:
    problems: list[str] = []
    if report.zero_statement:
        pass  # nothing to report this week, and the form says so: a report of zero
    elif block is None:
        problems.append(f"未找到统计表表头（需含“{ENTERPRISE}”“{HEADCOUNT}”列），无法读取备案数据")
    elif not report.rows:
        problems.append(f"统计表中未填写任何企业备案数据。{ZERO_HINT}")
    if report.city is None:
        problems.append("未能识别地市名称，请在表中填写“地市名称：××市”")
    if report.week_start is None or report.week_end is None:
        if meta.period_text:
            problems.append(f"无法识别统计时间“{meta.period_text}”，请按“2月17日-2月23日”格式填写")
        else:
            problems.append("未找到统计时间，请在表中填写“时间：×月×日-×月×日”")
    else:
        problems += week_problems(report.week_start, report.week_end)
    counts = [r.headcount for r in report.rows]
    if report.declared_total is not None and counts and all(c is not None for c in counts):
        total = sum(c for c in counts if c is not None)
        if total != report.declared_total:
            problems.append(f"合计人数{report.declared_total}与各行备案人数之和{total}不一致")
    return problems


def _zero_statement(doc: Document, chosen: _Block | None) -> str:
    """How a form with no enterprise rows says it has none: a row or note (本周无新增备案企业, 无), the title or
    the text around the table (报零), or a 合计 of 0 typed in; "" for a template left blank."""
    if chosen is not None and chosen.zero_text:
        return chosen.zero_text
    texts = [doc.text] + [c for grid in ([chosen.title_rows, chosen.note_rows] if chosen else [])
                          for row in grid for c in dict.fromkeys(row)]
    if chosen is None:
        texts += [c for t in doc.tables for r in t.rows for c in dict.fromkeys(r)]
    for text in texts:
        found = zero_statement_in(text)
        if found:
            return found
    if chosen is not None and chosen.declared_total == 0:
        return "合计 0"
    return ""


def parse_weekly(doc: Document, mail_date: dt.date) -> WeeklyReportData | None:
    """The weekly report in ``doc``, or None when the document is not a weekly form at all."""
    blocks = _blocks(doc)
    if not blocks and not _looks_like_weekly_title(doc):
        return None
    chosen, header = max(blocks, key=lambda b: len(b[0].rows)) if blocks else (None, None)
    meta = _read_meta(doc, chosen, mail_date)
    report = WeeklyReportData(
        city=meta.city,
        week_start=meta.period[0] if meta.period else None,
        week_end=meta.period[1] if meta.period else None,
        period_text=meta.period_text,
        filled_by=meta.filled_by,
        phone=meta.phone,
        rows=chosen.rows if chosen else [],
        declared_total=chosen.total() if chosen else None,
        source=chosen.tables[0].source if chosen else "",
    )
    if not report.rows:
        report.zero_statement = _zero_statement(doc, chosen)
    report.problems = _report_problems(report, meta, chosen)
    if chosen is not None and header is not None and header.platform is None:
        report.problems.append(f"统计表缺少“{PLATFORM}”列")
    others = [b.tables[0].source or "?" for b, _ in blocks if b is not chosen and b.rows]
    if others:
        report.problems.append(
            f"文件中另有{len(others)}个表格含备案数据（{'、'.join(others)}），只读取了“{report.source}”")
    log.debug("weekly report: city=%s rows=%d problems=%d", report.city, len(report.rows), len(report.problems))
    return report


def parse_weekly_by_city(doc: Document, mail_date: dt.date) -> list[WeeklyReportData]:
    """Every city's report in ``doc``: a workbook with one sheet (or a file with one table) per city, or per
    week, gives one report each; otherwise the one report of :func:`parse_weekly` (empty: not a weekly form).

    Each table block is read as a form of its own; the split is taken only when every block names its
    city and no two blocks are the same city and week, so a form continued over pages or sheets stays one.
    """
    blocks = _blocks(doc)
    if len(blocks) > 1:
        reports = [parse_weekly(Document(format=doc.format, tables=list(block.tables)), mail_date)
                   for block, _header in blocks if block.rows]
        keys = [(r.city, r.week_start) for r in reports if r is not None and r.city]
        if len(keys) == len(reports) > 1 and len(set(keys)) == len(keys):
            return reports
    report = parse_weekly(doc, mail_date)
    return [report] if report is not None else []
