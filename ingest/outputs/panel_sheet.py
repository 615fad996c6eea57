"""`zxjyck export --format xlsx --panel --batch B --out FILE`: the sheet the expert panel fills.

One row per complete application of the batch, in the dossier's order, with the dossier folder
each one's materials are in (the names `export --dossier --batch B` writes), empty 评审意见 /
得分 / 结论 columns (结论 from a drop-down list, 得分 0–100) and a hidden 申报编号 column that
`zxjyck panel import` matches rows by, whatever the panel does to the order of rows or columns.
Printable on A4 landscape, title and header repeated on every page.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlmodel import select

from ingest.app import App
from ingest.outputs.dossier import DossierBatchUnknown, applications_for, dossier_folders
from ingest.outputs.workbooks import (
    BOLD,
    BORDER,
    CENTER,
    FONT_NAME,
    HEADER_FILL,
    NORMAL,
    TITLE_FONT,
    WRAP,
    WorkbookNotWritable,
    fit_row_heights,
    printable,
)
from ingest.workflows.panel import (
    COL_KEY,
    COL_SCORE,
    COL_VERDICT,
    MAX_SCORE,
    PANEL_COLUMNS,
)
from store.db import session_scope
from store.files import write_atomically
from store.models import VERDICTS, ApplicationProject

# widths in column units: together about A4 landscape's printable width (ingest.outputs.workbooks.A4_WIDTH_UNITS)
WIDTHS = {"序号": 4, "平台名称": 14, "运营机构": 16, "统一社会信用代码": 20, "主要培训项目": 14,
          "评审材料文件夹": 14, "评审意见": 22, "得分": 6, "结论": 10, "申报编号": 8}
MIN_ROW_POINTS = 36  # room to write an opinion by hand on the printed sheet
HEADER_ROW = 2


def panel_title(batch: str) -> str:
    return f"职业技能提升行动线上培训平台专家评审表（{batch}）"


def build_panel_workbook(app: App, batch: str) -> Workbook:
    names = [b.name for b in app.settings.applications.batches]
    if batch not in names:
        raise DossierBatchUnknown(f"unknown batch {batch!r} / 未配置的批次“{batch}”（可选：{'、'.join(names)}）")
    wb = Workbook()
    ws = wb.active
    ws.title = "专家评审"
    last = get_column_letter(len(PANEL_COLUMNS))
    ws.append([panel_title(batch)])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font, ws["A1"].alignment = TITLE_FONT, Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 26
    ws.append(list(PANEL_COLUMNS))
    for cell in ws[HEADER_ROW]:
        cell.font, cell.fill, cell.border, cell.alignment = BOLD, HEADER_FILL, BORDER, CENTER
    with session_scope(app.engine) as session:
        chosen = applications_for(session, batch)
        for n, (a, folder) in enumerate(zip(chosen, dossier_folders(chosen), strict=True), start=1):
            projects = session.exec(select(ApplicationProject.name).where(
                ApplicationProject.application_id == a.id).order_by(ApplicationProject.position)).all()
            ws.append([n, a.platform_name, a.organization, a.credit_code, "、".join(p for p in projects if p),
                       folder, None, None, None, str(a.id)])
    for row in ws.iter_rows(min_row=HEADER_ROW + 1):
        for cell in row:
            cell.font, cell.border, cell.alignment = NORMAL, BORDER, WRAP
    for index, label in enumerate(PANEL_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = WIDTHS[label]
    key_col = get_column_letter(PANEL_COLUMNS.index(COL_KEY) + 1)
    ws.column_dimensions[key_col].hidden = True  # the panel never needs it; the import matches rows by it
    first, end = HEADER_ROW + 1, max(ws.max_row, HEADER_ROW + 1)
    verdict_col = get_column_letter(PANEL_COLUMNS.index(COL_VERDICT) + 1)
    score_col = get_column_letter(PANEL_COLUMNS.index(COL_SCORE) + 1)
    choose = DataValidation(type="list", formula1='"' + ",".join(VERDICTS) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="结论", error=f"请从列表中选择：{'/'.join(VERDICTS)}",
                            promptTitle="结论", prompt="/".join(VERDICTS), showInputMessage=True)
    choose.add(f"{verdict_col}{first}:{verdict_col}{end}")
    score = DataValidation(type="decimal", operator="between", formula1="0", formula2=str(MAX_SCORE),
                           allow_blank=True, showErrorMessage=True, errorTitle="得分",
                           error=f"得分须为 0–{MAX_SCORE} 的数字")
    score.add(f"{score_col}{first}:{score_col}{end}")
    ws.add_data_validation(choose)
    ws.add_data_validation(score)
    ws.freeze_panes = f"C{first}"
    fit_row_heights(ws, first_row=first)
    ws.row_dimensions[HEADER_ROW].height = 22
    for number in range(first, ws.max_row + 1):
        dimension = ws.row_dimensions[number]
        dimension.height = max(dimension.height or 0, MIN_ROW_POINTS)
    printable(ws, panel_title(batch), landscape=True, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")
    ws.print_area = f"A1:{get_column_letter(len(PANEL_COLUMNS) - 1)}{end}"
    ws.oddFooter.left.text = "评审专家签字："
    ws.oddFooter.left.font = FONT_NAME
    return wb


def export_panel_sheet(app: App, batch: str, out: str | Path) -> Path:
    import io

    wb = build_panel_workbook(app, batch)
    buffer = io.BytesIO()
    wb.save(buffer)
    target = Path(out)
    try:
        return write_atomically(target, buffer.getvalue())
    except OSError as exc:
        raise WorkbookNotWritable(f"{target}: cannot write / 无法写入: {exc}") from exc

