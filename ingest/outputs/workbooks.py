"""Workbooks for staff (openpyxl): the consolidated week and the list of applications.

``export_workbook(app, out, week=MONDAY)`` writes
  汇总     one row per city of the 21 (status, late, enterprises, 备案人数, received) and a totals row;
  平台汇总 enterprises and 备案人数 per training platform, most 备案人数 first;
  <city>   one sheet per city with a current report, laid out like the notice's 附件2.
``export_workbook(app, out, applications=True)`` writes
  申报汇总 one row per application with the 附件1 fields and what is missing;
  培训项目 every project of every application.

Numbers are written as numbers, times as Excel datetimes (wall time in
schedule.timezone: Excel has no time zones). The file is written to a temporary name in
the same folder and renamed, so a reader never sees half a workbook.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, select

from ingest.app import App
from ingest.errors import IngestError
from ingest.outputs.week_status import (  # noqa: F401 - current_reports: the digest imports it from here
    current_reports,
    headcount_of,
    rows_by_report,
    week_summary,
)
from notify.compose import staff_text
from parsers.cities import GUANGDONG_CITIES
from store.db import session_scope
from store.files import file_mode, protect, write_atomically
from store.models import (
    MATERIAL_KEYS,
    Application,
    ApplicationMaterial,
    ApplicationProject,
    WeeklyReport,
    WeeklyRow,
)
from zxjyck import labels

log = logging.getLogger(__name__)

WEEKLY_TITLE = "企业职工线上适岗技能提升培训备案情况统计表"
NO_PLATFORM = "（未填写平台）"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
INT_FORMAT = "#,##0"
MAX_WIDTH, MIN_WIDTH = 60, 6
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f]")

_thin = Side(style="thin", color="999999")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
HEADER_FILL = PatternFill("solid", fgColor="EEF2F7")
# Every written cell names its font: a CJK-capable sans face found on staff PCs (Windows, WPS);
# LibreOffice substitutes its own CJK sans. A cell without a name prints its digits in a serif face.
FONT_NAME = "Microsoft YaHei"
FONT_SIZE = 11
NORMAL = Font(name=FONT_NAME, size=FONT_SIZE)
BOLD = Font(name=FONT_NAME, size=FONT_SIZE, bold=True)
TITLE_FONT = Font(name=FONT_NAME, bold=True, size=14)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
WRAP = Alignment(vertical="top", wrap_text=True)
TOP = Alignment(vertical="top")
LINE_POINTS = {FONT_SIZE: 15.5, 14: 20.0}  # one wrapped line of CJK text, with leading
# Column-width units across A4 inside the margins below, as LibreOffice measures them (its units are wider
# than Excel's, so Excel prints the same sheet at full size with room to spare).
A4_WIDTH_UNITS = {"portrait": 68, "landscape": 104}


class WorkbookError(IngestError):
    """A workbook could not be produced."""


class WorkbookNotWritable(WorkbookError):
    """The output path cannot be created or written."""


class WorkbookRequestInvalid(WorkbookError):
    """The export was asked for something that does not make sense (no week, a week not on a Monday)."""


# ---------------------------------------------------------------- cell helpers


def display_width(value: Any) -> int:
    """Columns a value takes in Excel: CJK and full-width characters count two."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value) if not isinstance(value, int | float) else f"{value:,}"
    longest = max(text.split("\n"), key=len)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in longest)


def fit_columns(ws: Worksheet, first_row: int = 1, minimum: Sequence[int] = ()) -> None:
    """Widths from the longest value of each column at or below ``first_row`` (merged titles ignored)."""
    widths: dict[int, int] = defaultdict(int)
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            if cell.value is not None and cell.coordinate not in ws.merged_cells:
                widths[cell.column] = max(widths[cell.column], display_width(cell.value))
    for col in range(1, ws.max_column + 1):
        floor = minimum[col - 1] if col <= len(minimum) else MIN_WIDTH
        ws.column_dimensions[get_column_letter(col)].width = min(MAX_WIDTH, max(floor, widths[col] + 2))


