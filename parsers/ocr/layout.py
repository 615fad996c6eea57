"""From OCR boxes to the form's grid: the cells of its ruled table, with the text read in each.

The form parsers (``parsers.application``, ``parsers.weekly``) find labels and
their values in a ``Document``; here a page becomes one: the ruling lines are
found with morphology (long thin dark runs), the spaces they enclose are the
cells, cells line up into rows and columns (a merged cell repeats its text in
every position it covers, as the readers of typed files do), and the OCR boxes
are put into the cell holding their centre. Text outside any table becomes
lines of running text (the weekly form's 地市名称/填报人 lines, titles, notes).

Every cell keeps the lowest OCR score of its boxes: ``ReadPage.confidence_of``
gives a field value the confidence of the cell it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from parsers.document import Table
from parsers.labels import squash

from .engine import OcrBox


@dataclass
class Cell:
    x0: int
    y0: int
    x1: int
    y1: int
    boxes: list[OcrBox] = field(default_factory=list)

    @property
    def text(self) -> str:
        return join_lines(self.boxes)

    @property
    def score(self) -> float:
        return min((b.score for b in self.boxes), default=1.0)


@dataclass
class ReadPage:
    """What OCR and the grid made of one page."""

    number: int
    boxes: list[OcrBox]
    tables: list[Table]
    text: str
    pieces: list[tuple[str, float]]  # (squashed text, confidence) of every cell and free line, for look-ups

    def confidence_of(self, value: str) -> float | None:
        """The confidence of the cell or line a value was read from (None: not found on this page)."""
        key = squash(value)
        if not key:
            return None
        found = [(len(text), score) for text, score in self.pieces if key in text]
        if not found:
            return None
        return min(found)[1]  # the smallest piece holding the value: its own cell, not a whole line


def join_lines(boxes: list[OcrBox]) -> str:
    """Boxes of one cell in reading order: lines top to bottom, boxes left to right within a line."""
    lines = group_lines(boxes)
    out = []
    for line in lines:
        out.append(" ".join(b.text for b in sorted(line, key=lambda b: b.x0)))
    return "\n".join(out)


def group_lines(boxes: list[OcrBox]) -> list[list[OcrBox]]:
    """Boxes whose vertical centres lie within half a text height of each other form one line."""
    lines: list[list[OcrBox]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        if lines:
            last = lines[-1]
            mean = sum(b.cy for b in last) / len(last)
            height = max(sum(b.height for b in last) / len(last), box.height)
            if abs(box.cy - mean) < height * 0.5:
                last.append(box)
                continue
        lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def find_cells(gray: np.ndarray) -> list[Cell]:
    """The cells of every ruled table on the page (empty list when there are no ruling lines)."""
    import cv2

    h, w = gray.shape
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 12)
    horizontal = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(20, w // 25), 1)))
    vertical = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(20, h // 60))))
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(cv2.bitwise_not(lines), connectivity=4)
    cells: list[Cell] = []
    min_w, min_h = w // 60, h // 120
    for index in range(1, count):
        x, y, cw, ch, area = stats[index]
        if x <= 1 or y <= 1 or x + cw >= w - 1 or y + ch >= h - 1:
            continue  # touches the page edge: the space around the tables
        if cw < min_w or ch < min_h or cw > w * 0.98 or area < 0.5 * cw * ch:
            continue
        cells.append(Cell(int(x), int(y), int(x + cw), int(y + ch)))
    return cells


def _cluster(values: list[int], tolerance: int) -> list[int]:
    out: list[int] = []
    for value in sorted(values):
        if not out or value - out[-1] > tolerance:
            out.append(value)
    return out


def _tables_from_cells(cells: list[Cell], tolerance: int) -> list[list[Cell]]:
    """Cells grouped into tables: cells that touch (share a ruling line) are in the same table."""
    parent = list(range(len(cells)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(cells):
        for j in range(i + 1, len(cells)):
            if _touch(a, cells[j], tolerance):
                parent[root(i)] = root(j)
    groups: dict[int, list[Cell]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(root(i), []).append(cell)
    return sorted(groups.values(), key=lambda g: min(c.y0 for c in g))


def _touch(a: Cell, b: Cell, tol: int) -> bool:
    return a.x0 <= b.x1 + tol and b.x0 <= a.x1 + tol and a.y0 <= b.y1 + tol and b.y0 <= a.y1 + tol


def _grid(cells: list[Cell], tolerance: int) -> list[list[str]]:
    rows = _cluster([c.y0 for c in cells], tolerance)
    cols = _cluster([c.x0 for c in cells], tolerance)
    grid = [[""] * len(cols) for _ in rows]
    for cell in cells:
        text = cell.text
        for r, y in enumerate(rows):
            if cell.y0 - tolerance <= y < cell.y1 - tolerance:
                for c, x in enumerate(cols):
                    if cell.x0 - tolerance <= x < cell.x1 - tolerance:
                        grid[r][c] = text
    return grid


def read_layout(number: int, gray: np.ndarray, boxes: list[OcrBox]) -> ReadPage:
    """The page's tables (from its ruling lines) and running text (everything outside the tables)."""
    cells = find_cells(gray)
    tolerance = max(4, gray.shape[1] // 150)
    free: list[OcrBox] = []
    for box in boxes:
        home = next((c for c in cells if c.x0 - 2 <= box.cx <= c.x1 + 2 and c.y0 - 2 <= box.cy <= c.y1 + 2), None)
        if home is None:
            free.append(box)
        else:
            home.boxes.append(box)
    tables: list[Table] = []
    pieces: list[tuple[str, float]] = []
    for group in _tables_from_cells(cells, tolerance):
        if len(group) < 2:
            free.extend(group[0].boxes)
            continue
        tables.append(Table(rows=_grid(group, tolerance), source=f"page {number}"))
        pieces += [(squash(c.text), c.score) for c in group if c.boxes]
    text_lines = []
    for line in group_lines(free):
        text_lines.append("  ".join(b.text for b in line))
        pieces += [(squash(b.text), b.score) for b in line]
        pieces.append((squash("".join(b.text for b in line)), min(b.score for b in line)))
    return ReadPage(number=number, boxes=boxes, tables=tables, text="\n".join(text_lines), pieces=pieces)
