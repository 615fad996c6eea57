"""The OCR task: a scanned PDF or a photo in, an ``AttachmentAnalysis`` with the form's values out.

Runs in the OCR sandbox child only (``parsers.sandbox`` sends it the scans the
ordinary reader found no text in). Each page is straightened, turned upright
when it was fed sideways or upside down (``orientation``), read by OCR on
its red channel, cut into the cells of its ruled grid; the pages together
become a ``Document`` and the ordinary form parsers read it, so a scan is read
with the same labels as a typed form. Then every value gets the confidence of
the cell it came from, and values that cannot be trusted are listed for staff:
a confidence under ``CONFIDENCE_THRESHOLD``, a credit code whose check
character fails (after a search of the whole page for a valid one), a phone
number, e-mail address, web address or headcount that is not well formed.
"""

from __future__ import annotations

import datetime as dt
import logging

from parsers.analysis import AttachmentAnalysis, analyze_document, memory_problem
from parsers.document import Document
from parsers.formats.detect import detect_format
from parsers.formats.errors import FormatError
from parsers.formats.limits import Limits
from parsers.validators import credit_code_valid, email_valid, phone_problem, url_valid

from .engine import ink_channel
from .image import load_image, load_pdf_pages, straighten
from .layout import ReadPage, read_layout
from .licence import find_credit_codes, read_licence
from .orientation import read_upright
from .seal import page_has_seal

log = logging.getLogger(__name__)

CONFIDENCE_THRESHOLD = 0.9
APPLICATION_FIELDS = ("platform_name", "website", "organization", "credit_code", "contact", "contact_title",
                      "phone", "email", "address", "intro")
WEEKLY_FIELDS = ("city", "period_text", "filled_by", "phone")


def page_limit_problem(filename: str, count: int, limit: int) -> str:
    return (f"附件“{filename}”为扫描件，共 {count} 页，只自动识别了前 {limit} 页，其中未找到基本情况表或统计表；"
            "请将表格页单独扫描发送")


def ocr_attachment(data: bytes, filename: str, mail_date: dt.date, limits: Limits | None = None,
                   converter: object = None) -> AttachmentAnalysis:
    """Read a scan or photo by OCR; never raises for bad input (the sandbox task signature)."""
    limits = limits or Limits()
    fmt = "image"
    try:
        fmt = "pdf" if detect_format(data, filename) == "pdf" else "image"
        if fmt == "pdf":
            pages, count = load_pdf_pages(data, filename, limits.ocr_max_pages, limits.ocr_max_pixels)
        else:
            pages, count = [load_image(data, filename, limits.ocr_max_pixels)], 1
    except FormatError as exc:
        log.info("scan %r refused: %s", filename, exc)
        return AttachmentAnalysis(filename=filename, format=fmt, problems=[exc.problem])
    except MemoryError:
        return AttachmentAnalysis(filename=filename, format=fmt,
                                  problems=[memory_problem(filename, limits.address_space_mb)])
    read_pages = []
    seals: list[bool | None] = []
    licence = None
    for page in pages:
        page = straighten(page)
        try:
            page, boxes, _turned = read_upright(page)  # a page fed sideways or upside down, turned upright
        except Exception as exc:  # onnxruntime reports an allocation failure as its own exception type
            if "bad_alloc" in str(exc) or "allocat" in str(exc).lower():
                log.warning("scan %r: OCR out of memory on page %d", filename, page.number)
                return AttachmentAnalysis(filename=filename, format=fmt,
                                          problems=[memory_problem(filename, limits.address_space_mb)])
            raise
        read_pages.append(read_layout(page.number, ink_channel(page.rgb), boxes))
        seals.append(page_has_seal(page))
        if licence is None:
            licence = read_licence(boxes)
        del page
    document = Document(format=fmt, tables=[t for p in read_pages for t in p.tables],
                        text="\n".join(p.text for p in read_pages))
    analysis = analyze_document(document, filename, mail_date)
    analysis.scanned = analysis.application is not None or analysis.weekly is not None
    analysis.stamped = _stamped(seals)
    analysis.licence = licence
    if analysis.application is not None:
        _score_application(analysis, read_pages)
    if analysis.weekly is not None:
        _score_weekly(analysis, read_pages)
    if count > len(pages) and not analysis.scanned and licence is None:
        analysis.problems.append(page_limit_problem(filename, count, len(pages)))
    return analysis


def _stamped(seals: list[bool | None]) -> bool | None:
    if any(seals):
        return True
    if not seals or any(s is None for s in seals):
        return None  # a grayscale page could carry the seal unseen
    return False


def _confidence(pages: list[ReadPage], value: str) -> float:
    found = [c for c in (p.confidence_of(value) for p in pages) if c is not None]
    return round(max(found), 3) if found else 0.0


def _flag(analysis: AttachmentAnalysis, name: str, confidence: float, well_formed: bool = True) -> None:
    analysis.ocr_fields[name] = confidence
    if (confidence < CONFIDENCE_THRESHOLD or not well_formed) and name not in analysis.low_confidence_fields:
        analysis.low_confidence_fields.append(name)


def _score_application(analysis: AttachmentAnalysis, pages: list[ReadPage]) -> None:
    app = analysis.application
    assert app is not None
    if app.credit_code and not credit_code_valid(app.credit_code):
        # the cell's reading failed its check character: a valid code elsewhere on the page wins
        codes = find_credit_codes("\n".join(b.text for p in pages for b in p.boxes))
        if codes:
            app.credit_code = codes[0]
    elif not app.credit_code:
        codes = find_credit_codes("\n".join(b.text for p in pages for b in p.boxes))
        if len(codes) == 1:
            app.credit_code = codes[0]
    checks = {
        "credit_code": credit_code_valid(app.credit_code),
        "phone": phone_problem(app.phone) is None,
        "email": email_valid(app.email),
        "website": url_valid(app.website),
    }
    for name in APPLICATION_FIELDS:
        value = getattr(app, name)
        if value:
            _flag(analysis, name, _confidence(pages, value), checks.get(name, True))
    for index, project in enumerate(app.projects):
        for name in ("name", "occupation", "format", "assessment", "source", "fee"):
            value = getattr(project, name)
            if value:
                _flag(analysis, f"projects[{index}].{name}", _confidence(pages, value))
        if project.raw_hours or project.hours is not None:
            well_formed = project.hours is not None and project.raw_hours.strip().isdigit()
            _flag(analysis, f"projects[{index}].hours", _confidence(pages, project.raw_hours), well_formed)


def _score_weekly(analysis: AttachmentAnalysis, pages: list[ReadPage]) -> None:
    report = analysis.weekly
    assert report is not None
    for name in WEEKLY_FIELDS:
        value = getattr(report, name) or ""
        if value:
            well_formed = phone_problem(value) is None if name == "phone" else True
            if name == "period_text":
                well_formed = report.week_start is not None and report.week_end is not None
            _flag(analysis, name, _confidence(pages, value), well_formed)
    for index, row in enumerate(report.rows):
        for name in ("enterprise", "platform"):
            value = getattr(row, name)
            if value:
                _flag(analysis, f"rows[{index}].{name}", _confidence(pages, value))
        well_formed = row.headcount is not None and row.raw_headcount.strip().isdigit()
        _flag(analysis, f"rows[{index}].headcount", _confidence(pages, row.raw_headcount), well_formed)