def printable(ws: Worksheet, header: str, *, landscape: bool = False, title_rows: str | None = None,
              title_cols: str | None = None, pages_wide: int | None = 1) -> None:
    """Print on A4 with the title and header rows repeated on every page and 第n页/共m页 below.

    ``pages_wide=1``: every column on one page width (sheets sized to fit it at full size);
    ``None``: full size, the columns spread over pages, ``title_cols`` repeated on each.
    """
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.25, footer=0.25)
    if pages_wide:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = pages_wide
        ws.page_setup.fitToHeight = 0
    else:
        ws.page_setup.scale = 100
        ws.page_setup.pageOrder = "overThenDown"
    ws.print_options.horizontalCentered = bool(pages_wide)
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols
    ws.oddHeader.center.text = header.replace("&", "&&")  # the title and week on every printed page
    ws.oddHeader.center.font = FONT_NAME
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.font = FONT_NAME
    ws.oddFooter.center.size = 9


def span_width(ws: Worksheet, row: int, column: int) -> float:
    """The width (in column units) a cell's text has: its column, or its whole merged range."""
    coordinate = ws.cell(row=row, column=column).coordinate
    for merged in ws.merged_cells.ranges:
        if coordinate in merged:
            return sum(ws.column_dimensions[get_column_letter(c)].width or 8.43
                       for c in range(merged.min_col, merged.max_col + 1))
    return ws.column_dimensions[get_column_letter(column)].width or 8.43


_WRAP_TOKEN = re.compile(r"[A-Za-z0-9.@:_%#+=-]+[/?&]*|\s+|.")


def _glyph_units(text: str) -> float:
    # a CJK glyph is about 2.1 units wide in Excel at 11 pt, a Latin one 1.1 (Microsoft YaHei's digits)
    return sum(2.1 if unicodedata.east_asian_width(ch) in "WF" else 1.1 for ch in text)


def wrapped_lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column ``width`` units wide, wrapping as spreadsheets do:
    between CJK characters, at spaces, after "/" in addresses; a word longer than the line is split."""
    usable = max(1.0, width - 0.6)
    total = 0
    for part in str(text).split("\n"):
        lines, used = 1, 0.0
        for token in _WRAP_TOKEN.findall(part):
            size = _glyph_units(token)
            if used + size <= usable or (token.isspace() and used):
                used += size
                continue
            if token.isspace():
                continue
            lines += 1 if used else 0
            while size > usable:  # a word wider than the line is broken
                size -= usable
                lines += 1
            used = size
        total += lines
    return total


def fit_row_heights(ws: Worksheet, first_row: int = 1) -> None:
    """Set each row's height to hold its wrapped text: Excel and LibreOffice do not grow rows on open."""
    for row in ws.iter_rows(min_row=first_row):
        needed = 0.0
        for cell in row:
            if not isinstance(cell.value, str) or not (cell.alignment and cell.alignment.wrap_text):
                continue
            size = cell.font.sz if cell.font is not None and cell.font.sz else FONT_SIZE
            line = LINE_POINTS.get(size, size * 1.5)
            needed = max(needed, wrapped_lines(cell.value, span_width(ws, cell.row, cell.column)) * line + 2)
        if needed:
            current = ws.row_dimensions[row[0].row].height or 0
            ws.row_dimensions[row[0].row].height = max(current, needed)


def cap_widths(ws: Worksheet, widest: dict[str, float]) -> None:
    for letter, width in widest.items():
        ws.column_dimensions[letter].width = min(ws.column_dimensions[letter].width or width, width)


def fit_to_page(ws: Worksheet, orientation: str, stretch: str) -> None:
    """Widen column ``stretch`` so the sheet fills the page width (so fit-to-width prints at full size)."""
    total = sum(ws.column_dimensions[get_column_letter(c)].width or 8.43 for c in range(1, ws.max_column + 1))
    spare = A4_WIDTH_UNITS[orientation] - total
    if spare > 0:
        ws.column_dimensions[stretch].width = (ws.column_dimensions[stretch].width or 8.43) + spare


