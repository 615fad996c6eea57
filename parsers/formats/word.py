"""docx through python-docx: paragraphs in reading order, every table as a grid.

Grids are built from the table XML directly (one pass per table) instead of
``Table.rows[i].cells``, which recomputes the whole layout for every row
(quadratic on long tables). gridSpan (horizontal merge) and vMerge (vertical
merge) put the merged cell's text in each grid position it covers, once.
Nested tables become tables of their own, after their parent.
"""

from __future__ import annotations

import io
import logging
import zipfile

import docx
import lxml.etree
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from parsers.document import Document, Table
from parsers.formats.cells import trim_rows
from parsers.formats.errors import CorruptFileError, LimitExceededError, UnsafeContentError
from parsers.formats.limits import Limits
from parsers.formats.ooxml import UnzipBudget, check_zip_safety

log = logging.getLogger(__name__)

W_TBL, W_TR, W_TC, W_P = qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:p")
W_SDT, W_SDT_CONTENT = qn("w:sdt"), qn("w:sdtContent")
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
# text frames and text boxes: DrawingML (wps:txbx, in mc:Choice) and VML (v:textbox), as LibreOffice, WPS and
# Word write them; the VML copy in mc:Fallback repeats the DrawingML one and is skipped
_FRAME_CONTENT = lxml.etree.XPath(".//w:txbxContent[not(ancestor::mc:Fallback)]",
                                  namespaces={"w": qn("w:p")[1:].split("}")[0], "mc": MC_NS})


def _blocks(container):
    """The paragraphs and tables of a body or cell in order, looking inside content controls (w:sdt)."""
    for child in container.iterchildren():
        if child.tag in (W_P, W_TBL):
            yield child
        elif child.tag == W_SDT:
            content = child.find(W_SDT_CONTENT)
            if content is not None:
                yield from _blocks(content)


def read_docx(data: bytes, filename: str, limits: Limits, budget: UnzipBudget) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_safety(zf, filename, limits, budget)
            _refuse_entity_declarations(zf, filename)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, lxml.etree.XMLSyntaxError, OSError, EOFError) as exc:
        raise CorruptFileError(filename, "docx", f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError, InvalidXmlError ...
        if type(exc).__module__.startswith("docx"):
            raise CorruptFileError(filename, "docx", f"{type(exc).__name__}: {exc}") from exc
        raise
    lines: list[str] = []
    tables: list[Table] = []
    _read_blocks(document.element.body, document, lines, tables, filename, limits, depth=0)
    text = "\n".join(lines)
    return Document(format="docx", tables=tables, text=text[: limits.max_text_chars])


def _read_blocks(container, document, lines: list[str], tables: list[Table], filename: str, limits: Limits,
                 depth: int) -> None:
    """Paragraphs and tables in reading order; a paragraph's text frames and text boxes follow it."""
    for child in _blocks(container):
        if child.tag == W_P:
            text = Paragraph(child, document).text.strip()
            if text:
                lines.append(text)
            if depth < 2:  # a frame inside a frame's frame is as deep as any form goes
                for frame in _FRAME_CONTENT(child):
                    _read_blocks(frame, document, lines, tables, filename, limits, depth + 1)
        elif child.tag == W_TBL:
            _collect_table(child, document, tables, filename, limits, nested_in=None)


def _refuse_entity_declarations(zf: zipfile.ZipFile, filename: str) -> None:
    """python-docx's parser never expands entities, but a DOCTYPE in a docx is always hostile."""
    for name in ("word/document.xml",):
        try:
            with zf.open(name) as fh:
                head = fh.read(4096)
        except KeyError:
            return
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise UnsafeContentError(filename, "DOCTYPE in word/document.xml")


def _collect_table(tbl, document, out: list[Table], filename: str, limits: Limits, nested_in: int | None) -> None:
    index = len(out) + 1
    slot = len(out)
    out.append(Table(rows=[], source=f"table {index}" + (f" (in table {nested_in})" if nested_in else "")))
    rows, nested = _table_grid(tbl, filename, limits)
    out[slot].rows = rows
    for inner in nested:
        _collect_table(inner, document, out, filename, limits, nested_in=index)


def _cell_text(tc) -> str:
    """The cell's own paragraphs (nested tables are read separately)."""
    return "\n".join(_paragraph_text(p) for p in _blocks(tc) if p.tag == W_P).strip()


def _paragraph_text(p) -> str:
    out = []
    for el in p.iter(qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")):
        if el.tag == qn("w:t"):
            out.append(el.text or "")
        elif el.tag == qn("w:tab"):
            out.append("\t")
        else:
            out.append("\n")
    return "".join(out)


def _table_grid(tbl, filename: str, limits: Limits):
    trs = list(tbl.iterchildren(W_TR))
    if len(trs) > limits.max_rows:
        raise LimitExceededError(filename, "rows", f"Word 表格超过 {limits.max_rows} 行")
    grid: list[list[str]] = []
    nested: list = []
    for tr in trs:
        col = tr.grid_before if hasattr(tr, "grid_before") else 0
        row = [""] * col
        for tc in tr.iterchildren(W_TC):
            span = max(1, min(getattr(tc, "grid_span", 1) or 1, limits.max_columns))
            vmerge = getattr(tc, "vMerge", None)
            if vmerge == "continue" and grid:
                above = grid[-1]
                text = above[col] if col < len(above) else ""
            else:
                text = _cell_text(tc)
            nested.extend(b for b in _blocks(tc) if b.tag == W_TBL)
            for _ in range(span):
                if col >= limits.max_columns:
                    break
                row.append(text)
                col += 1
        grid.append(row)
    return trim_rows(grid), nested
