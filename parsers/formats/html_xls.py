"""An HTML table saved with a .xls name (Excel "web page", many OA-system exports).

lxml.html (installed with python-docx) parses tag soup the way browsers do; it
never fetches anything. The charset comes from a BOM, then <meta>, then a
UTF-8 / GB18030 guess. rowspan/colspan are expanded so a merged cell repeats
its value in every position it covers.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re

import lxml.etree
import lxml.html

from parsers.document import Document, Table
from parsers.formats.cells import trim_rows
from parsers.formats.errors import CorruptFileError, LimitExceededError
from parsers.formats.limits import Limits
from zxjyck.charsets import codec_for

log = logging.getLogger(__name__)

META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
MAX_SPAN = 1000


def decode_markup(data: bytes) -> str:
    """Bytes of an HTML/text file to str: BOM, then <meta charset>, then utf-8, then gb18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    match = META_CHARSET.search(data[:4096])
    if match:
        declared = codec_for(match.group(1))  # GB2312-labelled files often hold GBK characters: GB18030
        try:
            if declared:
                return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.debug("declared charset %s does not fit; guessing", declared)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def html_from_mhtml(data: bytes) -> str | None:
    """The first text/html part of an MHTML ("single file web page") file, decoded; None if there is none."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True) or b""
            charset = codec_for(part.get_content_charset())
            if charset:
                try:
                    return payload.decode(charset)
                except (LookupError, UnicodeDecodeError):
                    pass
            return decode_markup(payload)
    return None


def read_html_xls(data: bytes, filename: str, limits: Limits) -> Document:
    head = data[:2048].lower()
    if head.startswith(b"mime-version:") or b"multipart/related" in head:
        text = html_from_mhtml(data)
        if text is None:
            raise CorruptFileError(filename, "xls-html", "MHTML without an HTML part")
    else:
        text = decode_markup(data)
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # lxml refuses str input with an encoding declaration
    try:
        root = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise CorruptFileError(filename, "xls-html", str(exc)) from exc
    for bad in list(root.iter("script", "style")):
        if bad.getparent() is not None:
            bad.drop_tree()
    tables = []
    for index, table in enumerate(root.iter("table"), start=1):
        rows = _table_grid(table, filename, limits)
        if rows:
            tables.append(Table(rows=rows, source=f"table {index}"))
    body_text = _text_outside_tables(root)
    return Document(format="xls-html", tables=tables, text=body_text[: limits.max_text_chars])


def _own_rows(table) -> list:
    """The <tr> of this table, not of tables nested inside it."""
    return [tr for tr in table.iter("tr") if _nearest_table(tr) is table]


def _nearest_table(element):
    parent = element.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent


def _cell_text(cell) -> str:
    for br in cell.iter("br"):
        br.tail = "\n" + (br.tail or "")
    parts = []
    for piece in cell.itertext():
        parts.append(piece)
    text = "".join(parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _span(cell, name: str) -> int:
    try:
        return max(1, min(int(cell.get(name, "1")), MAX_SPAN))
    except ValueError:
        return 1


def _table_grid(table, filename: str, limits: Limits) -> list[list[str]]:
    trs = _own_rows(table)
    if len(trs) > limits.max_rows:
        raise LimitExceededError(filename, "rows", f"表格超过 {limits.max_rows} 行")
    grid: list[list[str]] = []
    pending: dict[tuple[int, int], str] = {}  # cells filled by a rowspan from above
    for r, tr in enumerate(trs):
        row: list[str] = []
        col = 0
        for cell in tr:
            if cell.tag not in ("td", "th"):
                continue
            while (r, col) in pending:
                row.append(pending.pop((r, col)))
                col += 1
            text = _cell_text(cell)
            colspan, rowspan = _span(cell, "colspan"), min(_span(cell, "rowspan"), len(trs) - r)
            for c in range(col, min(col + colspan, limits.max_columns)):
                row.append(text)
                for rr in range(r + 1, r + rowspan):
                    pending[(rr, c)] = text
            col += colspan
        while (r, col) in pending:
            row.append(pending.pop((r, col)))
            col += 1
        grid.append(row)
    return trim_rows(grid)


def _text_outside_tables(root) -> str:
    body = root.find("body")
    if body is None:
        body = root
    lines = []
    for element in body.iter():
        if element.tag in ("p", "div", "h1", "h2", "h3", "h4", "span", "font", "b") and _nearest_table(element) is None:
            own = (element.text or "").strip()
            if own:
                lines.append(own.replace("\xa0", " "))
    return "\n".join(lines)