def sheet_title(name: str, taken: set[str]) -> str:
    """A legal, unique sheet name: no []:*?/\\, not quoted, at most 31 characters."""
    clean = SHEET_NAME_BAD.sub("_", name).strip().strip("'") or "Sheet"
    clean = clean[:31]
    candidate, n = clean, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f"({n})"
        candidate = clean[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(candidate)
    return candidate


def excel_text(value: str | None) -> str:
    """Text as a cell value: the control characters Excel refuses are dropped."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value or "")


def put(ws: Worksheet, row: int, column: int, value: Any) -> Any:
    """One cell; text is always text (a sender's "=HYPERLINK(...)" never becomes a formula)."""
    if isinstance(value, str):
        value = excel_text(value) or None  # an empty string is an empty cell
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str) and cell.data_type == "f":
        cell.data_type = "s"
    return cell


@dataclass
class Cells:
    """Writes rows with styles; ``local`` turns stored UTC times into Excel wall times."""

    ws: Worksheet
    tz: ZoneInfo

    def local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.tz).replace(tzinfo=None) if moment is not None else None

    def row(self, number: int, values: Iterable[Any], *, bold: bool = False, fill: bool = False,
            wrap: Sequence[int] = ()) -> None:
        for col, value in enumerate(values, start=1):
            cell = put(self.ws, number, col, value)
            cell.border = BORDER
            cell.font = BOLD if bold else NORMAL
            if fill:
                cell.fill = HEADER_FILL
                cell.alignment = CENTER
            elif col in wrap or isinstance(value, str):
                cell.alignment = WRAP  # text wraps inside its column; fit_row_heights makes room
            else:
                cell.alignment = TOP
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            elif isinstance(value, int) and not isinstance(value, bool):
                cell.number_format = INT_FORMAT if col > 1 else "0"

    def merged(self, number: int, first: int, last: int, value: str, *, font: Font | None = None,
               align: Alignment | None = None) -> None:
        put(self.ws, number, first, value)
        if last > first:
            self.ws.merge_cells(start_row=number, start_column=first, end_row=number, end_column=last)
        cell = self.ws.cell(row=number, column=first)
        cell.font = font or NORMAL
        cell.alignment = align or Alignment(vertical="center", wrap_text=True)


# ---------------------------------------------------------------- the week


def week_label(week_start: date) -> str:
    end = week_start + timedelta(days=6)
    tail = f"{end.month}月{end.day}日" if end.year == week_start.year else f"{end.year}年{end.month}月{end.day}日"
    return f"{week_start.year}年{week_start.month}月{week_start.day}日—{tail}"


def build_week_workbook(session: Session, week_start: date, tz: ZoneInfo) -> Workbook:
    summary = week_summary(session, week_start, tz)
    reports = {c.city: c.report for c in summary.cities if c.report is not None}
    rows = {c.report.id or 0: c.lines for c in summary.cities if c.report is not None}
    counted = {c.city: c.report for c in summary.counted}
    wb = Workbook()
    taken: set[str] = set()
    write_week_summary(wb.active, summary, tz, taken)
    write_platform_totals(wb.create_sheet(), week_start, counted, rows, taken)
    ordered = [c for c in GUANGDONG_CITIES if c in reports] + sorted(set(reports) - set(GUANGDONG_CITIES))
    for city in ordered:
        report = reports[city]
        write_city_sheet(wb.create_sheet(), report, rows.get(report.id or 0, []), tz, taken)
    return wb


SUMMARY_HEADER = ("序号", "地市", "状态", "逾期", "企业数", "备案人数", "收到时间", "填报人", "联系电话", "问题")


