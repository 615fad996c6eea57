"""read_document: detect the format from the bytes, then hand the bytes to that format's reader."""

from __future__ import annotations

import csv
import io
import logging
import zipfile

from parsers.document import Document, Table
from parsers.formats.archive import read_zip
from parsers.formats.cells import trim_rows
from parsers.formats.convert import CONVERSION_TARGET, Converter, default_converter
from parsers.formats.detect import detect_format, extension
from parsers.formats.encryption import is_encrypted_ole
from parsers.formats.errors import (
    CorruptFileError,
    EmptyFileError,
    EncryptedFileError,
    FormatError,
    LimitExceededError,
    UnsupportedFormatError,
)
from parsers.formats.html_xls import decode_markup, read_html_xls
from parsers.formats.limits import Limits, human_size
from parsers.formats.ooxml import UnzipBudget
from parsers.formats.pdf import read_pdf
from parsers.formats.word import read_docx
from parsers.formats.xls import read_xls
from parsers.formats.xlsx import read_xlsx
from parsers.formats.xml_xls import read_xml_xls

log = logging.getLogger(__name__)

# a file that carries one of these names but whose bytes are none of our formats is a broken document
DOCUMENT_EXTENSIONS = ("xlsx", "xlsm", "xls", "et", "docx", "doc", "wps", "pdf", "zip")
DEFAULT_CONVERTER = object()  # read_document's default: LibreOffice when installed


class _Reading:
    """State shared while reading one attachment and everything nested in it."""

    def __init__(self, limits: Limits, converter: Converter | None):
        self.limits = limits
        self.converter = converter
        self.budget = UnzipBudget(limits)

    def read(self, data: bytes, filename: str, depth: int) -> Document:
        if not data:
            raise EmptyFileError(filename)
        if len(data) > self.limits.max_attachment_bytes:
            raise LimitExceededError(
                filename, "attachment_size",
                f"{human_size(len(data))}，上限 {human_size(self.limits.max_attachment_bytes)}",
            )
        fmt = detect_format(data, filename)
        if is_encrypted_ole(data):
            raise EncryptedFileError(filename, extension(filename) or fmt)
        log.debug("reading %r as %s (%d bytes, depth %d)", filename, fmt, len(data), depth)
        return self._dispatch(fmt, data, filename, depth)

    def _dispatch(self, fmt: str, data: bytes, filename: str, depth: int) -> Document:
        limits = self.limits
        if fmt == "xlsx":
            return read_xlsx(data, filename, limits, self.budget)
        if fmt == "docx":
            return read_docx(data, filename, limits, self.budget)
        if fmt == "xls":
            return read_xls(data, filename, limits)
        if fmt == "xls-html":
            return read_html_xls(data, filename, limits)
        if fmt == "xls-xml":
            return read_xml_xls(data, filename, limits)
        if fmt == "pdf":
            return read_pdf(data, filename, limits)
        if fmt == "zip":
            return read_zip(data, filename, limits, self.budget, depth + 1,
                            lambda content, name: self.read(content, name, depth + 1))
        if fmt == "text":
            return read_text(data, filename, limits)
        if fmt in ("doc", "wps", "et", "rtf", "odf", "xlsb"):
            return self._read_legacy(fmt, data, filename, depth)
        if fmt == "unknown" and extension(filename) in DOCUMENT_EXTENSIONS:
            raise CorruptFileError(filename, extension(filename), "content matches no known format")
        return Document(format=fmt)

    def _read_legacy(self, fmt: str, data: bytes, filename: str, depth: int) -> Document:
        """WPS/old Office formats: the native reader when one fits, else LibreOffice, else a problem."""
        if fmt == "et":
            try:
                return read_xls(data, filename, self.limits, fmt="et")
            except FormatError as exc:
                log.info("%r is not BIFF inside (%s); trying conversion", filename, exc)
        target = CONVERSION_TARGET[fmt] or _odf_target(data)
        if self.converter is None or not target:
            raise UnsupportedFormatError(filename, extension(filename) or fmt)
        converted = self.converter(data, filename, fmt, target)
        document = self._dispatch(target, converted, filename, depth)
        document.format = fmt
        return document


def _odf_target(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            mimetype = zf.read("mimetype")[:100]
    except (zipfile.BadZipFile, KeyError, OSError):
        return ""
    if b"spreadsheet" in mimetype:
        return "xlsx"
    if b"text" in mimetype:
        return "docx"
    return ""


def read_text(data: bytes, filename: str, limits: Limits) -> Document:
    """Plain text; a .csv (or .txt with tabs/commas on every line) also as a table."""
    text = decode_markup(data)[: limits.max_text_chars]
    tables = []
    if extension(filename) in ("csv", "tsv"):
        dialect = "excel-tab" if extension(filename) == "tsv" or "\t" in text[:2000] else "excel"
        rows = []
        for i, row in enumerate(csv.reader(io.StringIO(text), dialect=dialect)):
            if i >= limits.max_rows:
                raise LimitExceededError(filename, "rows", f"超过 {limits.max_rows} 行")
            rows.append([c.strip() for c in row[: limits.max_columns]])
        tables.append(Table(rows=trim_rows(rows), source="csv"))
    return Document(format="text", tables=tables, text=text)


def read_document(data: bytes, filename: str, limits: Limits | None = None,
                  converter: Converter | None | object = DEFAULT_CONVERTER) -> Document:
    """Read one attachment into a Document.

    Raises a FormatError subclass (a ParserError) when the file cannot be read:
    EmptyFileError, CorruptFileError, UnsupportedFormatError, EncryptedFileError,
    UnsafeContentError, LimitExceededError, ConversionError. Images, rar, 7z and
    unknown files are returned unparsed (``Document(format=...)``).
    ``converter`` defaults to LibreOffice when installed; pass None to refuse legacy formats.
    """
    limits = limits or Limits()
    if converter is DEFAULT_CONVERTER:
        converter = default_converter(limits.conversion_timeout_s, limits.max_attachment_bytes,
                                      limits.conversion_address_space_mb)
    try:
        return _Reading(limits, converter).read(data, filename, depth=0)
    except RecursionError as exc:
        raise CorruptFileError(filename, detect_format(data, filename), "nesting too deep") from exc
