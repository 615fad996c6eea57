"""xlsx / xlsm through openpyxl, streamed.

Design: the package is opened by openpyxl's ``ExcelReader`` in read-only mode
(bounded memory, no need to trust the <dimension> element, which WPS writes
wrong). It loads the shared-strings table -- where Excel, WPS and LibreOffice
keep every text cell -- and each sheet's XML is streamed once through
openpyxl's own ``WorkSheetParser`` fed with that table. That one pass yields
the sparse cells *and* the <mergeCells> that read-only mode otherwise drops, so
merged titles are filled the same way for a 10-row form and a 100,000-row
export, without a second parse or the (much slower, all-in-memory) normal mode.

``WorkSheetParser`` is not openpyxl's documented surface: the tests read the
weekly and application forms as written by every writer we can run (Excel's
layout via xlsxwriter, LibreOffice, openpyxl, WPS-like and Excel-like
hand-made packages) so a change in it shows at once.
"""

from __future__ import annotations

import io
import logging
import zipfile
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.escape import unescape
from openpyxl.worksheet._reader import WorkSheetParser

from parsers.document import Document, Table
from parsers.formats.cells import fill_merged, format_datetime, format_value, hidden_sheet_note, trim_rows
from parsers.formats.errors import CorruptFileError, LimitExceededError, UnsafeContentError
from parsers.formats.limits import Limits, columns_note
from parsers.formats.ooxml import UnzipBudget, check_zip_safety

log = logging.getLogger(__name__)

# Built-in number formats that Excel localises as dates/times in zh/ja/ko but
# openpyxl's BUILTIN_FORMATS does not know (it reports them as "General").
LOCALE_DATE_FORMAT_IDS = frozenset({27, 28, 29, 30, 31, 36, 50, 51, 52, 53, 54, 57, 58})
LOCALE_TIME_FORMAT_IDS = frozenset({32, 33, 34, 35, 55, 56})

READ_ERRORS = (zipfile.BadZipFile, KeyError, IndexError, ParseError, ValueError, TypeError, OSError, EOFError)

if not openpyxl.DEFUSEDXML:  # pragma: no cover - defusedxml is a declared dependency
    log.warning("openpyxl is not using defusedxml; XML entity attacks are not blocked")


def read_xlsx(data: bytes, filename: str, limits: Limits, budget: UnzipBudget) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_safety(zf, filename, limits, budget)
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(filename, "xlsx", str(exc)) from exc
    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
        reader.read()
    except DefusedXmlException as exc:
        raise UnsafeContentError(filename, type(exc).__name__) from exc
    except READ_ERRORS as exc:
        raise _corrupt_or_unsafe(exc, filename) from exc
    wb = reader.wb
    try:
        limited: list[str] = []
        visible = [ws for ws in wb.worksheets if getattr(ws, "sheet_state", "visible") in (None, "visible")]
        notes = [hidden_sheet_note(ws.title, ws.sheet_state) for ws in wb.worksheets if ws not in visible]
        tables = [_read_sheet(wb, ws, reader.shared_strings, filename, limits, limited) for ws in visible]
    except DefusedXmlException as exc:
        raise UnsafeContentError(filename, type(exc).__name__) from exc
    except READ_ERRORS as exc:
        # IndexError: a cell refers to a shared string the table does not have
        raise _corrupt_or_unsafe(exc, filename) from exc
    finally:
        wb.close()
    return Document(format="xlsx", tables=tables, problems=list(limited), limited=limited, notes=notes)


def _corrupt_or_unsafe(exc: BaseException, filename: str) -> Exception:
    """openpyxl wraps parser errors in ValueError: look down the chain for defusedxml's refusal."""
    seen = exc
    for _ in range(10):
        if isinstance(seen, DefusedXmlException):
            return UnsafeContentError(filename, type(seen).__name__)
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return CorruptFileError(filename, "xlsx", f"{type(exc).__name__}: {exc}")


def _read_sheet(wb, ws, shared_strings: list[str], filename: str, limits: Limits, limited: list[str]) -> Table:
    styles = wb._cell_styles
    with wb._archive.open(ws._worksheet_path) as src:
        parser = WorkSheetParser(
            src,
            shared_strings,
            data_only=True,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
        rows = _collect_rows(parser, styles, wb.epoch, ws.title, filename, limits, limited)
    merges = _merge_ranges(parser)
    fill_merged(rows, merges)
    return Table(rows=trim_rows(rows), source=f"sheet '{ws.title}'")


def _collect_rows(parser, styles, epoch, title: str, filename: str, limits: Limits,
                  limited: list[str]) -> list[list[str]]:
    rows: list[list[str]] = []
    cut = False
    for row_idx, cells in parser.parse():
        row: list[str] = []
        for cell in cells:
            col = cell["column"]
            if col > limits.max_columns:
                cut = cut or cell["value"] not in (None, "")
                continue
            text = _cell_text(cell, styles, epoch)
            if text == "":
                continue
            if row_idx > limits.max_rows:
                raise LimitExceededError(filename, "rows", f"工作表“{title}”超过 {limits.max_rows} 行")
            if len(row) < col:
                row.extend([""] * (col - len(row)))
            row[col - 1] = text
        if row:
            if len(rows) < row_idx - 1:
                rows.extend([] for _ in range(row_idx - 1 - len(rows)))
            if len(rows) < row_idx:
                rows.append(row)
            else:  # a row element repeated out of order: merge into the existing one
                _merge_into(rows[row_idx - 1], row)
    if cut:
        limited.append(columns_note(filename, title, limits.max_columns))
    return rows


def _merge_into(target: list[str], row: list[str]) -> None:
    if len(target) < len(row):
        target.extend([""] * (len(row) - len(target)))
    for i, value in enumerate(row):
        if value:
            target[i] = value


def _cell_text(cell: dict, styles, epoch) -> str:
    value = cell["value"]
    if isinstance(value, int | float) and not isinstance(value, bool) and cell["style_id"]:
        fmt_id = _num_fmt_id(styles, cell["style_id"])
        if fmt_id in LOCALE_DATE_FORMAT_IDS or fmt_id in LOCALE_TIME_FORMAT_IDS:
            converted = _locale_serial(value, epoch, fmt_id)
            if converted:
                return converted
    if isinstance(value, str) and "_x" in value:
        value = unescape(value)  # Excel writes a CR (and other control characters) as _x000D_
    return format_value(value)


def _num_fmt_id(styles, style_id: int) -> int | None:
    try:
        return styles[style_id].numFmtId
    except (IndexError, AttributeError):
        return None


def _locale_serial(value: float, epoch, fmt_id: int) -> str:
    try:
        converted = from_excel(value, epoch=epoch)
    except (ValueError, OverflowError, TypeError):
        return ""
    if converted is None:
        return ""
    if fmt_id in LOCALE_TIME_FORMAT_IDS:
        if hasattr(converted, "time"):
            converted = converted.time()
        return format_datetime(converted)
    if hasattr(converted, "date"):
        converted = converted.date()
    return format_datetime(converted)


def _merge_ranges(parser) -> list[tuple[int, int, int, int]]:
    merged = parser.merged_cells
    if not merged:
        return []
    ranges = []
    for mc in merged.mergeCell:
        try:
            min_col, min_row, max_col, max_row = range_boundaries(mc.ref)
        except (ValueError, TypeError):
            continue
        if None in (min_col, min_row, max_col, max_row):
            continue
        ranges.append((min_row - 1, min_col - 1, max_row - 1, max_col - 1))
    return ranges