def write_week_summary(ws: Worksheet, summary, tz: ZoneInfo, taken: set[str]) -> None:
    """Row 1 title, row 2 header, one row per city of the 21, then 合计 (accepted reports only) and,
    beside it, the figures awaiting a decision or a correction (``summary``: ingest.outputs.week_status.WeekSummary)."""
    ws.title = sheet_title("汇总", taken)
    cells = Cells(ws, tz)
    cells.merged(1, 1, len(SUMMARY_HEADER), f"{WEEKLY_TITLE}汇总（{week_label(summary.week_start)}）",
                 font=TITLE_FONT, align=CENTER)
    cells.row(2, SUMMARY_HEADER, bold=True, fill=True)
    for n, line in enumerate(summary.cities, start=1):
        report = line.report
        if report is None:
            note = f"有{len(line.held_message_pks)}封邮件待人工核对" if line.held_message_pks else None
            cells.row(2 + n, (n, line.city, labels.label(labels.REPORT_STATUS, line.status), None, None, None, None,
                              None, None, note))
            continue
        cells.row(2 + n, (n, line.city, labels.label(labels.REPORT_STATUS, report.status), "是" if report.late else "否",
                          line.enterprise_count, line.headcount, cells.local(report.received_at), report.filled_by,
                          report.phone, "；".join([*(["请核实：备案人数远高于本市以往各周"] if line.to_check else []),
                                                   *map(staff_text, report.problems)])), wrap=(10,))
    total_row = 3 + len(summary.cities)
    cells.row(total_row, ("合计", None, f"已报送{summary.reported}/{len(summary.cities)}", f"逾期{summary.late}",
                          summary.total_enterprises, summary.total_headcount, None, None, None,
                          f"只计已收到（已确认）的{len(summary.counted)}个市"), bold=True)
    cells.row(total_row + 1, ("待核对/待更正", None, f"{len(summary.held)}个市", None, summary.held_enterprises,
                              summary.held_headcount, None, None, None, "未计入合计"))
    ws.merge_cells(start_row=total_row + 1, start_column=1, end_row=total_row + 1, end_column=2)
    ws.merge_cells(start_row=total_row, start_column=1, end_row=total_row, end_column=2)
    ws.freeze_panes = "C3"
    fit_columns(ws, 2, minimum=(5, 10, 11, 5, 7, 9, 17, 8, 13))
    ws.column_dimensions["G"].width = 17  # yyyy-mm-dd hh:mm
    for col, widest in (("H", 10), ("I", 15)):  # 填报人, 联系电话 wrap beyond this
        ws.column_dimensions[col].width = min(ws.column_dimensions[col].width, widest)
    ws.column_dimensions["J"].width = 24
    fit_to_page(ws, "landscape", "J")
    fit_row_heights(ws, 1)
    printable(ws, f"{WEEKLY_TITLE}汇总（{week_label(summary.week_start)}）", landscape=True, title_rows="1:2")


def platform_totals(reports: Iterable[WeeklyReport], rows: dict[int, list[WeeklyRow]]) -> list[tuple[str, int, int]]:
    """(platform, enterprises, 备案人数) over every current report, most 备案人数 first, then by name."""
    enterprises: dict[str, int] = defaultdict(int)
    people: dict[str, int] = defaultdict(int)
    for report in reports:
        for line in rows.get(report.id or 0, []):
            name = re.sub(r"\s+", " ", line.platform).strip() or NO_PLATFORM
            enterprises[name] += 1
            people[name] += line.headcount or 0
    return sorted(((name, enterprises[name], people[name]) for name in enterprises), key=lambda t: (-t[2], t[0]))


def write_platform_totals(ws: Worksheet, week_start: date, reports: dict[str, WeeklyReport],
                          rows: dict[int, list[WeeklyRow]], taken: set[str]) -> None:
    """Row 1 header, one row per platform, then 合计."""
    ws.title = sheet_title("平台汇总", taken)
    cells = Cells(ws, ZoneInfo("UTC"))
    cells.row(1, ("序号", "培训平台名称", "企业数", "备案人数"), bold=True, fill=True)
    totals = platform_totals(reports.values(), rows)
    for n, (name, count, people) in enumerate(totals, start=1):
        cells.row(1 + n, (n, name, count, people))
    cells.row(2 + len(totals), ("合计", None, sum(t[1] for t in totals), sum(t[2] for t in totals)), bold=True)
    ws.freeze_panes = "A2"
    fit_columns(ws, 1, minimum=(6, 20, 8, 10))
    cap_widths(ws, {"B": 40})
    fit_to_page(ws, "portrait", "B")
    fit_row_heights(ws, 1)
    printable(ws, f"{WEEKLY_TITLE}·各培训平台汇总（{week_label(week_start)}）", title_rows="1:1")


