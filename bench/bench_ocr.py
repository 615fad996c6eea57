"""Seconds per A4 page of OCR: the service's scan reading next to the bare RapidOCR call on the same page.

    python bench/bench_ocr.py [--repeat 3] [--files basic_form_stamped.pdf,basic_form_photo.jpg,...]

For each scan or photo in fixtures/attachments/scans/ (build them with
``python fixtures/build_scans.py``) three figures, best of ``--repeat``:

- floor: ``RapidOCR()(page)`` with library defaults except use_cls off and one thread, on the page image the
  service reads (rendered, straightened) — what any OCR of that page costs;
- pipeline: ``parsers.ocr.scan.ocr_attachment`` in this process (render/decode, straighten, OCR on the red
  channel, grid, seal, licence, the form parsers, confidences);
- sandbox: ``Sandbox.analyze`` as the daemon calls it (ordinary reader, then a fresh OCR worker: process
  start, imports and model loading included).

Prints a table; no asserts. The issue's goal is 5 s wall per A4 page on two cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

from bench.common import print_table  # noqa: E402
from parsers.ocr.engine import engine  # noqa: E402
from parsers.ocr.image import load_image, load_pdf_pages, straighten  # noqa: E402
from parsers.ocr.scan import ocr_attachment  # noqa: E402
from parsers.sandbox import Limits, Sandbox  # noqa: E402

SCANS = ROOT / "fixtures" / "attachments" / "scans"
MAIL_DATE = dt.date(2020, 2, 24)
DEFAULT_FILES = "basic_form_stamped.pdf,basic_form_photo.jpg,weekly_scan.pdf,licence_scan.jpg"


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def page_image(name: str, data: bytes):
    limits = Limits()
    if name.endswith(".pdf"):
        pages, _count = load_pdf_pages(data, name, 1, limits.ocr_max_pixels)
        page = pages[0]
    else:
        page = load_image(data, name, limits.ocr_max_pixels)
    return straighten(page).rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", default=DEFAULT_FILES)
    args = parser.parse_args()
    rows = []
    ocr = engine()
    with Sandbox() as sandbox:
        for name in args.files.split(","):
            data = (SCANS / name).read_bytes()
            rgb = page_image(name, data)
            height, width = rgb.shape[:2]
            floor = best(lambda rgb=rgb: ocr(rgb, use_cls=False), args.repeat)
            pipeline = best(lambda data=data, name=name: ocr_attachment(data, name, MAIL_DATE), args.repeat)
            boxed = best(lambda data=data, name=name: sandbox.analyze(data, name, MAIL_DATE), args.repeat)
            rows.append((name, f"{width}×{height}", f"{floor:.2f}", f"{pipeline:.2f}", f"{boxed:.2f}",
                         f"{pipeline / floor:.2f}"))
    print_table(["file (1 page)", "pixels", "floor s", "pipeline s", "sandbox s", "pipeline/floor"],
                rows, title=f"OCR seconds per A4 page, best of {args.repeat} (cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
