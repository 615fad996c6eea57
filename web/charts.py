"""Charts drawn on the server as inline SVG: no script, no inline style (the console's CSP allows neither),
colours as SVG presentation attributes, a viewBox so the picture scales to the page (readable at 390 px),
a title and a description (the figures themselves) for screen readers, labels in Chinese.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 400, 250
LEFT, RIGHT, TOP, BOTTOM = 54, 12, 16, 40  # the plot area's margins (axis labels live there)
INK, MUTED, GRID, BAR, LINE = "#1f2933", "#52606d", "#d9dee3", "#0b5cab", "#9c4200"


@dataclass(frozen=True)
class Point:
    week: date
    value: int


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) so that ``ticks`` steps reach ``top``."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return max(1, int(factor * power))
    return int(10 * power)


def number(value: int) -> str:
    """1234567 -> "1,234,567"; 10000 and more as 万 with one decimal when it reads better on an axis."""
    if value >= 100_000:
        return f"{value / 10_000:.0f}万" if value % 10_000 == 0 else f"{value / 10_000:.1f}万"
    return f"{value:,}"


def _week_label(week: date) -> str:
    return f"{week.month}/{week.day}"


def chart(points: Sequence[Point], *, ident: str, title: str, unit: str, kind: str = "bar") -> Markup:
    """One chart of ``points`` (oldest first) as bars or a line with dots; ``ident`` makes its ids unique."""
    n = len(points)
    top_value = max((p.value for p in points), default=0)
    step = nice_step(top_value)
    top = step * max(1, math.ceil(top_value / step))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(n, 1)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    def x(index: int) -> float:
        return LEFT + slot * index + slot / 2

    desc = "；".join(f"{p.week.month}月{p.week.day}日当周 {p.value:,} {unit}" for p in points) or "暂无数据"
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-title">{escape(title)}</title>',
             f'<desc id="{ident}-desc">{escape(desc)}</desc>']
    for value in range(0, top + 1, step):  # horizontal grid lines and the value axis
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="13" '
                     f'fill="{MUTED}">{escape(number(value))}</text>')
    every = max(1, math.ceil(n / 6))  # at most six week labels: readable on a phone
    for i, p in enumerate(points):
        if (n - 1 - i) % every == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="13" '
                         f'fill="{MUTED}">{_week_label(p.week)}</text>')
    if kind == "bar":
        width = max(2.0, slot * 0.64)
        for i, p in enumerate(points):
            parts.append(f'<rect x="{x(i) - width / 2:.1f}" y="{y(p.value):.1f}" width="{width:.1f}" '
                         f'height="{y(0) - y(p.value):.1f}" fill="{BAR}"/>')
    else:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
        if path:
            parts.append(f'<path d="{path}" fill="none" stroke="{LINE}" stroke-width="2.5"/>')
        parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="3.5" fill="{LINE}"/>'
                     for i, p in enumerate(points))
    if points:  # the latest value written out, the figure staff look for first
        last = points[-1]
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{TOP - 3}" text-anchor="end" font-size="13" font-weight="bold" '
                     f'fill="{INK}">{_week_label(last.week)}当周：{escape(number(last.value))} {escape(unit)}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="13" fill="{MUTED}">周（周一日期）</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
