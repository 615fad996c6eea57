"""SpreadsheetML 2003 (Excel "XML Spreadsheet") saved with a .xls name; parsed with defusedxml."""

from __future__ import annotations

import logging
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from parsers.document import Document, Table
from parsers.formats.cells import fill_merged, format_number, trim_rows
from parsers.formats.errors import CorruptFileError, LimitExceededError, UnsafeContentError
from parsers.formats.limits import Limits

log = logging.getLogger(__name__)

SS = "{urn:schemas-microsoft-com:office:spreadsheet}"


def read_xml_xls(data: bytes, filename: str, limits: Limits) -> Document:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeContentError(filename, type(exc).__name__) from exc
    except ParseError as exc:
        raise CorruptFileError(filename, "xls-xml", str(exc)) from exc
    tables = []
    for index, ws in enumerate(root.iter(f"{SS}Worksheet"), start=1):
        name = ws.get(f"{SS}Name") or f"Sheet{index}"
        table = ws.find(f"{SS}Table")
        rows: list[list[str]] = []
        merges: list[tuple[int, int, int, int]] = []
        if table is not None:
            rows, merges = _read_table(table, name, filename, limits)
        fill_merged(rows, merges)
        tables.append(Table(rows=trim_rows(rows), source=f"sheet '{name}'"))
    return Document(format="xls-xml", tables=tables)


def _index(element, default: int) -> int:
    raw = element.get(f"{SS}Index")
    try:
        return int(raw) - 1 if raw else default
    except ValueError:
        return default


def _int_attr(element, name: str) -> int:
    try:
        return max(0, int(element.get(f"{SS}{name}", "0")))
    except ValueError:
        return 0


def _read_table(table, name: str, filename: str, limits: Limits):
    rows: list[list[str]] = []
    merges: list[tuple[int, int, int, int]] = []
    r = -1
    for row_el in table.iter(f"{SS}Row"):
        r = _index(row_el, r + 1)
        if r >= limits.max_rows:
            raise LimitExceededError(filename, "rows", f"工作表“{name}”超过 {limits.max_rows} 行")
        while len(rows) <= r:
            rows.append([])
        row = rows[r]
        c = -1
        for cell in row_el.iter(f"{SS}Cell"):
            c = _index(cell, c + 1)
            if c >= limits.max_columns:
                break
            text = _data_text(cell.find(f"{SS}Data"))
            if len(row) <= c:
                row.extend([""] * (c + 1 - len(row)))
            row[c] = text
            across, down = _int_attr(cell, "MergeAcross"), _int_attr(cell, "MergeDown")
            if across or down:
                merges.append((r, c, r + down, c + across))
                if across:  # the covered cells have no <Cell> of their own; keep the grid aligned
                    row.extend([""] * (c + across + 1 - len(row)))
            c += across
    return rows, merges


def _data_text(data) -> str:
    if data is None:
        return ""
    text = "".join(data.itertext()).strip()
    kind = data.get(f"{SS}Type", "String")
    if kind == "Number":
        try:
            return format_number(float(text))
        except ValueError:
            return text
    if kind == "DateTime":
        date, _, time = text.partition("T")
        time = time.split(".")[0]
        return date if time in ("", "00:00:00") else f"{date} {time}"
    if kind == "Boolean":
        return "TRUE" if text in ("1", "true") else "FALSE"
    return text
