"""Dates and date ranges as cities write them.

``2月17日——2月23日``, ``2020.2.17-2.23``, ``2020年2月17日至23日``, ``12月28日-1月3日``,
``2020-02-17至2020-02-23``, full-width digits, spaces, weekday notes. A missing
year comes from the reference date (the mail's date): the year that puts the
range closest to it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_SEP = r"(?:-{1,3}|—{1,3}|–{1,3}|~{1,2}|～|〜|至|到|－{1,2}|_{1,2})"
_Y = r"(?P<{n}>(?:19|20)\d{{2}})\s*[年./\-]\s*"
_MD = r"(?P<{m}>\d{{1,2}})\s*[月./\-]\s*(?P<{d}>\d{{1,2}})(?!\d)\s*[日号]?"

_RANGE_RE = re.compile(
    r"(?<!\d)(?:" + _Y.format(n="y1") + r")?" + _MD.format(m="m1", d="d1")
    + r"\s*" + _SEP + r"\s*"
    + r"(?:(?:" + _Y.format(n="y2") + r")?(?P<m2>\d{1,2})\s*[月./\-]\s*)?(?P<d2>\d{1,2})(?!\d)\s*[日号]?"
)
_COMPACT_RANGE_RE = re.compile(r"(?<!\d)((?:19|20)\d{6})\s*" + _SEP + r"\s*((?:19|20)\d{6}|\d{4})(?!\d)")
# two full dates side by side with nothing between: a period typed as two date cells
_FULL = r"(?<!\d)((?:19|20)\d{2})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})(?!\d)\s*日?"
_TWO_DATES_RE = re.compile(_FULL + r"\s+" + _FULL)
_SINGLE_RE = re.compile(r"(?<!\d)(?:" + _Y.format(n="y") + r")?" + _MD.format(m="m", d="d"))
_COMPACT_SINGLE_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?!\d)")
_NOISE_RE = re.compile(
    r"[(（]\s*(?:星期|周|礼拜)[一二三四五六日天1-7]\s*[)）]"
    r"|(?:星期|礼拜)[一二三四五六日天]"
    r"|\d{1,2}\s*[:：]\s*\d{2}(?:\s*[:：]\s*\d{2})?"
    r"|\d{1,2}\s*[时点](?:\s*\d{1,2}\s*分)?"
    r"|[(（]\s*含\s*[)）]"
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _prepare(text: str) -> str:
    norm = unicodedata.normalize("NFKC", text or "")
    norm = norm.replace("\u2014", "—").replace("\u2015", "—").replace("\u2212", "-")
    norm = re.sub(r"(?<=\d)\s*T\s*(?=\d{1,2}:)", " ", norm)  # ISO 2020-02-17T00:00:00
    return _NOISE_RE.sub(" ", norm)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _years_around(ref: dt.date) -> list[int]:
    return [ref.year - 1, ref.year, ref.year + 1]


def _closest(candidates: list[tuple[dt.date, dt.date]], ref: dt.date) -> tuple[dt.date, dt.date] | None:
    """The candidate range nearest ``ref``; a range already over by ``ref`` wins a tie.

    A report is about the past: a range starting more than two weeks after the mail
    is taken only when no year puts it before (a November mail's "2月17日-23日" is
    last February, not next).
    """

    def distance(rng: tuple[dt.date, dt.date]) -> tuple[int, int, int]:
        start, end = rng
        if start <= ref <= end:
            return (0, 0, 0)
        future = 1 if (start - ref).days > 14 else 0
        gap = (start - ref).days if ref < start else (ref - end).days
        return (future, gap, 1 if ref < start else 0)

    valid = [c for c in candidates if c[0] <= c[1]]
    return min(valid, key=distance) if valid else None


def _build_range(
    y1: int | None, m1: int, d1: int, y2: int | None, m2: int | None, d2: int, ref: dt.date
) -> tuple[dt.date, dt.date] | None:
    if m2 is None:
        m2 = m1 if d2 >= d1 else m1 % 12 + 1  # 2月17日-23日; 1月28日-3日 runs into the next month
    wraps = m2 < m1 or (m2 == m1 and d2 < d1)
    candidates: list[tuple[dt.date, dt.date]] = []
    if y1 is not None and y2 is not None:
        pairs = [(y1, y2)]
    elif y1 is not None:
        pairs = [(y1, y1 + 1 if wraps else y1)]
    elif y2 is not None:
        pairs = [(y2 - 1 if wraps else y2, y2)]
    else:
        pairs = [(y, y + 1 if wraps else y) for y in _years_around(ref)]
    for ya, yb in pairs:
        start, end = _safe_date(ya, m1, d1), _safe_date(yb, m2, d2)
        if start and end:
            candidates.append((start, end))
    return _closest(candidates, ref)


def parse_date_range(text: str, ref: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first date range in ``text`` as (start, end), or None.

    ``ref`` is the mail's date; it supplies a missing year. The range is
    returned as written: checking that it is a Monday-to-Sunday week is the
    caller's business.
    """
    found = find_date_range(text, ref)
    return (found[0], found[1]) if found else None


