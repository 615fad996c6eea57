"""Pages fed sideways or upside down (no EXIF to say so): found from the OCR reading itself, and turned upright.

The orientation classifier is not used (it flips bold lines of digits such as
credit codes). Instead the page's own reading is judged, which costs nothing
on an upright page:

- an upright page gives many confident lines wider than tall: kept as it is;
- otherwise the lines it found say which way to turn it: confident lines
  taller than wide (RapidOCR reads a tall box turned a quarter back, so text
  running downwards reads well) mean a page turned 90° clockwise; lines
  standing tall but read badly, a page turned 90° counter-clockwise; lines
  lying wide but read badly, a page upside down. The page is turned and read
  again (the layout needs upright lines: a tall box of two digits is not read
  well sideways); when that reading is not upright either, the other sideways
  turn is tried, and the best reading stands (a page with little text, a photo
  that is not a form);
- a page where nothing looks like text is read once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .engine import OcrBox, recognize
from .image import Page

GOOD_SCORE = 0.8  # a line read with this confidence counts as read
MIN_CHARS = 3  # shorter lines say little about their direction (a single character is square)
MIN_LINES = 4  # a page with fewer confident lines than this is not judged upright from them
ELONGATED = 1.3  # a line's long side over its short side


def _votes(boxes: list[OcrBox]) -> tuple[int, int]:
    """Confident lines of a few characters that lie wide, and that stand tall."""
    wide = tall = 0
    for box in boxes:
        if box.score < GOOD_SCORE or len(box.text) < MIN_CHARS:
            continue
        width, height = box.x1 - box.x0, box.y1 - box.y0
        if width >= ELONGATED * height:
            wide += 1
        elif height >= ELONGATED * width:
            tall += 1
    return wide, tall


def judge(boxes: list[OcrBox]) -> str:
    """"upright", "clockwise" (the page was turned 90° clockwise: text runs downwards) or "unknown"."""
    wide, tall = _votes(boxes)
    if wide >= MIN_LINES and wide >= 3 * tall:
        return "upright"
    if tall >= MIN_LINES and tall >= 3 * wide:
        return "clockwise"
    return "unknown"


def _shapes(boxes: list[OcrBox]) -> tuple[int, int]:
    """All lines found, whatever their reading: how many lie wide and how many stand tall."""
    wide = sum(1 for b in boxes if b.x1 - b.x0 >= ELONGATED * (b.y1 - b.y0))
    tall = sum(1 for b in boxes if b.y1 - b.y0 >= ELONGATED * (b.x1 - b.x0))
    return wide, tall


def _turns_to_try(boxes: list[OcrBox]) -> tuple[int, ...]:
    """Quarter turns counter-clockwise that may make the page upright, the likeliest first."""
    if judge(boxes) == "clockwise":
        return (1,)  # text running downwards, read well: turned 90° clockwise, turn it back
    wide, tall = _shapes(boxes)
    if tall > wide:
        return (3, 1)  # lines standing tall but read badly: text running upwards
    return (2, 3)  # lines lying wide but read badly: upside down


def read_upright(page: Page, read: Callable[[np.ndarray], list[OcrBox]] = recognize
                 ) -> tuple[Page, list[OcrBox], int]:
    """The page turned upright, its OCR lines, and the turn applied (degrees counter-clockwise: 0, 90, 180, 270).

    An upright page is read once; a page the wrong way up usually twice (its first reading says how it lies)."""
    boxes = read(page.rgb)
    if judge(boxes) == "upright" or not boxes:
        return page, boxes, 0  # upright, or nothing that looks like text at all (a blank page, a picture)
    best = (_votes(boxes)[0], 0, page, boxes)
    for turns in _turns_to_try(boxes):
        rgb = np.ascontiguousarray(np.rot90(page.rgb, turns))
        turned = Page(rgb=rgb, number=page.number, grayscale=page.grayscale)
        turned_boxes = read(rgb)
        if judge(turned_boxes) == "upright":
            return turned, turned_boxes, 90 * turns
        if _votes(turned_boxes)[0] > best[0]:
            best = (_votes(turned_boxes)[0], 90 * turns, turned, turned_boxes)
    _score, degrees, page, boxes = best
    return page, boxes, degrees
