"""The neutral shape every format reader produces and every form parser reads.

A reader (xlsx, xls, docx, pdf, html, zip ...) turns bytes into a ``Document``:
tables as grids of cell text plus the running text. Form parsers never see a
file format, only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """One grid of cells: a worksheet, a Word table, a table on a PDF page.

    Every cell is a ``str`` ('' when empty). Integral numbers are written
    without a decimal part ("120", not "120.0"); dates as ISO "2020-02-17".
    A merged range repeats the top-left value in every cell it covers, so a
    merged title or a label spanning two columns is found wherever one looks.
    Rows may have different lengths.
    """

    rows: list[list[str]]
    source: str = ""  # where it came from, for messages: "sheet 'Sheet1'", "table 2", "page 3"


@dataclass
class Document:
    """What a reader found in one file."""

    format: str  # detected from magic bytes: xlsx, xls, xls-html, xls-xml, docx, pdf, zip, doc, et, wps, image, rar, text, unknown
    tables: list[Table] = field(default_factory=list)
    text: str = ""  # paragraphs / page text in reading order (table text may be included)
    problems: list[str] = field(default_factory=list)  # specific, human-readable, Chinese first
    limited: list[str] = field(default_factory=list)  # content a limit left unread (each also in problems)
    notes: list[str] = field(default_factory=list)  # for staff, not a problem of the sender's: hidden sheets skipped
    members: list[tuple[str, Document]] = field(default_factory=list)  # archive members: (decoded name, document)
