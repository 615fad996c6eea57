"""The expert panel's verdicts: the sheet they return (`zxjyck panel import`) and the console's edits.

The panel sheet (written by ingest/outputs/panel_sheet.py) has one row per complete application
of a batch and a hidden 申报编号 column naming it. The panel fills 评审意见, 得分 and 结论 and
returns the file, often after opening it in WPS or LibreOffice: columns moved, a 备注 column
added, numbers saved as text, labels with spaces. Columns are found by their header label,
rows by 申报编号 (or, when that column is gone, by 统一社会信用代码). A row that names no
application, or whose values are not acceptable, is refused with its row number and the
reason; the others are recorded. Importing the same sheet again changes nothing.

Every change is audited (ingest/workflows/staff.py) in the transaction that makes it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from ingest.app import App
from ingest.workflows.staff import InvalidInput, StaffActionError, UnknownRecord, _audit, _note
from store.db import session_scope
from store.models import VERDICTS, Application, PanelVerdict

# The panel sheet's columns, in the order written; the import finds them by these labels.
COL_NO, COL_PLATFORM, COL_ORG, COL_CODE = "序号", "平台名称", "运营机构", "统一社会信用代码"
COL_PROJECTS, COL_FOLDER = "主要培训项目", "评审材料文件夹"
COL_OPINION, COL_SCORE, COL_VERDICT, COL_KEY = "评审意见", "得分", "结论", "申报编号"
PANEL_COLUMNS = (COL_NO, COL_PLATFORM, COL_ORG, COL_CODE, COL_PROJECTS, COL_FOLDER, COL_OPINION, COL_SCORE,
                 COL_VERDICT, COL_KEY)
MAX_SCORE = 100
MAX_ROWS = 2000
MAX_SHEET_BYTES = 20 * 1024 * 1024


class PanelSheetError(StaffActionError):
    """The returned panel sheet cannot be read at all (not an xlsx, no header row, no 结论 column)."""


@dataclass
class PanelImport:
    """What one import did: rows recorded, changed, already so, left blank, and refused (with why)."""

    recorded: list[int] = field(default_factory=list)  # application ids with a first verdict
    changed: list[int] = field(default_factory=list)  # application ids whose verdict changed
    unchanged: int = 0
    blank: int = 0  # rows the panel left without a verdict
    refused: list[str] = field(default_factory=list)  # "第7行：…" lines

    @property
    def nothing_changed(self) -> bool:
        return not self.recorded and not self.changed


def header_key(text: Any) -> str:
    """A header cell as compared: NFKC, without what is in brackets ("得分（百分制）"), spaces and marks such
    as * or ：, Latin case folded."""
    flat = unicodedata.normalize("NFKC", str(text or ""))
    marks = r"[\s*:：()\[\]【】]+"
    outside = re.sub(marks, "", re.sub(r"[(\[【][^)\]】]*[)\]】]", "", flat))
    return (outside or re.sub(marks, "", flat)).casefold()


def _cell_text(value: Any, normalize: bool = True) -> str:
    """A cell as text; ``normalize``: NFKC (full-width digits and letters as ASCII) for codes, keys and verdicts,
    not for the panel's own words."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return (unicodedata.normalize("NFKC", text) if normalize else text).strip()


def parse_verdict(value: Any) -> str | None:
    """The 结论 as written ("入选", " 不入选 ", "补充材料后再议"); None when empty; InvalidInput otherwise."""
    text = re.sub(r"\s+", "", _cell_text(value))
    if not text:
        return None
    if text in VERDICTS:
        return text
    raise InvalidInput(f"结论“{text[:40]}”不是{'/'.join(VERDICTS)}之一 / the verdict must be one of the list")


def parse_score(value: Any) -> float | None:
    """The 得分: a number from 0 to 100 ("85", 85.5, "85分"); None when empty; InvalidInput otherwise."""
    if isinstance(value, bool):
        raise InvalidInput("得分须为 0–100 的数字 / the score must be a number from 0 to 100")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = re.sub(r"\s+", "", _cell_text(value)).removesuffix("分")
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput(f"得分“{text[:20]}”不是数字 / the score is not a number") from None
    if not 0 <= number <= MAX_SCORE or number != number:
        raise InvalidInput(f"得分 {number:g} 不在 0–{MAX_SCORE} 之间 / the score must be from 0 to {MAX_SCORE}")
    return round(number, 2)


