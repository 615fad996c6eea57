"""PDF through pdfplumber, one page at a time (each page closed after use to free its caches).

Tables: the "lines" strategy first (ruled tables, what Word/Excel/WPS print);
only when a page has no ruled table, the "text" strategy (columns inferred
from word alignment). Cells are placed on a grid from their bounding boxes,
so a merged (spanning) cell repeats its text in every grid position it covers.
"""

from __future__ import annotations

import io
import logging

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.psparser import PSException
from pdfplumber.utils.exceptions import PdfminerException

from parsers.document import Document, Table
from parsers.formats.cells import trim_rows
from parsers.formats.errors import CorruptFileError, EncryptedFileError, LimitExceededError
from parsers.formats.limits import Limits
from parsers.formats.pdf_streams import stream_budget

log = logging.getLogger(__name__)

LINES_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
TEXT_SETTINGS = {"vertical_strategy": "text", "horizontal_strategy": "text", "min_words_vertical": 2}
COORD_TOLERANCE = 2.0  # points: cell edges closer than this are the same grid line


def read_pdf(data: bytes, filename: str, limits: Limits) -> Document:
    # every stream pdfminer inflates counts against one budget: a compressed bomb stops before it grows
    with stream_budget(filename, limits.max_pdf_stream_bytes) as budget:
        try:
            pdf = pdfplumber.open(io.BytesIO(data))
        except PdfminerException as exc:
            raise budget.refused or _translate(exc.args[0] if exc.args else exc, filename) from exc
        except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError, EOFError) as exc:
            raise budget.refused or CorruptFileError(filename, "pdf", f"{type(exc).__name__}: {exc}") from exc
        try:
            document = _read_pages(pdf, filename, limits)
        except PdfminerException as exc:
            raise budget.refused or _translate(exc.args[0] if exc.args else exc, filename) from exc
        except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError, EOFError, AssertionError) as exc:
            raise budget.refused or CorruptFileError(filename, "pdf", f"{type(exc).__name__}: {exc}") from exc
        finally:
            pdf.close()
        if budget.refused is not None:  # a library caught it on the way: the file is refused all the same
            raise budget.refused
        return document


def _translate(cause: object, filename: str) -> BaseException:
    """pdfplumber wraps every pdfminer error; unwrap it (a MemoryError or a limit stays what it is)."""
    if isinstance(cause, MemoryError | LimitExceededError):
        return cause
    if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
        return EncryptedFileError(filename, "pdf")
    return CorruptFileError(filename, "pdf", f"{type(cause).__name__}: {cause}")


def _read_pages(pdf, filename: str, limits: Limits) -> Document:
    pages = pdf.pages
    if len(pages) > limits.max_pdf_pages:
        raise LimitExceededError(filename, "pdf_pages", f"共 {len(pages)} 页，上限 {limits.max_pdf_pages} 页")
    texts: list[str] = []
    tables: list[Table] = []
    text_chars = 0
    for number, page in enumerate(pages, start=1):
        try:
            page_text = page.extract_text() or ""
            if text_chars < limits.max_text_chars:
                texts.append(page_text)
                text_chars += len(page_text)
            for index, rows in enumerate(_page_tables(page), start=1):
                tables.append(Table(rows=rows, source=f"page {number} table {index}"))
        finally:
            page.close()
    return Document(format="pdf", tables=tables, text="\n".join(texts)[: limits.max_text_chars])


def _page_tables(page) -> list[list[list[str]]]:
    found = page.find_tables(LINES_SETTINGS)
    by_text = not found
    if by_text:
        found = page.find_tables(TEXT_SETTINGS)
    grids = []
    for table in found:
        grid = _grid_from_cells(table)
        if by_text:  # the gaps between text lines come out as rows of empty cells
            grid = [row for row in grid if row]
        if grid:
            grids.append(grid)
    return grids


def _cluster(values: list[float]) -> list[float]:
    """Sorted distinct coordinates, merging those within COORD_TOLERANCE."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > COORD_TOLERANCE:
            out.append(v)
    return out


def _covered(lines: list[float], start: float, end: float) -> range:
    """Indexes of the grid lines a cell spanning [start, end) begins on."""
    first = min(range(len(lines)), key=lambda i: abs(lines[i] - start))
    last = first
    while last + 1 < len(lines) and lines[last + 1] < end - COORD_TOLERANCE:
        last += 1
    return range(first, last + 1)


def _grid_from_cells(table) -> list[list[str]]:
    """Grid lines are where cells *start*: a cell spanning several of them is repeated in each.

    (Using only start edges also keeps the gaps between text rows of the "text" strategy
    from becoming empty rows.)
    """
    texts = table.extract()
    placed = []  # (bbox, text)
    for row, row_texts in zip(table.rows, texts, strict=False):
        for bbox, text in zip(row.cells, row_texts, strict=False):
            if bbox is not None:
                placed.append((bbox, (text or "").strip()))
    if not placed:
        return []
    xs = _cluster([b[0] for b, _ in placed])
    ys = _cluster([b[1] for b, _ in placed])
    grid = [[""] * len(xs) for _ in ys]
    for (x0, top, x1, bottom), text in placed:
        for r in _covered(ys, top, bottom):
            for c in _covered(xs, x0, x1):
                grid[r][c] = text
    return trim_rows(grid)
