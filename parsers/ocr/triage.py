"""Which attachments go to the OCR worker, and the task it runs: light imports only.

The sandbox's parent (the daemon) imports this module, never ``parsers.ocr.scan``:
numpy, OpenCV, onnxruntime and the models are loaded in the OCR child only.
"""

from __future__ import annotations

import datetime as dt

from parsers.analysis import AttachmentAnalysis

SCANNER_STAMP_CHARS = 60  # a PDF with less text than this is treated as a scan


def needs_ocr(analysis: AttachmentAnalysis) -> bool:
    """Did the ordinary reader get nothing out of a picture or a text-less PDF that may be a form?

    Pictures the name files as construction, operation or content material
    (screenshots of the platform, photos of a classroom) are not read: only
    what may be the basic form, a weekly report or a licence is worth OCR."""
    if analysis.format not in ("image", "pdf") or analysis.problems:
        return False
    if analysis.application is not None or analysis.weekly is not None:
        return False
    if analysis.format == "pdf" and len(analysis.text_excerpt.strip()) >= SCANNER_STAMP_CHARS:
        return False  # a typed PDF; a scan may carry a line of text (an app's "扫描全能王 创建" watermark)
    category = getattr(analysis.material, "category", None)
    return category in (None, "basic_form", "credentials")


def ocr_task(data: bytes, filename: str, mail_date: dt.date, limits, converter) -> AttachmentAnalysis:
    """The OCR worker's task (``parsers.ocr.scan.ocr_attachment``, imported in the child only)."""
    from parsers.ocr.scan import ocr_attachment

    return ocr_attachment(data, filename, mail_date, limits, converter)


def _ocr_pages_read() -> int:
    """Pages this OCR worker has read so far (the sandbox retires it after ``Limits.ocr_pages_per_worker``)."""
    import sys

    engine = sys.modules.get("parsers.ocr.engine")
    return engine.pages_read() if engine is not None else 0


ocr_task.pages_read = _ocr_pages_read  # type: ignore[attr-defined]  # read by the sandbox worker after each task
