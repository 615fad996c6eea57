"""Turning spreadsheet values into the Document's cell text, and grid helpers."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from parsers.document import Table


def format_number(value: float | int | Decimal) -> str:
    """120.0 -> "120", 12.5 -> "12.5", 0.1+0.2 -> "0.3"."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 9))


def format_datetime(value: dt.datetime | dt.date | dt.time | dt.timedelta) -> str:
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    return str(value)


def format_value(value: object) -> str:
    """Any cell value a library hands us, as the Document's cell text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float | Decimal):
        return format_number(value)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return format_datetime(value)
    return str(value).strip()


def trim_row(row: list[str]) -> list[str]:
    """Drop trailing empty cells."""
    end = len(row)
    while end and row[end - 1] == "":
        end -= 1
    return row[:end] if end < len(row) else row


def trim_rows(rows: list[list[str]]) -> list[list[str]]:
    """Trailing empty cells of each row and trailing empty rows go."""
    rows = [trim_row(r) for r in rows]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def fill_merged(rows: list[list[str]], ranges: list[tuple[int, int, int, int]]) -> None:
    """Repeat each range's top-left value in every cell it covers.

    ``ranges`` are 0-based inclusive (min_row, min_col, max_row, max_col). A range is
    clipped to the data actually present, so a hostile A1:XFD1048576 costs nothing.
    """
    if not rows:
        return
    last_row = len(rows) - 1
    last_col = max(len(r) for r in rows) - 1
    for r0, c0, r1, c1 in ranges:
        if r0 > last_row or c0 > last_col or r0 < 0 or c0 < 0:
            continue
        value = rows[r0][c0] if c0 < len(rows[r0]) else ""
        if value == "":
            continue
        for r in range(r0, min(r1, last_row) + 1):
            row = rows[r]
            stop = min(c1, last_col) + 1
            if len(row) < stop:
                row.extend([""] * (stop - len(row)))
            for c in range(c0, stop):
                row[c] = value


def table_text(table: Table) -> str:
    """Tab-separated lines, empty rows left out: for excerpts and text search."""
    return "\n".join("\t".join(c for c in row) for row in table.rows if any(row))


def hidden_sheet_note(title: str, state: str) -> str:
    """Why a sheet was not read: hidden (``hidden``) or very hidden (``veryHidden``) sheets are not submissions."""
    kind = "深度隐藏" if state == "veryHidden" else "隐藏"
    return (f"工作表“{title[:60]}”为{kind}工作表，未作为报表读取 / "
            f"{'very hidden' if state == 'veryHidden' else 'hidden'} sheet not read")
