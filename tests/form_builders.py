"""Helpers for the form parser tests: Documents built from grids of strings."""

from __future__ import annotations

from parsers.document import Document, Table


def table(rows: list[list[str]], source: str = "sheet 'Sheet1'") -> Table:
    return Table(rows=[list(r) for r in rows], source=source)


def doc(*tables: Table, text: str = "", fmt: str = "xlsx") -> Document:
    return Document(format=fmt, tables=list(tables), text=text)


def merged(value: str, width: int) -> list[str]:
    """A row whose merged range repeats its value in every covered cell."""
    return [value] * width
