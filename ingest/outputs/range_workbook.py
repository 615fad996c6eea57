"""The range workbook: the campaign over several weeks, for the statistics officer (openpyxl).

``export_range_workbook(app, out, first, last)`` (the Mondays of the first and the last week, both included)
writes
  备案人数   people by city (21 rows) x week, each city's total over the range, the province's total per week
             and its cumulative total (from the campaign's first report, so the weeks before the range count);
  企业数     the same for enterprises;
  全省趋势   per week: cities counted, enterprises, people, cumulative people, figures to verify; and a native
             chart (bars: people per week; line: the cumulative total, on its own axis).
A further sheet, the on-time grid (city x week: on time / corrected / late / missing), is written by the
function given as ``on_time_grid`` (:data:`OnTimeGridWriter`), from the rates module.

Figures are those the week's totals count (ingest/outputs/week_status.py: the current accepted report, a
revision waiting for staff not included). A figure flagged as an outlier and not verified is shaded and noted
请核实; a verified one keeps a lighter shade and the note 已核实. Every sheet prints on A4 landscape, fit to the
page width, with its title and header rows on every page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, func, select

from ingest.app import App
from ingest.outputs.rates import rates
from ingest.outputs.workbooks import (
    CENTER,
    TITLE_FONT,
    Cells,
    WorkbookRequestInvalid,
    fit_columns,
    fit_row_heights,
    printable,
    save_atomically,
    sheet_title,
)
from ingest.workflows.figures import report_figures
from parsers.cities import GUANGDONG_CITIES
from store.db import session_scope
from store.models import FLAG_OUTLIER, FLAG_VERIFIED, REPORT_ACCEPTED, WeeklyReport, WeeklyRow
from zxjyck import labels
from zxjyck.calendar import Calendar

log = logging.getLogger(__name__)

MAX_WEEKS = 260  # five years of weeks: more is a typing mistake, not a campaign
TITLE = "企业职工线上适岗技能提升培训备案情况"
CHECK_FILL = PatternFill("solid", fgColor="FFD8A8")  # 请核实
VERIFIED_FILL = PatternFill("solid", fgColor="E6F4EA")  # 已核实
CHECK_NOTE = "请核实：备案人数远高于本市以往各周"
VERIFIED_NOTE = "已核实：异常偏高的备案人数已与地市核实"

# The on-time grid's writer: (its worksheet, the session, the range's Mondays, the zone) -> None.
OnTimeGridWriter = Callable[[Worksheet, Session, list[date], ZoneInfo], None]


@dataclass
class RangeFigures:
    """The counted figures of every city and week of the range."""

    weeks: list[date]
    people: dict[tuple[str, date], int] = field(default_factory=dict)
    enterprises: dict[tuple[str, date], int] = field(default_factory=dict)
    flags: dict[tuple[str, date], list[str]] = field(default_factory=dict)
    before_range: int = 0  # people counted in the weeks before the first

    def week_total(self, values: dict[tuple[str, date], int], week: date) -> int:
        return sum(v for (_city, w), v in values.items() if w == week)

    def cities_counted(self, week: date) -> int:
        return sum(1 for (_city, w) in self.people if w == week)

    def cumulative(self) -> list[int]:
        running, out = self.before_range, []
        for week in self.weeks:
            running += self.week_total(self.people, week)
            out.append(running)
        return out


def range_weeks(first: date, last: date) -> list[date]:
    """The Mondays from ``first`` to ``last``, both included."""
    for name, day in (("--from", first), ("--to", last)):
        if day.weekday() != 0:
            raise WorkbookRequestInvalid(f"{name} {day.isoformat()} is not a Monday / 不是星期一")
    if last < first:
        raise WorkbookRequestInvalid(f"--to {last} is before --from {first} / 结束周早于起始周")
    count = (last - first).days // 7 + 1
    if count > MAX_WEEKS:
        raise WorkbookRequestInvalid(f"{count} weeks is more than {MAX_WEEKS} / 超过{MAX_WEEKS}周")
    return [first + timedelta(weeks=n) for n in range(count)]


def read_range(session: Session, weeks: list[date]) -> RangeFigures:
    """One query for the reports, one for their rows' counts and sums (years of data stay quick)."""
    figures = RangeFigures(weeks)
    counted = (WeeklyReport.superseded == False, WeeklyReport.status == REPORT_ACCEPTED,  # noqa: E712 - SQL
               WeeklyReport.week_start <= weeks[-1])
    reports = list(session.exec(select(WeeklyReport).where(*counted)))
    sums = {rid: (int(n), int(total or 0)) for rid, n, total in session.exec(
        select(WeeklyRow.report_id, func.count(WeeklyRow.id), func.sum(WeeklyRow.headcount))
        .join(WeeklyReport, WeeklyReport.id == WeeklyRow.report_id).where(*counted)
        .group_by(WeeklyRow.report_id))}
    for report in reports:
        rows, row_sum = sums.get(report.id or 0, (0, 0))
        enterprises, people = report_figures(report, rows, row_sum)
        if report.week_start < weeks[0]:
            figures.before_range += people
            continue
        key = (report.city, report.week_start)
        figures.people[key], figures.enterprises[key] = people, enterprises
        figures.flags[key] = list(report.flags or [])
    return figures