def find_date_range(text: str, ref: dt.date) -> tuple[dt.date, dt.date, str] | None:
    """Like ``parse_date_range``, plus the (normalised) text of the range as it was found."""
    norm = _prepare(text)
    for m in _RANGE_RE.finditer(norm):
        rng = _build_range(
            int(m["y1"]) if m["y1"] else None, int(m["m1"]), int(m["d1"]),
            int(m["y2"]) if m["y2"] else None, int(m["m2"]) if m["m2"] else None, int(m["d2"]), ref,
        )
        if rng:
            return rng[0], rng[1], m.group(0).strip()
    for m in _TWO_DATES_RE.finditer(norm):
        y1, m1, d1, y2, m2, d2 = (int(g) for g in m.groups())
        rng = _build_range(y1, m1, d1, y2, m2, d2, ref)
        if rng:
            return rng[0], rng[1], m.group(0).strip()
    for m in _COMPACT_RANGE_RE.finditer(norm):
        first, second = m.group(1), m.group(2)
        y2 = int(second[:4]) if len(second) == 8 else None
        rng = _build_range(int(first[:4]), int(first[4:6]), int(first[6:8]),
                           y2, int(second[-4:-2]), int(second[-2:]), ref)
        if rng:
            return rng[0], rng[1], m.group(0).strip()
    return None


def parse_date(text: str, ref: dt.date) -> dt.date | None:
    """One date: ``2020-02-17`` (also with a time, as Excel cells arrive), ``2020年2月17日``,
    ``2月17日`` (year from ``ref``), ``2020.2.17``, ``20200217``, or an Excel serial day number."""
    norm = _prepare(text).strip()
    if re.fullmatch(r"\d{5}(?:\.\d+)?", norm):
        serial = int(float(norm))
        if 20000 <= serial <= 80000:
            return _EXCEL_EPOCH + dt.timedelta(days=serial)
        return None
    for m in _SINGLE_RE.finditer(norm):
        month, day = int(m["m"]), int(m["d"])
        if m["y"]:
            found = _safe_date(int(m["y"]), month, day)
        else:
            options = [d for y in _years_around(ref) if (d := _safe_date(y, month, day))]
            found = min(options, key=lambda d: (abs((d - ref).days), d > ref)) if options else None
        if found:
            return found
    m = _COMPACT_SINGLE_RE.search(norm)
    if m:
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


def week_problems(start: dt.date, end: dt.date) -> list[str]:
    """Chinese notes when a reporting period is not one Monday-to-Sunday week (empty when it is)."""
    problems: list[str] = []
    days = (end - start).days + 1
    if start.weekday() != 0 or end.weekday() != 6:
        problems.append(
            f"统计时间{_cn(start)}至{_cn(end)}不是周一至周日"
            f"（起始日为{_weekday(start)}，截止日为{_weekday(end)}）"
        )
    if days != 7:
        problems.append(f"统计时间{_cn(start)}至{_cn(end)}共{days}天，不是一周7天")
    return problems


def _weekday(day: dt.date) -> str:
    return "周" + "一二三四五六日"[day.weekday()]


def _cn(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
