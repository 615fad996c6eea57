"""A scanned attachment's page as a PNG for the console: the picture staff compare with the values OCR read.

Only pictures and PDFs are shown (a PDF by its first page, rendered by
pypdfium2); the canvas is checked against the pixel cap from the header before
anything is decoded, and the result is scaled down to ``MAX_SIDE`` pixels. The
output is always a PNG we encoded ourselves, never the sender's bytes, so the
browser cannot be led to read it as anything else.
"""

from __future__ import annotations

import io

from parsers.formats.errors import FormatError
from parsers.formats.limits import Limits
from zxjyck.errors import ZxjyckError

MAX_SIDE = 1400  # px: readable on a screen beside the values, small enough to send quickly
IMAGE_FORMATS = ("image",)
PDF_FORMATS = ("pdf",)


class NotAPicture(ZxjyckError):  # noqa: N818 - a reason, not a failure of ours
    """The attachment is neither a picture nor a PDF: there is no page to show."""


def can_show(fmt: str | None) -> bool:
    return (fmt or "") in IMAGE_FORMATS + PDF_FORMATS


def page_png(data: bytes, filename: str, fmt: str | None, limits: Limits | None = None) -> bytes:
    """The first page of ``data`` as PNG bytes; FormatError for a file that cannot be decoded within limits."""
    import pypdfium2 as pdfium
    from PIL import Image

    from parsers.formats.errors import CorruptFileError
    from parsers.ocr.image import load_image, load_pdf_pages

    limits = limits or Limits()
    if (fmt or "") in PDF_FORMATS:
        try:
            pages, _count = load_pdf_pages(data, filename, 1, limits.ocr_max_pixels)
        except pdfium.PdfiumError as exc:  # a page pdfium cannot render (opening errors are FormatErrors already)
            raise CorruptFileError(filename, "pdf", f"PDF page cannot be rendered: {exc}") from exc
        if not pages:
            raise NotAPicture(filename)
        page = pages[0]
    elif (fmt or "") in IMAGE_FORMATS:
        page = load_image(data, filename, limits.ocr_max_pixels)
    else:
        raise NotAPicture(filename)
    image = Image.fromarray(page.rgb)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


__all__ = ["FormatError", "NotAPicture", "can_show", "page_png"]
