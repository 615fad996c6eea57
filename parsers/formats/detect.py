"""Which format a file really is, from its bytes (the extension only breaks ties)."""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile

log = logging.getLogger(__name__)

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
IMAGE_MAGICS = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)
RAR_MAGIC = b"Rar!\x1a\x07"
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
SPREADSHEETML_MARKERS = (b"urn:schemas-microsoft-com:office:spreadsheet", b'progid="Excel.Sheet"')

# every format read_document knows; Document.format is one of these
FORMATS = (
    "xlsx", "xls", "xls-html", "xls-xml", "docx", "pdf", "zip", "doc", "et", "wps",
    "odf", "rtf", "xlsb", "image", "rar", "7z", "text", "unknown",
)


def extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower().lstrip(".")


def detect_format(data: bytes, filename: str) -> str:
    """The format of ``data``: magic bytes first, the file name's extension only to break ties."""
    head = data[:8192]
    ext = extension(filename)
    if not data:
        return "unknown"
    if head.startswith(ZIP_MAGICS):
        return _detect_zip_kind(data, ext)
    if head.startswith(OLE2_MAGIC):
        return _detect_ole_kind(data, ext)
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(IMAGE_MAGICS):
        return "image"
    if head.startswith(RAR_MAGIC):
        return "rar"
    if head.startswith(SEVEN_ZIP_MAGIC):
        return "7z"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    return _detect_text_kind(head)


def _detect_zip_kind(data: bytes, ext: str) -> str:
    """OOXML, OpenDocument and plain zip all start with PK: look at the member names."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        log.debug("zip directory unreadable (%s); falling back to the extension %r", exc, ext)
        return {"xlsx": "xlsx", "xlsm": "xlsx", "docx": "docx", "et": "xlsx", "wps": "docx"}.get(ext, "zip")
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "word/document.xml" in names:
        return "docx"
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return "odf"
    if "[Content_Types].xml" in names and ext in ("xlsx", "xlsm", "docx"):
        return "xlsx" if ext != "docx" else "docx"
    return "zip"


def ole_stream_names(data: bytes) -> set[str]:
    """Names of the streams in an OLE2 compound file (xlrd's reader; empty set when unreadable)."""
    from xlrd import compdoc

    try:
        doc = compdoc.CompDoc(data, logfile=open(os.devnull, "w"))  # noqa: SIM115 - xlrd wants a file
    except Exception as exc:  # noqa: BLE001 - any failure means "not a readable compound file"
        log.debug("OLE2 directory unreadable: %s", exc)
        return set()
    return {d.name for d in doc.dirlist}


def _detect_ole_kind(data: bytes, ext: str) -> str:
    names = ole_stream_names(data)
    if "EncryptionInfo" in names or "EncryptedPackage" in names:
        # a password-protected xlsx/docx is stored as an OLE2 file
        return {"docx": "docx", "doc": "docx", "wps": "docx"}.get(ext, "xlsx")
    if "Workbook" in names or "Book" in names:
        return "et" if ext == "et" else "xls"
    if "WordDocument" in names:
        return "wps" if ext == "wps" else "doc"
    if not names:  # unreadable directory (truncated): the extension is all we have
        return {"xls": "xls", "et": "et", "doc": "doc", "wps": "wps"}.get(ext, "unknown")
    return "unknown"


def _detect_text_kind(head: bytes) -> str:
    probe = _strip_bom(head)
    if b"\x00" in probe[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "unknown"
    low = probe[:4096].lower()
    if low.startswith(b"mime-version:") or (b"multipart/related" in low[:2048] and b"content-type:" in low[:2048]):
        return "xls-html"  # "single file web page" (MHTML), what Excel/WPS save as .mht or .xls
    if any(m.lower() in low for m in SPREADSHEETML_MARKERS) and b"<workbook" in low:
        return "xls-xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        low = head.decode("utf-16", errors="ignore").lower().encode("utf-8", errors="ignore")
    if re.search(rb"<(html|table|!doctype html|meta)[\s>]", low):
        return "xls-html"
    if _looks_like_text(probe):
        return "text"
    return "unknown"


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _looks_like_text(probe: bytes) -> bool:
    sample = probe[:4096]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 4:  # a character cut at the end of the sample
                text = sample[: exc.start].decode(encoding, errors="ignore")
            else:
                continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
        return controls <= len(text) // 100
    return False
