"""One attachment in, everything the service wants to know about it out.

``analyze_attachment`` reads the bytes (``parsers.formats.read_document``), then
runs the form parsers on the document and on every archive member. It never
raises for bad input: a reader error becomes the sender-facing problem the
error carries; anything unexpected becomes a generic problem naming the file
and the exception type (the traceback goes to the log, not into the result).

The result is small and picklable: it carries no tables, only what the forms
yielded and a short excerpt for classification, so the sandbox's parent never
holds an attachment's expanded content.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parsers.document import Document
from parsers.formats.cells import table_text
from parsers.formats.convert import Converter
from parsers.formats.detect import detect_format
from parsers.formats.errors import FormatError, LimitExceededError
from parsers.formats.limits import Limits
from parsers.formats.reader import DEFAULT_CONVERTER, read_document

if TYPE_CHECKING:
    from parsers.application import ApplicationData
    from parsers.materials import MaterialGuess
    from parsers.ocr.licence import LicenceData
    from parsers.weekly import WeeklyReportData

log = logging.getLogger(__name__)

EXCERPT_CHARS = 2000


@dataclass
class AttachmentAnalysis:
    filename: str
    format: str
    problems: list[str] = field(default_factory=list)
    weekly: WeeklyReportData | None = None
    application: ApplicationData | None = None
    material: MaterialGuess | None = None
    text_excerpt: str = ""
    members: list[AttachmentAnalysis] = field(default_factory=list)
    # The machine failed, not the file (disk full, out of descriptors...): the message is processed again later.
    environment_error: str = ""
    environment_path: str = ""  # the folder the failed write was in, when the error names a file
    # a scan or photo read by OCR (parsers.ocr.scan):
    scanned: bool = False  # the form's values came from OCR of a scan or photo
    stamped: bool | None = None  # red seal found on a scanned/photographed page; None: cannot tell
    # (grayscale image, or not a scan at all)
    ocr_fields: dict[str, float] = field(default_factory=dict)  # field name -> OCR confidence 0..1
    # (ApplicationData / WeeklyReportData attribute; a weekly row's as "rows[3].headcount", 0-based)
    low_confidence_fields: list[str] = field(default_factory=list)  # under the threshold, or failing
    # a GB 32100-2015 check character or a phone/number/e-mail pattern: staff confirm them
    licence: LicenceData | None = None  # a business licence read from a scan
    limited: list[str] = field(default_factory=list)  # content a limit left unread (each also in problems)
    more_weekly: list[WeeklyReportData] = field(default_factory=list)  # other cities' forms in the same file
    ocr_seconds: float | None = None  # how long the OCR worker took on it (None: not sent to OCR)
    notes: list[str] = field(default_factory=list)  # for staff: what was deliberately not read (hidden sheets)

    def walk(self):
        """This analysis and every member's, depth first."""
        yield self
        for member in self.members:
            yield from member.walk()

    @property
    def all_problems(self) -> list[str]:
        return [problem for analysis in self.walk() for problem in analysis.problems]


# errno values of a full disk or an exhausted machine while reading an attachment: not the sender's fault
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def internal_error_problem(filename: str, exc: BaseException) -> str:
    return f"附件“{filename}”无法解析（内部错误：{type(exc).__name__}）"


def memory_problem(filename: str, limit_mb: int) -> str:
    return f"附件“{filename}”解析超出内存限制（{limit_mb} MB），请检查文件是否损坏，或精简、拆分后重新发送"


def timeout_problem(filename: str, seconds: float) -> str:
    return f"附件“{filename}”解析超时（超过 {seconds:.0f} 秒），请检查文件是否损坏，或精简、拆分后重新发送"


def analyze_attachment(data: bytes, filename: str, mail_date: dt.date, limits: Limits | None = None,
                       converter: Converter | None | object = DEFAULT_CONVERTER) -> AttachmentAnalysis:
    """Read ``data`` and run every form parser on it; never raises for bad input."""
    limits = limits or Limits()
    try:
        document = read_document(data, filename, limits, converter)
    except FormatError as exc:
        log.info("attachment %r refused: %s", filename, exc)
        analysis = _unreadable(data, filename, exc.problem, getattr(exc, "fmt", None))
        if isinstance(exc, LimitExceededError):
            analysis.limited.append(exc.problem)
        return analysis
    except MemoryError:
        log.warning("attachment %r: out of memory while reading", filename)
        return _unreadable(data, filename, memory_problem(filename, limits.address_space_mb))
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            log.exception("attachment %r: unexpected error while reading", filename)
            return _unreadable(data, filename, internal_error_problem(filename, exc))
        log.warning("attachment %r: %s while reading; the message will be processed again", filename, exc)
        where = os.path.dirname(os.fsdecode(exc.filename)) if exc.filename else ""
        return AttachmentAnalysis(filename, "unknown", environment_path=where,
                                  environment_error=f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}")
    except Exception as exc:  # noqa: BLE001 - untrusted input must never crash the caller
        log.exception("attachment %r: unexpected error while reading", filename)
        return _unreadable(data, filename, internal_error_problem(filename, exc))
    return analyze_document(document, filename, mail_date)


def _unreadable(data: bytes, filename: str, problem: str, fmt: str | None = None) -> AttachmentAnalysis:
    try:
        fmt = fmt or detect_format(data, filename)
    except Exception:  # noqa: BLE001 - detection of a broken file may fail too
        fmt = "unknown"
    analysis = AttachmentAnalysis(filename=filename, format=fmt, problems=[problem])
    analysis.material = _guarded(analysis, "classify_material", filename, None)
    return analysis


def analyze_document(document: Document, filename: str, mail_date: dt.date) -> AttachmentAnalysis:
    """The form parsers on an already read Document (and its archive members, recursively)."""
    analysis = AttachmentAnalysis(
        filename=filename,
        format=document.format,
        problems=list(document.problems),
        text_excerpt=document_excerpt(document),
        limited=list(document.limited),
        notes=list(document.notes),
    )
    if document.tables or document.text:
        reports = _guarded(analysis, "parse_weekly_by_city", document, mail_date) or []
        analysis.weekly = reports[0] if reports else None
        analysis.more_weekly = reports[1:]
        analysis.application = _guarded(analysis, "parse_application", document)
    if document.format != "zip":
        analysis.material = _guarded(analysis, "classify_material", filename, document)
    for name, member in document.members:
        analysis.members.append(analyze_document(member, name, mail_date))
    return analysis


def document_excerpt(document: Document, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of the running text, then of the tables."""
    parts: list[str] = []
    size = 0
    for chunk in [document.text] + [table_text(t) for t in document.tables]:
        if not chunk:
            continue
        parts.append(chunk[: limit - size])
        size += len(parts[-1]) + 1
        if size >= limit:
            break
    return "\n".join(parts)[:limit]


def _form_function(name: str):
    """The form parsers, imported when first needed (they live in their own modules)."""
    if name == "parse_weekly_by_city":
        from parsers.weekly import parse_weekly_by_city

        return parse_weekly_by_city
    if name == "parse_application":
        from parsers.application import parse_application

        return parse_application
    from parsers.materials import classify_material

    return classify_material


def _guarded(analysis: AttachmentAnalysis, name: str, *args: Any):
    """Run one form parser; an exception becomes a generic problem on ``analysis``."""
    try:
        return _form_function(name)(*args)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the other results
        log.exception("%s failed on %r", name, analysis.filename)
        problem = internal_error_problem(analysis.filename, exc)
        if problem not in analysis.problems:
            analysis.problems.append(problem)
        return None