def write_city_sheet(ws: Worksheet, report: WeeklyReport, lines: list[WeeklyRow], tz: ZoneInfo,
                     taken: set[str]) -> None:
    """The notice's 附件2: title, 地市名称/时间, header, rows, 合计, 填报人/联系电话 (and a status note)."""
    ws.title = sheet_title(report.city, taken)
    cells = Cells(ws, tz)
    cells.merged(1, 1, 4, WEEKLY_TITLE, font=TITLE_FONT, align=CENTER)
    ws.row_dimensions[1].height = 30
    cells.merged(2, 1, 2, f"地市名称：{report.city}")
    cells.merged(2, 3, 4, f"时间：{week_label(report.week_start)}")
    cells.row(3, ("序号", "企业名称", "备案人数", "培训平台名称"), bold=True, fill=True)
    for n, line in enumerate(lines, start=1):
        cells.row(3 + n, (n, line.enterprise, line.headcount, line.platform), wrap=(2, 4))
    total_row = 4 + len(lines)
    cells.row(total_row, ("合计", None, headcount_of(report, lines), None), bold=True)
    ws.merge_cells(start_row=total_row, start_column=1, end_row=total_row, end_column=2)
    cells.merged(total_row + 1, 1, 4, f"填报人：{report.filled_by}    联系电话：{report.phone}")
    status = labels.report_status(report.status, report.late)
    note = f"状态：{status}；收到时间：{cells.local(report.received_at):%Y-%m-%d %H:%M}"
    if report.problems:
        note += "；问题：" + "；".join(map(staff_text, report.problems))
    cells.merged(total_row + 2, 1, 4, note, align=WRAP)
    ws.freeze_panes = "A4"
    fit_columns(ws, 3, minimum=(5, 26, 9, 20))
    cap_widths(ws, {"B": 34, "D": 22})  # long names wrap inside the page instead of widening it
    fit_to_page(ws, "portrait", "B")
    fit_row_heights(ws, 2)
    printable(ws, f"{WEEKLY_TITLE}·{report.city}（{week_label(report.week_start)}）", title_rows="1:3")


# ---------------------------------------------------------------- applications

APPLICATION_HEADER = ("序号", "平台名称", "网址", "机构名称", "统一社会信用代码", "信用代码校验", "联系人", "职务",
                      "联系电话", "电子邮箱", "通讯地址", "平台简介", "材料齐全", "缺少材料", "基本情况表问题",
                      "首次收到", "最近更新", "发件人", "批次")
PROJECT_HEADER = ("平台名称", "序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式",
                  "资源来源", "费用")


def credit_check_label(application: Application) -> str:
    if not application.credit_code:
        return "未填写"
    return "正确" if application.credit_code_valid else "有误"