def _week_header(week: date) -> str:
    return f"{week.month}月{week.day}日"


def range_label(weeks: list[date]) -> str:
    end = weeks[-1] + timedelta(days=6)
    return f"{weeks[0]:%Y年%-m月%-d日}—{end:%Y年%-m月%-d日}（{len(weeks)}周）"


def write_grid(ws: Worksheet, name: str, unit: str, values: dict[tuple[str, date], int], data: RangeFigures,
               tz: ZoneInfo, taken: set[str], *, mark: bool) -> None:
    """Cities down, weeks across; each city's range total; the province's total and cumulative rows."""
    ws.title = sheet_title(name, taken)
    cells = Cells(ws, tz)
    weeks = data.weeks
    width = len(weeks) + 3
    cells.merged(1, 1, width, f"{TITLE}：{name}（{unit}，{range_label(weeks)}）", font=TITLE_FONT, align=CENTER)
    cells.row(2, ("序号", "地市", *(_week_header(w) for w in weeks), "本期合计"), bold=True, fill=True)
    for n, city in enumerate(GUANGDONG_CITIES, start=1):
        line = [values.get((city, w)) for w in weeks]
        cells.row(2 + n, (n, city, *line, sum(v for v in line if v is not None)))
        if mark:
            for col, week in enumerate(weeks, start=3):
                _mark(ws.cell(row=2 + n, column=col), data.flags.get((city, week), []))
    total_row = 3 + len(GUANGDONG_CITIES)
    totals = [data.week_total(values, w) for w in weeks]
    cells.row(total_row, ("全省合计", None, *totals, sum(totals)), bold=True)
    ws.merge_cells(start_row=total_row, start_column=1, end_row=total_row, end_column=2)
    if values is data.people:
        cumulative = data.cumulative()
        cells.row(total_row + 1, ("累计", None, *cumulative, cumulative[-1] if cumulative else 0), bold=True)
        ws.merge_cells(start_row=total_row + 1, start_column=1, end_row=total_row + 1, end_column=2)
        note = (f"累计含起始周以前已计入的{data.before_range:,}人。空白：该周未报送或尚未确认（不计入合计）。"
                "橙色底：请核实（远高于本市以往各周）；绿色底：已核实。")
    else:
        note = "空白：该周未报送或尚未确认（不计入合计）。"
    cells.merged(total_row + 3, 1, width, note)
    ws.freeze_panes = "C3"
    fit_columns(ws, 2, minimum=(5, 10, *([8] * len(weeks)), 10))
    fit_row_heights(ws, 1)
    printable(ws, f"{TITLE}：{name}（{range_label(weeks)}）", landscape=True, title_rows="1:2")


def _mark(cell, flags: list[str]) -> None:
    if FLAG_OUTLIER not in flags:
        return
    verified = FLAG_VERIFIED in flags
    cell.fill = VERIFIED_FILL if verified else CHECK_FILL
    cell.comment = Comment(VERIFIED_NOTE if verified else CHECK_NOTE, "zxjyck")


TREND_HEADER = ("周次", "报送周", "计入地市数", "企业数", "备案人数", "累计备案人数", "请核实")


