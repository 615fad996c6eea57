"""RapidOCR, created once per OCR worker, run on the red channel of a page.

The models (PP-OCRv4 detection and recognition, Chinese) ship inside the
``rapidocr-onnxruntime`` wheel: nothing is downloaded. onnxruntime's
telemetry is switched off before it is imported, the orientation classifier
is off (it flips bold lines of digits such as credit codes), and one thread
runs each model (a second thread was not faster on two cores, and the
service runs one OCR worker per core).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

_engine = None
_pages_read = 0  # page images recognized by this process (the sandbox's page cap per OCR worker)


@dataclass(frozen=True)
class OcrBox:
    """One line of text found on a page (pixel coordinates of its axis-aligned bounds)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def engine():
    """The process's RapidOCR instance (loading the models takes a fraction of a second, once)."""
    global _engine
    if _engine is None:
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from rapidocr_onnxruntime import RapidOCR

        _engine = RapidOCR(use_cls=False, intra_op_num_threads=1, inter_op_num_threads=1, print_verbose=False)
    return _engine


def pages_read() -> int:
    """Page images this process has run OCR on (a page tried in a second orientation counts twice)."""
    return _pages_read


def ink_channel(rgb: np.ndarray) -> np.ndarray:
    """The red channel: black ink stays dark, red seal ink turns almost white (it fades out)."""
    if rgb.ndim == 2:
        return rgb
    return np.ascontiguousarray(rgb[..., 0])


def recognize(rgb: np.ndarray) -> list[OcrBox]:
    """Text lines on a page image (H x W x 3 RGB or H x W gray), in no particular order."""
    global _pages_read
    _pages_read += 1
    channel = ink_channel(rgb)
    result, _elapsed = engine()(np.dstack([channel] * 3), use_cls=False)
    boxes: list[OcrBox] = []
    for points, text, score in result or []:
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        text = str(text).strip()
        if text:
            boxes.append(OcrBox(min(xs), min(ys), max(xs), max(ys), text, float(score)))
    return boxes
