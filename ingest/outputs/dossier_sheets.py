"""The dossier's cover sheet (xlsx and PDF) and the PDF of values read from a scanned form.

The PDF uses reportlab's built-in CJK CID font STSong-Light (Adobe's Song
typeface, known to every PDF reader), so nothing is embedded or downloaded.
Every value is a stranger's text: it is escaped before reportlab's paragraph
markup sees it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from ingest.outputs.dossier import MATERIAL_NAMES, Dossier, DossierError, form_rows
from ingest.outputs.workbooks import put, save_atomically
from parsers.application import FIELD_NAMES

FONT = "STSong-Light"
TITLE = "职业技能提升行动线上培训平台申报材料"
PROJECT_HEADER = ("序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用")


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "—"


def summary_rows(d: Dossier, tz: ZoneInfo) -> list[tuple[str, str]]:
    a = d.application
    return [("批次", a.batch or "—"), ("申报方式", f"推荐：{a.recommended_by}" if a.recommended_by else "平台自行申报"),
            ("首次收到", _local(a.first_received_at, tz)), ("材料齐全", _local(a.completed_at, tz)),
            ("申报邮箱", a.from_addr)]


def project_rows(d: Dossier) -> list[list[str]]:
    return [[str(n), p.name, p.occupation, p.format, "" if p.hours is None else str(p.hours), p.assessment, p.source,
             p.fee] for n, p in enumerate(d.projects, start=1)]


def file_rows(d: Dossier) -> list[list[str]]:
    order = list(MATERIAL_NAMES)
    files = sorted(d.files, key=lambda f: order.index(f.category) if f.category in order else len(order))
    return [[MATERIAL_NAMES.get(f.category, f.category), f.filename, f.saved_as or f.note] for f in files]


def history_rows(d: Dossier, tz: ZoneInfo) -> list[list[str]]:
    return [[_local(e.at, tz), e.direction, e.who, e.subject, e.detail] for e in d.history]


# --------------------------------------------------------------------------- xlsx


def write_cover_xlsx(d: Dossier, path: Path, tz: ZoneInfo) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "封面"
    bold, thin = Font(bold=True), Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    row = 1
    put(ws, row, 1, f"{TITLE}：{d.application.platform_name}").font = Font(bold=True, size=14)
    row += 2

    def section(title: str) -> None:
        nonlocal row
        ws.cell(row=row, column=1, value=title).font = bold
        row += 1

    def line(values: list[str], header: bool = False) -> None:
        nonlocal row
        for c, value in enumerate(values, start=1):
            cell = put(ws, row, c, value)  # a sender's "=..." stays text
            cell.alignment, cell.border = wrap, box
            if header:
                cell.font, cell.fill = bold, head_fill
        row += 1

    section("申报概况")
    for label, value in summary_rows(d, tz):
        line([label, value])
    row += 1
    section("一、基本信息")
    for label, value in form_rows(d.application):
        line([label, value])
    row += 1
    section("二、平台培训项目")
    line(list(PROJECT_HEADER), header=True)
    for values in project_rows(d):
        line(values)
    row += 1
    section("三、核对结果")
    for label, value in d.checks():
        line([label, value])
    if d.application.staff_problems:
        row += 1
        section("四、待人工核对事项")
        for n, problem in enumerate(d.application.staff_problems, start=1):
            line([str(n), problem])
    row += 1
    section("五、材料清单")
    line(["类别", "原文件名", "存放文件名"], header=True)
    for values in file_rows(d):
        line(values)
    row += 1
    section("六、邮件往来")
    line(["时间", "方向", "对方", "主题", "说明"], header=True)
    for values in history_rows(d, tz):
        line(values)
    for col, width in zip("ABCDEFGH", (16, 36, 16, 14, 22, 12, 14, 16), strict=True):
        ws.column_dimensions[col].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    return save_atomically(wb, path)


# --------------------------------------------------------------------------- pdf


def _styles():
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    body = ParagraphStyle("zh", fontName=FONT, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "body": body,
        "title": ParagraphStyle("zh-title", parent=body, fontSize=15, leading=22, alignment=1, spaceAfter=6),
        "h2": ParagraphStyle("zh-h2", parent=body, fontSize=11, leading=16, spaceBefore=8, spaceAfter=4),
        "label": ParagraphStyle("zh-label", parent=body, textColor="#333333"),
        "warn": ParagraphStyle("zh-warn", parent=body, textColor="#B00020"),
    }


CELL_CHARS = 600  # a table row cannot break across pages: a stranger's long text must not outgrow one
INTRO_CHARS = 8000


def _cut(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[:limit] + "……（未完，全文见原件）"


def _p(text: str, style) -> object:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _table(rows: list[list[str]], widths: list[float], styles, header: bool = False):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    # at most about 40 lines a cell (9-point type, one CJK character about 9.5 points wide)
    caps = [min(CELL_CHARS, max(20, int(w / 9.5) * 40)) for w in widths]
    data = [[_p(_cut(c, cap), styles["body"]) for c, cap in zip(r, caps, strict=False)] for r in rows]
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    commands = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")))
    table.setStyle(TableStyle(commands))
    return table


def _build(path: Path, story: list, title: str) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate
    from reportlab.platypus.doctemplate import LayoutError

    partial = path.with_name(path.name + ".part")
    try:
        SimpleDocTemplate(str(partial), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                          bottomMargin=15 * mm, title=title, author="广东省职业训练局").build(story)
    except LayoutError as exc:
        partial.unlink(missing_ok=True)
        raise DossierError(f"{path}: the cover sheet does not fit the page / 封面排版失败: {exc}") from exc
    partial.replace(path)
    return path


def write_cover_pdf(d: Dossier, path: Path, tz: ZoneInfo) -> Path:
    from reportlab.platypus import Spacer

    s = _styles()
    a = d.application
    story: list = [_p(TITLE, s["title"]), _p(a.platform_name or a.organization, s["title"])]
    story += [_table([list(r) for r in summary_rows(d, tz)], [90, 420], s), Spacer(1, 4)]
    rows = [list(r) for r in form_rows(a)]
    intro = rows.pop()  # 平台简介 runs long: paragraphs below the table, which may break across pages
    story += [_p("一、基本信息", s["h2"]), _table(rows, [90, 420], s), Spacer(1, 4), _p(intro[0], s["label"])]
    story += [_p(para, s["body"]) for para in _cut(intro[1], INTRO_CHARS).split("\n") if para.strip()]
    story += [_p("二、平台培训项目", s["h2"]),
              _table([list(PROJECT_HEADER), *project_rows(d)], [26, 90, 64, 60, 36, 66, 80, 88], s, header=True)]
    story += [_p("三、核对结果", s["h2"]), _table([list(r) for r in d.checks()], [90, 420], s)]
    if a.staff_problems:
        story += [_p("四、待人工核对事项", s["h2"])]
        story += [_p(f"{n}. {p}", s["warn"]) for n, p in enumerate(a.staff_problems, start=1)]
    story += [_p("五、材料清单", s["h2"]),
              _table([["类别", "原文件名", "存放文件名"], *file_rows(d)], [100, 210, 200], s, header=True)]
    story += [_p("六、邮件往来", s["h2"]),
              _table([["时间", "方向", "对方", "主题", "说明"], *history_rows(d, tz)], [70, 30, 120, 140, 150], s,
                     header=True)]
    return _build(path, story, f"{TITLE}：{a.platform_name}")


def write_read_values_pdf(d: Dossier, path: Path) -> Path:
    """The basic form's values as OCR read them from the scan, each with its confidence."""
    s = _styles()
    a = d.application
    confidences = a.ocr_fields or {}
    rows = [["栏目", "识别值", "置信度"]]
    labels = dict(FIELD_NAMES, organization="注册登记机构", website="网址")
    for key in FIELD_NAMES:
        confidence = confidences.get(key)
        rows.append([labels[key], getattr(a, key) or "", f"{confidence:.2f}" if confidence is not None else "—"])
    story = [_p("基本情况表识别结果", s["title"]),
             _p("本表由系统从扫描件或照片识别生成，仅供核对，以原件为准；置信度较低的栏目请对照原件确认。", s["label"]),
             _table(rows, [90, 360, 60], s, header=True)]
    return _build(path, story, "基本情况表识别结果")