# ---------------------------------------------------------------- reading the returned sheet


@dataclass(frozen=True)
class SheetRow:
    number: int  # as the spreadsheet numbers it
    values: dict[str, Any]  # known column label -> cell value
    extra: dict[str, str]  # the panel's own columns (备注 …) -> text


def read_sheet(path: str | Path) -> list[SheetRow]:
    """The data rows of the first sheet that has a 结论 header, with their values by column label."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    target = Path(path)
    if not target.is_file():
        raise PanelSheetError(f"{target}: 找不到该文件 / no such file")
    try:
        if target.stat().st_size > MAX_SHEET_BYTES:
            raise PanelSheetError(f"{target.name}: 文件过大 / the file is too large")
        wb = load_workbook(target, read_only=True, data_only=True)
    except (OSError, BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise PanelSheetError(f"{target.name}: 无法读取为 xlsx 工作簿（请另存为 .xlsx）/ not a readable xlsx "
                              f"workbook: {exc.__class__.__name__}") from exc
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(max_row=MAX_ROWS + 20, values_only=True)
            for index, cells in enumerate(rows, start=1):
                keys = [header_key(c) for c in cells]
                if header_key(COL_VERDICT) in keys and index <= 20:
                    return _data_rows(cells, keys, rows, index)
                if index > 20:
                    break
    finally:
        wb.close()
    raise PanelSheetError(f"{target.name}: 找不到含“{COL_VERDICT}”列的表头 / no header row with a "
                          f"“{COL_VERDICT}” column")


def _data_rows(header: tuple, keys: list[str], rows, header_number: int) -> list[SheetRow]:
    known = {header_key(label): label for label in PANEL_COLUMNS}
    columns: dict[int, str] = {}
    extra: dict[int, str] = {}
    for col, (cell, key) in enumerate(zip(header, keys, strict=True)):
        if key in known and known[key] not in columns.values():
            columns[col] = known[key]
        elif key:
            extra[col] = _cell_text(cell, normalize=False)[:40]
    if COL_KEY not in columns.values() and COL_CODE not in columns.values():
        raise PanelSheetError(f"表头既无“{COL_KEY}”也无“{COL_CODE}”列，无法对应申报 / neither the key nor "
                              "the credit code column is there: rows cannot be matched")
    found = []
    for number, cells in enumerate(rows, start=header_number + 1):
        if number > header_number + MAX_ROWS:
            raise PanelSheetError(f"超过 {MAX_ROWS} 行 / more than {MAX_ROWS} rows")
        values = {label: cells[col] for col, label in columns.items() if col < len(cells)}
        notes = {name: _cell_text(cells[col], normalize=False) for col, name in extra.items()
                 if col < len(cells) and _cell_text(cells[col])}
        if any(_cell_text(v) for v in values.values()) or notes:
            found.append(SheetRow(number, values, notes))
    return found


# ---------------------------------------------------------------- recording


def _match(session: Session, row: SheetRow, seen: set[int]) -> Application:
    key = _cell_text(row.values.get(COL_KEY))
    code = re.sub(r"\s+", "", _cell_text(row.values.get(COL_CODE))).upper()
    application = None
    if key:
        if not key.isdigit() or len(key) > 12:
            raise UnknownRecord(f"申报编号“{key[:20]}”不是本系统导出的编号 / not a key this service wrote")
        application = session.get(Application, int(key))
        if application is None:
            raise UnknownRecord(f"申报编号 {key} 没有对应的申报 / no application with this key")
        if code and application.credit_code and code != application.credit_code.upper():
            raise UnknownRecord(f"申报编号 {key} 对应的信用代码是 {application.credit_code}，与本行的 {code[:30]} "
                                "不符 / the key and the credit code name different applications")
    elif code:
        application = session.exec(select(Application).where(Application.credit_code == code)).first()
        if application is None:
            raise UnknownRecord(f"统一社会信用代码 {code[:30]} 没有对应的申报 / no application with this credit code")
    else:
        raise UnknownRecord("本行没有申报编号，也没有统一社会信用代码 / neither a key nor a credit code")
    if not application.complete or not application.batch:
        raise UnknownRecord(f"申报 {application.id} 材料未齐，未列入评审批次 / the application is not in a batch")
    if application.id in seen:
        raise InvalidInput(f"申报 {application.id} 在表中出现不止一次，以第一次为准 / the application appears twice")
    return application


def _write(session: Session, app: App, actor: str, application: Application, verdict: str, score: float | None,
           opinion: str, remarks: str, panel_date: date, via: str) -> str:
    """Record one verdict; returns "recorded", "changed" or "unchanged" (the date alone changes nothing)."""
    row = session.get(PanelVerdict, application.id)
    if row is not None and (row.verdict, row.score, row.opinion, row.remarks) == (verdict, score, opinion, remarks):
        return "unchanged"
    before = f"{row.verdict}（{row.score if row.score is not None else '—'}）" if row is not None else "-"
    if row is None:
        row = PanelVerdict(application_id=application.id, batch=application.batch, verdict=verdict,
                           panel_date=panel_date, recorded_by=actor[:255], recorded_at=app.now())
    row.batch, row.verdict, row.score, row.opinion, row.remarks = application.batch, verdict, score, opinion, remarks
    row.panel_date, row.recorded_by, row.recorded_at = panel_date, actor[:255], app.now()
    session.add(row)
    _audit(session, app.now(), actor, "panel_verdict",
           f"application {application.id} ({application.batch}): {before} -> {verdict}"
           f"（{score if score is not None else '—'}），评审日期 {panel_date.isoformat()}，{via}")
    return "changed" if before != "-" else "recorded"


def import_panel_sheet(app: App, actor: str, path: str | Path, panel_date: date | None = None) -> PanelImport:
    """Record the verdicts of a returned panel sheet (rows refused are listed, the others recorded)."""
    rows = read_sheet(path)
    day = panel_date or app.settings.schedule.calendar().local_date(app.now())
    result = PanelImport()
    with session_scope(app.engine) as session:
        seen: set[int] = set()
        for row in rows:
            try:
                verdict = parse_verdict(row.values.get(COL_VERDICT))
                score = parse_score(row.values.get(COL_SCORE))
                opinion = _note(_cell_text(row.values.get(COL_OPINION), normalize=False))
                application = _match(session, row, seen)
                if verdict is None:
                    if score is not None or opinion:
                        raise InvalidInput(f"填了得分或评审意见但没有结论（{'/'.join(VERDICTS)}）/ no verdict")
                    result.blank += 1
                    continue
            except StaffActionError as exc:
                result.refused.append(f"第{row.number}行：{exc}")
                continue
            seen.add(application.id)
            remarks = _note("\n".join(f"{name}：{text}" for name, text in row.extra.items()))
            outcome = _write(session, app, actor, application, verdict, score, opinion, remarks, day,
                             f"评审表 {Path(path).name} 第{row.number}行")
            if outcome == "unchanged":
                result.unchanged += 1
            else:
                (result.recorded if outcome == "recorded" else result.changed).append(application.id)
        _audit(session, app.now(), actor, "panel_import",
               f"{Path(path).name}: {len(result.recorded)} recorded, {len(result.changed)} changed, "
               f"{result.unchanged} unchanged, {result.blank} blank, {len(result.refused)} refused")
    return result


def set_verdict(app: App, actor: str, application_id: int, verdict: str, score: str = "", opinion: str = "",
                panel_date: date | None = None) -> str:
    """A verdict entered or corrected in the console; returns "recorded", "changed" or "unchanged"."""
    chosen = parse_verdict(verdict)
    if chosen is None:
        raise InvalidInput(f"请选择结论：{'/'.join(VERDICTS)} / choose a verdict")
    number = parse_score(score)
    day = panel_date or app.settings.schedule.calendar().local_date(app.now())
    with session_scope(app.engine) as session:
        application = session.get(Application, application_id)
        if application is None:
            raise UnknownRecord(f"找不到编号为 {application_id} 的申报 / no application with id {application_id}")
        if not application.complete or not application.batch:
            raise InvalidInput(f"申报 {application_id} 材料未齐，未列入评审批次 / the application is not in a batch")
        existing = session.get(PanelVerdict, application_id)
        remarks = existing.remarks if existing is not None else ""
        return _write(session, app, actor, application, chosen, number, _note(opinion), remarks, day, "控制台")

