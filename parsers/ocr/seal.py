"""Is the page stamped with a company seal (公章)?

A seal is a red ring (an ellipse once photographed at an angle) whose inside
is mostly empty paper, with text along the ring and a five-pointed star at the
centre. The red-hue mask finds red ink; each red blob large enough to be a
seal gets an ellipse fitted to its outline, and three things are checked:
red all around the ring, little red between the star and the ring's text, and
a solid red centre. A red pen circle (no star), red text or a red logo (no
ring with an empty inside) is not a seal. A grayscale page cannot show red:
the answer is then None (cannot tell), never False.
"""

from __future__ import annotations

import math

import numpy as np

from .image import Page

RING_MIN = 0.7  # share of the ring's angles that carry red ink
INTERIOR_MAX = 0.12  # share of red in the band between the star and the ring text
CENTRE_MIN = 0.12  # share of red in the centre (the star)


def red_mask(rgb: np.ndarray) -> np.ndarray:
    """Red ink, faded ink included: red hue, some saturation, not too dark."""
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    red = ((hue <= 10) | (hue >= 165)) & (sat >= 60) & (val >= 70)
    return red.astype(np.uint8) * 255


def page_has_seal(page: Page) -> bool | None:
    if page.grayscale or page.rgb.ndim == 2:
        return None
    return bool(find_seals(page.rgb))


def find_seals(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(cx, cy, width, height) of every seal on the page."""
    import cv2

    h, w = rgb.shape[:2]
    mask = red_mask(rgb)
    if cv2.countNonZero(mask) < 200:
        return []
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _h = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    short = min(h, w)
    seals = []
    for contour in contours:
        if len(contour) < 20:
            continue
        x, y, cw, ch = cv2.boundingRect(contour)
        if not (short * 0.08 <= max(cw, ch) <= short * 0.6) or min(cw, ch) < 0.6 * max(cw, ch):
            continue
        (cx, cy), (ew, eh), angle = cv2.fitEllipse(contour)
        if min(ew, eh) < 0.6 * max(ew, eh):
            continue
        if _looks_like_seal(mask, cx, cy, ew / 2, eh / 2, math.radians(angle)):
            seals.append((cx, cy, ew, eh))
    return seals


def _looks_like_seal(mask: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float) -> bool:
    ring = _ring_coverage(mask, cx, cy, a, b, angle)
    interior = _area_share(mask, cx, cy, a, b, angle, 0.32, 0.5)
    centre = _area_share(mask, cx, cy, a, b, angle, 0.0, 0.22)
    return ring >= RING_MIN and interior <= INTERIOR_MAX and centre >= CENTRE_MIN


def _ring_coverage(mask: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float) -> float:
    """Share of 180 directions in which red ink lies on the outer ring (between 0.85 and 1.02 of the radius)."""
    h, w = mask.shape
    hits = 0
    for k in range(180):
        t = 2 * math.pi * k / 180
        found = False
        for r in np.linspace(0.85, 1.02, 8):
            ex, ey = a * r * math.cos(t), b * r * math.sin(t)
            x = int(round(cx + ex * math.cos(angle) - ey * math.sin(angle)))
            y = int(round(cy + ex * math.sin(angle) + ey * math.cos(angle)))
            if 0 <= x < w and 0 <= y < h and mask[y, x]:
                found = True
                break
        hits += found
    return hits / 180


def _area_share(mask: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float,
                inner: float, outer: float) -> float:
    """Share of red pixels in the elliptic band between ``inner`` and ``outer`` (fractions of the radii)."""
    h, w = mask.shape
    x0, x1 = max(0, int(cx - max(a, b))), min(w, int(cx + max(a, b)) + 1)
    y0, y1 = max(0, int(cy - max(a, b))), min(h, int(cy + max(a, b)) + 1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - cx, yy - cy
    u = (dx * math.cos(angle) + dy * math.sin(angle)) / max(a, 1)
    v = (-dx * math.sin(angle) + dy * math.cos(angle)) / max(b, 1)
    radius = np.sqrt(u * u + v * v)
    band = (radius >= inner) & (radius < outer)
    if not band.any():
        return 0.0
    return float((mask[y0:y1, x0:x1][band] > 0).mean())
