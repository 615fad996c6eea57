"""Page images from an untrusted scan or photo: capped, decoded, straightened, deskewed.

An image's pixel count is checked from its header before any pixel is
decoded (Pillow's decompression-bomb limit is set to the same cap), a PDF page
is rendered at about 200 dpi (never above the resolution of the scan inside
it), and only the first ``max_pages`` pages of a PDF are read. Photos are
straightened: the sheet's outline (the largest bright quadrilateral) is
warped to a flat rectangle; what remains of a tilt is measured on the form's
long ruled lines and rotated away.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from parsers.formats.errors import CorruptFileError, LimitExceededError

MAX_SIDE = 2000  # px: about 170 dpi on A4 (RapidOCR scales anything larger down to this anyway)
TARGET_DPI = 200
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "gif")


@dataclass
class Page:
    rgb: np.ndarray  # H x W x 3 uint8, or H x W for a grayscale scan
    number: int  # 1-based
    grayscale: bool = False  # the scan carries no colour: a seal cannot be seen


def is_grayscale(rgb: np.ndarray) -> bool:
    """No colour anywhere worth the name (a grayscale scan saved as RGB counts too: its channels are equal,
    JPEG or not). A colour scanner's page always carries some tint or chroma noise, however clean the
    paper: a few levels are enough to say the page could show a red seal."""
    if rgb.ndim == 2:
        return True
    small = rgb[::4, ::4].astype(np.int16)
    spread = small.max(axis=2) - small.min(axis=2)  # 0 for a neutral gray, larger the more colourful
    tinted = float(np.percentile(spread, 99)) >= 3  # colour paper, a colour scanner's faint tint, a photo
    inked = int(np.count_nonzero(spread >= 60)) >= 40  # a few strokes of coloured ink on neutral paper
    return not (tinted or inked)


def load_image(data: bytes, filename: str, max_pixels: int) -> Page:
    """One page from JPG/PNG/... bytes; refuses a canvas over ``max_pixels`` before decoding it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        Image.MAX_IMAGE_PIXELS = None  # opening reads the header only: the size is checked here, with its numbers
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > max_pixels:
            raise _too_big(filename, width, height, max_pixels)
        Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check for whatever opens an image next
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if image.format == "JPEG" and max(width, height) > 2 * MAX_SIDE:
                image.draft("RGB", (width // 2, height // 2))  # decode a big photo at a fraction of its size
            image.load()
            image = ImageOps.exif_transpose(image)  # phones store "rotate me" in EXIF
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_big(filename, 0, 0, max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptFileError(filename, _kind(filename), f"image cannot be decoded: {type(exc).__name__}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = max_pixels
    grayscale = image.mode in ("1", "L", "LA", "I", "I;16", "F")
    image = image.convert("L" if grayscale else "RGB")
    image = _downscale(image)
    rgb = np.asarray(image)
    return Page(rgb=rgb, number=1, grayscale=grayscale or is_grayscale(rgb))


def _kind(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return ext if ext in IMAGE_EXTENSIONS else "图片"


def _too_big(filename: str, width: int, height: int, max_pixels: int) -> LimitExceededError:
    size = f"{width}×{height} 像素" if width else "像素过多"
    return LimitExceededError(filename, "image_pixels", f"{size}，上限 {max_pixels // 1_000_000} 百万像素")


def _downscale(image):
    from PIL import Image

    longest = max(image.size)
    if longest > MAX_SIDE:
        ratio = MAX_SIDE / longest
        image = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))),
                             Image.LANCZOS)
    return image


def pdf_page_count(data: bytes) -> int:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return len(document)
    finally:
        document.close()


def load_pdf_pages(data: bytes, filename: str, max_pages: int, max_pixels: int) -> tuple[list[Page], int]:
    """The first ``max_pages`` pages rendered at about 200 dpi, and the document's page count."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise CorruptFileError(filename, "pdf", f"PDF cannot be opened: {exc}") from exc
    pages: list[Page] = []
    try:
        count = len(document)
        for index in range(min(count, max_pages)):
            page = document[index]
            try:
                width_pt, height_pt = page.get_size()
                scale = TARGET_DPI / 72
                native = _embedded_image_scale(page)
                if native:
                    scale = min(scale, native)
                scale = min(scale, MAX_SIDE / max(width_pt, height_pt, 1))
                if width_pt * height_pt * scale * scale > max_pixels:
                    raise _too_big(filename, round(width_pt * scale), round(height_pt * scale), max_pixels)
                image = page.render(scale=scale).to_pil().convert("RGB")
            finally:
                page.close()
            rgb = np.asarray(image)
            pages.append(Page(rgb=rgb, number=index + 1, grayscale=is_grayscale(rgb)))
    finally:
        document.close()
    return pages, count


def _embedded_image_scale(page) -> float | None:
    """Pixels per point of the largest image on the page (a 150 dpi scan is not rendered at 200)."""
    import pypdfium2.raw as raw

    best = None
    try:
        for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=1):
            left, _bottom, right, _top = obj.get_bounds()
            width_px, _height_px = obj.get_px_size()
            if right - left > 0:
                scale = width_px / (right - left)
                if best is None or scale > best:
                    best = scale
    except Exception:  # noqa: BLE001 - a guess for speed only
        return None
    return best


def has_text_layer(data: bytes, max_pages: int = 3) -> bool:
    """Does the PDF carry text (a typed PDF), or only pictures (a scan)?"""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        for index in range(min(len(document), max_pages)):
            page = document[index]
            text = page.get_textpage()
            try:
                if text.get_text_range().strip():
                    return True
            finally:
                text.close()
                page.close()
    finally:
        document.close()
    return False


# ---------------------------------------------------------------- straightening
def straighten(page: Page) -> Page:
    """A photo's sheet warped flat, then the remaining tilt rotated away."""
    rgb = _unwarp_sheet(page.rgb)
    rgb = _deskew(rgb)
    return Page(rgb=rgb, number=page.number, grayscale=page.grayscale)


def _order_corners(points: np.ndarray) -> np.ndarray:
    s = points.sum(axis=1)
    d = np.diff(points, axis=1).ravel()
    return np.float32([points[np.argmin(s)], points[np.argmin(d)], points[np.argmax(s)], points[np.argmax(d)]])


def _unwarp_sheet(rgb: np.ndarray) -> np.ndarray:
    """Find the paper (a bright quadrilateral covering much of the picture) and warp it to a rectangle."""
    import cv2

    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    small_scale = 800 / max(h, w)
    small = cv2.resize(gray, (max(1, int(w * small_scale)), max(1, int(h * small_scale))), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(small, (5, 5), 0)
    _t, mask = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _h = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return rgb
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if area < 0.25 * small.size or area > 0.97 * small.size:
        return rgb  # no sheet on a background, or the sheet fills the picture (a scan)
    quad = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
    if len(quad) != 4:
        return rgb
    corners = _order_corners(quad.reshape(4, 2).astype(np.float32) / small_scale)
    top = np.linalg.norm(corners[1] - corners[0])
    bottom = np.linalg.norm(corners[2] - corners[3])
    left = np.linalg.norm(corners[3] - corners[0])
    right = np.linalg.norm(corners[2] - corners[1])
    out_w, out_h = int(max(top, bottom)), int(max(left, right))
    if out_w < 200 or out_h < 200:
        return rgb
    target = np.float32([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]])
    matrix = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(rgb, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def _deskew(rgb: np.ndarray) -> np.ndarray:
    """Rotate by the median angle of the long near-horizontal lines (ruled tables, underlines)."""
    import cv2

    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    edges = cv2.Canny(gray, 60, 180)
    lines = cv2.HoughLinesP(edges, 1, math.pi / 720, threshold=200, minLineLength=w // 3, maxLineGap=8)
    if lines is None:
        return rgb
    angles = []
    for x1, y1, x2, y2 in np.asarray(lines).reshape(-1, 4):
        angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
        if abs(angle) < 10:
            angles.append(angle)
    if len(angles) < 3:
        return rgb
    angle = float(np.median(angles))
    if abs(angle) < 0.2:
        return rgb
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
