"""The public list of a batch's selected platforms, in the three forms the bureau posts (`zxjyck publish`).

    OUT/第一批职业技能提升行动线上培训平台名单.docx   the announcement: title (黑体), the table
                                                       序号 / 平台名称 / 运营机构 / 网址 / 主要培训项目
                                                       (仿宋_GB2312, header 黑体), the issuing office and
                                                       date, A4; the East Asian font named in w:eastAsia
    OUT/第一批职业技能提升行动线上培训平台名单.xlsx   the same table
    OUT/第一批职业技能提升行动线上培训平台名单.html   a plain page ready to post: escaped, no scripts

The rows come from ingest/workflows/publication.py (public fields only). Each file is written
to a temporary name and renamed.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_ALIGN_VERTICAL, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.text.run import Run
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from ingest.errors import IngestError
from ingest.outputs.workbooks import BORDER, CENTER, HEADER_FILL, WRAP, fit_row_heights, printable
from store.files import write_atomically

HEADERS = ("序号", "平台名称", "运营机构", "网址", "主要培训项目")
FIELDS = ("platform", "organization", "website", "projects")
BODY_FONT, HEADING_FONT = "仿宋_GB2312", "黑体"
COLUMN_CM = (1.5, 3.2, 4.0, 4.1, 3.0)  # across A4 portrait inside 2.6/2.6 cm margins (15.8 cm)
XLSX_WIDTHS = (6, 22, 26, 26, 30)


class PublicListNotWritable(IngestError):
    """The output folder cannot be written."""


@dataclass(frozen=True)
class PublicList:
    title: str
    bureau: str
    issued_on: date
    rows: list[dict[str, str]]

    @property
    def date_text(self) -> str:
        return f"{self.issued_on.year}年{self.issued_on.month}月{self.issued_on.day}日"

    def table(self) -> list[list[str]]:
        return [[str(n), *(row[f] for f in FIELDS)] for n, row in enumerate(self.rows, start=1)]


def _font(run: Run, name: str, size: float, bold: bool = False) -> None:
    """Name the font for Latin and for East Asian text (w:eastAsia): Word uses the latter for Chinese."""
    run.font.name, run.font.size, run.font.bold = name, Pt(size), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _paragraph(container, text: str, name: str, size: float, *, align=None, bold: bool = False,
               before: float = 0, after: float = 0):
    paragraph = container.add_paragraph()
    paragraph.alignment = align
    paragraph.paragraph_format.space_before, paragraph.paragraph_format.space_after = Pt(before), Pt(after)
    _font(paragraph.add_run(text), name, size, bold)
    return paragraph


def build_docx(doc: PublicList) -> bytes:
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = BODY_FONT, Pt(16)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.6), Cm(2.6)
    _paragraph(document, doc.title, HEADING_FONT, 22, align=WD_ALIGN_PARAGRAPH.CENTER, after=18)
    table = document.add_table(rows=1, cols=len(HEADERS))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for index, label in enumerate(HEADERS):
        cell = table.rows[0].cells[index]
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(cell.paragraphs[0].add_run(label), HEADING_FONT, 12)
    _repeat_header(table.rows[0])
    for values in doc.table():
        cells = table.add_row().cells
        for index, value in enumerate(values):
            paragraph = cells[index].paragraphs[0]
            if index == 0:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _font(paragraph.add_run(value), BODY_FONT, 12)
    for index, column in enumerate(table.columns):  # the grid (LibreOffice reads it) and every cell (Word)
        column.width = Cm(COLUMN_CM[index])
    for row in table.rows:
        for index, cell in enumerate(row.cells):
            cell.width = Cm(COLUMN_CM[index])
            cell.vertical_alignment = WD_ALIGN_VERTICAL.CENTER
    _paragraph(document, doc.bureau, BODY_FONT, 16, align=WD_ALIGN_PARAGRAPH.RIGHT, before=30)
    _paragraph(document, doc.date_text, BODY_FONT, 16, align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.core_properties.title = doc.title
    document.core_properties.author = doc.bureau
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _repeat_header(row) -> None:
    """The header row repeats at the top of every page the table runs over."""
    from docx.oxml import OxmlElement

    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(marker)


def build_xlsx(doc: PublicList) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "名单"
    ws.append([doc.title])
    ws.merge_cells(f"A1:{get_column_letter(len(HEADERS))}1")
    ws["A1"].font = Font(name=HEADING_FONT, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    ws.append(list(HEADERS))
    for cell in ws[2]:
        cell.font, cell.fill, cell.border, cell.alignment = Font(name=HEADING_FONT, size=11), HEADER_FILL, BORDER, \
            CENTER
    for values in doc.table():
        ws.append([int(values[0]), *values[1:]])
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.font, cell.border, cell.alignment = Font(name=BODY_FONT, size=11), BORDER, WRAP
    for index, width in enumerate(XLSX_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    fit_row_heights(ws, first_row=3)
    ws.append([])
    ws.append([f"{doc.bureau}　{doc.date_text}"])
    printable(ws, doc.title, landscape=True, title_rows="2:2")
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def build_html(doc: PublicList) -> str:
    e = html.escape
    rows = "\n".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>" for values in doc.table())
    head = "".join(f"<th>{e(label)}</th>" for label in HEADERS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(doc.title)}</title>
<style>
body {{ font-family: "仿宋_GB2312", FangSong, "Noto Serif CJK SC", serif; max-width: 60em; margin: 2em auto;
       padding: 0 1em; line-height: 1.7; color: #222; }}
h1 {{ font-family: "黑体", SimHei, "Noto Sans CJK SC", sans-serif; font-size: 1.6em; text-align: center;
     font-weight: normal; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #666; padding: .4em .6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }}
th {{ font-family: "黑体", SimHei, "Noto Sans CJK SC", sans-serif; font-weight: normal; background: #f2f2f2; }}
td:first-child, th:first-child {{ text-align: center; white-space: nowrap; }}
.sign {{ text-align: right; margin-top: 2em; }}
</style>
</head>
<body>
<h1>{e(doc.title)}</h1>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="sign">{e(doc.bureau)}<br>{e(doc.date_text)}</p>
</body>
</html>
"""


def write_public_list(doc: PublicList, out: str | Path) -> list[Path]:
    """The .docx, .xlsx and .html of the list in ``out`` (created when absent), named after its title."""
    folder = Path(out)
    targets = [(folder / f"{doc.title}.docx", build_docx(doc)), (folder / f"{doc.title}.xlsx", build_xlsx(doc)),
               (folder / f"{doc.title}.html", build_html(doc).encode("utf-8"))]
    try:
        return [write_atomically(path, data) for path, data in targets]
    except OSError as exc:
        raise PublicListNotWritable(f"{folder}: cannot write / 无法写入: {exc}") from exc