def build_applications_workbook(session: Session, tz: ZoneInfo) -> Workbook:
    applications = list(session.exec(select(Application).order_by(Application.first_received_at, Application.id)))
    materials: dict[int, set[str]] = defaultdict(set)
    for app_id, category in session.exec(select(ApplicationMaterial.application_id, ApplicationMaterial.category)):
        materials[app_id].add(category)
    wb = Workbook()
    taken: set[str] = set()
    ws = wb.active
    ws.title = sheet_title("申报汇总", taken)
    cells = Cells(ws, tz)
    cells.row(1, APPLICATION_HEADER, bold=True, fill=True)
    for n, a in enumerate(applications, start=1):
        missing = [labels.MATERIAL[k] for k in MATERIAL_KEYS if k not in materials.get(a.id or 0, set())]
        cells.row(1 + n, (n, a.platform_name, a.website, a.organization, a.credit_code, credit_check_label(a),
                          a.contact, a.contact_title, a.phone, a.email, a.address, a.intro,
                          "是" if a.complete else "否", "、".join(missing), "；".join(map(staff_text, a.form_problems)),
                          cells.local(a.first_received_at), cells.local(a.updated_at), a.from_addr, a.batch or ""),
                  wrap=(11, 12, 15))
    ws.freeze_panes = "C2"
    for col, width in enumerate(APPLICATION_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    fit_row_heights(ws, 1)
    # Full size on paper: the 18 columns run over pages side by side, 序号 and 平台名称 repeated on each.
    printable(ws, f"线上培训平台申报汇总（{applications_label(applications, tz)}）", landscape=True,
              title_rows="1:1", title_cols="A:B", pages_wide=None)
    write_projects(wb.create_sheet(), applications, session, tz, taken)
    return wb


APPLICATION_WIDTHS = (5, 16, 20, 20, 21, 6, 8, 8, 14, 22, 22, 36, 5, 16, 26, 17, 17, 22, 10)


def applications_label(applications: list[Application], tz: ZoneInfo) -> str:
    """"共2件，最近收到2020年2月24日" (from the data, so the same state prints the same)."""
    if not applications:
        return "共0件"
    latest = max(a.updated_at or a.first_received_at for a in applications).astimezone(tz)
    return f"共{len(applications)}件，最近收到{latest.year}年{latest.month}月{latest.day}日"


def write_projects(ws: Worksheet, applications: list[Application], session: Session, tz: ZoneInfo,
                   taken: set[str]) -> None:
    ws.title = sheet_title("培训项目", taken)
    cells = Cells(ws, tz)
    cells.row(1, PROJECT_HEADER, bold=True, fill=True)
    names = {a.id: a.platform_name for a in applications}
    order = {a.id: i for i, a in enumerate(applications)}
    projects = sorted(session.exec(select(ApplicationProject)),
                      key=lambda p: (order.get(p.application_id, len(order)), p.position, p.id or 0))
    numbers: dict[int, int] = defaultdict(int)  # 1..n within each platform, whatever the form's own numbering
    for n, p in enumerate(projects, start=2):
        numbers[p.application_id] += 1
        cells.row(n, (names.get(p.application_id, ""), numbers[p.application_id], p.name, p.occupation, p.format,
                      p.hours, p.assessment, p.source, p.fee), wrap=(3, 4))
    ws.freeze_panes = "B2"
    fit_columns(ws, 1, minimum=(20, 6, 20, 20, 10, 10, 10, 10, 8))
    cap_widths(ws, {"A": 18, "B": 5, "C": 20, "D": 16, "E": 10, "F": 8, "G": 10, "H": 10, "I": 8})
    fit_to_page(ws, "landscape", "C")
    fit_row_heights(ws, 1)
    printable(ws, f"线上培训平台申报·培训项目（{applications_label(applications, tz)}）", landscape=True,
              title_rows="1:1")


# ---------------------------------------------------------------- writing


def save_atomically(wb: Workbook, path: Path, mode: int = 0o600) -> Path:
    """Save the workbook so that a crash leaves the old file or the new one, never half of one."""
    if path.is_dir():
        raise WorkbookNotWritable(f"{path}: is a folder, not a file / 输出路径是文件夹")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkbookNotWritable(f"{path}: cannot create the workbook: {exc.strerror or exc} / 无法写出工作簿") from exc
    buffer = io.BytesIO()
    wb.save(buffer)
    try:
        return write_atomically(path, buffer.getvalue(), mode=mode)  # personal data: private (store.files)
    except OSError as exc:
        raise WorkbookNotWritable(f"{path}: cannot write the workbook: {exc.strerror or exc} / 无法写出工作簿") from exc


def export_workbook(app: App, out: str | Path, *, week: date | None, applications: bool) -> Path:
    """Write the week's workbook (``week``: its Monday) or the applications workbook to ``out``."""
    if (week is None) == (not applications):
        raise WorkbookRequestInvalid("give either a week (its Monday) or applications, not both / 请指定周或申报汇总")
    if week is not None and week.weekday() != 0:
        raise WorkbookRequestInvalid(f"{week.isoformat()} is not a Monday / 不是星期一")
    path = Path(out).expanduser().absolute()
    tz = ZoneInfo(app.settings.schedule.timezone)
    with session_scope(app.engine) as session:
        wb = build_applications_workbook(session, tz) if applications else build_week_workbook(session, week, tz)
    save_atomically(wb, path, file_mode(app.settings.group))
    protect(path, app.settings.group)
    log.info("workbook written: %s (%s)", path, "applications" if applications else f"week {week}")
    return path