def write_trend(ws: Worksheet, data: RangeFigures, tz: ZoneInfo, taken: set[str]) -> None:
    """The province per week, and the chart: bars for the week's people, a line for the cumulative total."""
    ws.title = sheet_title("全省趋势", taken)
    cells = Cells(ws, tz)
    cells.merged(1, 1, len(TREND_HEADER), f"{TITLE}：全省趋势（{range_label(data.weeks)}）", font=TITLE_FONT,
                 align=CENTER)
    cells.row(2, TREND_HEADER, bold=True, fill=True)
    cumulative = data.cumulative()
    for n, week in enumerate(data.weeks, start=1):
        to_check = sum(1 for (_c, w), flags in data.flags.items()
                       if w == week and FLAG_OUTLIER in flags and FLAG_VERIFIED not in flags)
        cells.row(2 + n, (n, _week_header(week), data.cities_counted(week),
                          data.week_total(data.enterprises, week), data.week_total(data.people, week),
                          cumulative[n - 1], to_check or None))
    last = 2 + len(data.weeks)
    fit_columns(ws, 2, minimum=(6, 10, 11, 8, 10, 13, 8))
    fit_row_heights(ws, 1)
    chart = BarChart()
    chart.title = "全省备案人数与累计"
    chart.y_axis.title = "每周备案人数（人）"
    chart.add_data(Reference(ws, min_col=5, min_row=2, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=2, min_row=3, max_row=last))
    line = LineChart()
    line.add_data(Reference(ws, min_col=6, min_row=2, max_row=last), titles_from_data=True)
    for series in line.series:
        series.smooth = False  # a running total is drawn as it is, not curved
    line.y_axis.axId = 200
    line.y_axis.title = "累计备案人数（人）"
    line.y_axis.crosses = "max"
    line.y_axis.majorGridlines = None
    for axis in (chart.x_axis, chart.y_axis, line.y_axis):
        axis.delete = False  # openpyxl hides the axes by default; LibreOffice and Excel honour it
    chart += line
    chart.legend.position = "b"
    chart.height, chart.width = 8.5, 24  # centimetres: the width of A4 landscape inside the margins
    ws.add_chart(chart, f"A{last + 2}")
    printable(ws, f"{TITLE}：全省趋势（{range_label(data.weeks)}）", landscape=True, title_rows="1:2")
    if len(data.weeks) <= 26:
        ws.page_setup.fitToHeight = 1  # half a year of weeks and the chart on one page


def on_time_sheet(cal: Calendar) -> OnTimeGridWriter:
    """The on-time grid (ingest.outputs.rates): how each city reported each week, and the province's reporting
    and on-time rates."""

    def write(ws: Worksheet, session: Session, weeks: list[date], tz: ZoneInfo) -> None:
        by_week = rates(session, weeks, cal)
        cells = Cells(ws, tz)
        width = len(weeks) + 2
        cells.merged(1, 1, width, f"{TITLE}：按时报送情况（{range_label(weeks)}）", font=TITLE_FONT, align=CENTER)
        cells.row(2, ("序号", "地市", *(_week_header(w) for w in weeks)), bold=True, fill=True)
        states = {(c.city, r.week_start): c.state for r in by_week for c in r.cities}
        for n, city in enumerate(GUANGDONG_CITIES, start=1):
            cells.row(2 + n, (n, city, *(labels.TIMELINESS.get(states.get((city, w), "missing"), "")
                                         for w in weeks)))
        foot = 3 + len(GUANGDONG_CITIES)
        cells.row(foot, ("报送率", None, *(f"{r.reported}/{r.expected}" for r in by_week)), bold=True)
        cells.row(foot + 1, ("按时率", None, *(f"{r.on_time}/{r.expected}" for r in by_week)), bold=True)
        for row in (foot, foot + 1):
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        cells.merged(foot + 3, 1, width, "按时：首次报送即确认且在截止时间前收到；逾期：首次报送即确认但晚于截止时间；"
                                         "经更正：首次报送退回更正后确认；待确认：已收到但尚未确认；未报送：未收到。")
        ws.freeze_panes = "C3"
        fit_columns(ws, 2, minimum=(5, 10, *([8] * len(weeks))))
        fit_row_heights(ws, 1)
        printable(ws, f"{TITLE}：按时报送情况（{range_label(weeks)}）", landscape=True, title_rows="1:2")

    return write


def build_range_workbook(session: Session, first: date, last: date, tz: ZoneInfo,
                         on_time_grid: OnTimeGridWriter | None = None) -> Workbook:
    weeks = range_weeks(first, last)
    data = read_range(session, weeks)
    wb = Workbook()
    taken: set[str] = set()
    write_grid(wb.active, "备案人数", "人", data.people, data, tz, taken, mark=True)
    write_grid(wb.create_sheet(), "企业数", "家", data.enterprises, data, tz, taken, mark=False)
    if on_time_grid is not None:
        ws = wb.create_sheet()
        ws.title = sheet_title("按时报送", taken)
        on_time_grid(ws, session, weeks, tz)
    write_trend(wb.create_sheet(), data, tz, taken)
    return wb


def export_range_workbook(app: App, out: str | Path, first: date, last: date,
                          on_time_grid: OnTimeGridWriter | None = None) -> Path:
    """Write the range workbook of the weeks ``first``..``last`` (Mondays, both included) to ``out``."""
    path = Path(out).expanduser().absolute()
    tz = ZoneInfo(app.settings.schedule.timezone)
    with session_scope(app.engine) as session:
        wb = build_range_workbook(session, first, last, tz, on_time_grid)
    save_atomically(wb, path)
    log.info("range workbook written: %s (%s .. %s)", path, first, last)
    return path
