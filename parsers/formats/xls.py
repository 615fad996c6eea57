"""Legacy .xls (BIFF) through xlrd; WPS .et files that are really BIFF go through here too."""

from __future__ import annotations

import datetime as dt
import logging
import os
import struct

import xlrd
from xlrd.compdoc import CompDocError

from parsers.document import Document, Table
from parsers.formats.cells import (
    fill_merged,
    format_datetime,
    format_number,
    format_value,
    hidden_sheet_note,
    trim_rows,
)
from parsers.formats.errors import CorruptFileError, EncryptedFileError, LimitExceededError
from parsers.formats.limits import Limits, columns_note

log = logging.getLogger(__name__)


def _open_book(data: bytes):
    """formatting_info=True is what makes xlrd read the MERGEDCELLS records; some writers' formatting
    records trip it, so a second try reads the values without merges rather than nothing."""
    logfile = open(os.devnull, "w")  # noqa: SIM115 - xlrd writes warnings to a file object
    try:
        return xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True, logfile=logfile)
    except xlrd.biffh.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise
        log.info("xlrd with formatting_info failed (%s); reading values only", exc)
    except (AssertionError, IndexError, KeyError, ValueError, struct.error) as exc:
        log.info("xlrd with formatting_info failed (%s); reading values only", exc)
    return xlrd.open_workbook(file_contents=data, formatting_info=False, on_demand=True, logfile=logfile)


def read_xls(data: bytes, filename: str, limits: Limits, fmt: str = "xls") -> Document:
    try:
        book = _open_book(data)
    except xlrd.biffh.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise EncryptedFileError(filename, fmt) from exc
        raise CorruptFileError(filename, fmt, str(exc)) from exc
    except (CompDocError, AssertionError, IndexError, KeyError, ValueError, struct.error, EOFError) as exc:
        raise CorruptFileError(filename, fmt, f"{type(exc).__name__}: {exc}") from exc
    limited: list[str] = []
    try:
        tables = []
        notes: list[str] = []
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            if sheet.visibility:  # 1 hidden, 2 very hidden: not a submission
                notes.append(hidden_sheet_note(sheet.name, "veryHidden" if sheet.visibility == 2 else "hidden"))
                book.unload_sheet(index)
                continue
            tables.append(_read_sheet(sheet, book.datemode, filename, limits))
            if sheet.ncols > limits.max_columns:
                limited.append(columns_note(filename, sheet.name, limits.max_columns))
            book.unload_sheet(index)
    except (xlrd.biffh.XLRDError, CompDocError, AssertionError, IndexError, KeyError, ValueError,
            struct.error, EOFError) as exc:
        raise CorruptFileError(filename, fmt, f"{type(exc).__name__}: {exc}") from exc
    finally:
        book.release_resources()
    return Document(format=fmt, tables=tables, problems=list(limited), limited=limited, notes=notes)


def _read_sheet(sheet, datemode: int, filename: str, limits: Limits) -> Table:
    if sheet.nrows > limits.max_rows:
        raise LimitExceededError(filename, "rows", f"工作表“{sheet.name}”超过 {limits.max_rows} 行")
    ncols = min(sheet.ncols, limits.max_columns)
    rows = []
    for r in range(sheet.nrows):
        row = sheet.row(r)[:ncols]
        rows.append([_cell_text(cell, datemode) for cell in row])
    merges = [(rlo, clo, rhi - 1, chi - 1) for rlo, rhi, clo, chi in sheet.merged_cells]
    fill_merged(rows, merges)
    return Table(rows=trim_rows(rows), source=f"sheet '{sheet.name}'")


def _cell_text(cell, datemode: int) -> str:
    ctype = cell.ctype
    if ctype == xlrd.XL_CELL_DATE:
        try:
            value = xlrd.xldate.xldate_as_datetime(cell.value, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return format_number(cell.value)
        if cell.value < 1:  # a pure time of day
            return format_datetime(value.time())
        return format_datetime(value if value.time() != dt.time(0) else value.date())
    if ctype == xlrd.XL_CELL_NUMBER:
        return format_number(cell.value)
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if cell.value else "FALSE"
    if ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    return format_value(cell.value)
