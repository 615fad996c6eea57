"""Label normalisation and label/value search shared by the form parsers.

Forms arrive with labels written every way a person can type them: ``网    址``,
``联 系 人：``, ``备案人数（人）``, full-width letters, newlines inside a cell.
Everything here works on NFKC-normalised text and never assumes a layout.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WS_RE = re.compile(r"\s+")
_CJK = "\u3400-\u9fff\uff08\uff09\u3001\u3002\uff0c"
# a line wrap between two Chinese characters, or between a figure and a Chinese character ("200\n元/人")
_WRAPPED_CJK_RE = re.compile(
    rf"(?<=[{_CJK}])[ \t\u3000]*[\r\n]+\s*(?=[{_CJK}0-9])|(?<=[0-9])[ \t\u3000]*[\r\n]+\s*(?=[{_CJK}])"
)
_BRACKET_NOTE_RE = re.compile(r"[(\[【〔][^()\[\]【】〔〕]{0,20}[)\]】〕]")
_LEAD_MARKS_RE = re.compile(r"^[*＊★☆※·•\-—]+")
# a section number before a heading that is also a label: 二、平台简介, (二)平台简介, 2.平台简介
_SECTION_NUMBER_RE = re.compile(r"^(?:[一二三四五六七八九十]{1,3}[、.]|[(（][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[、.](?!\d))")
_TRAIL_MARKS_RE = re.compile(r"[:：*＊]+$")


def nfkc(text: str | None) -> str:
    """NFKC-normalised text ('' for None): full-width digits, letters, spaces and colons become ASCII."""
    if not text:
        return ""
    return unicodedata.normalize("NFKC", str(text))


def squash(text: str | None) -> str:
    """NFKC text with every whitespace character removed: the key for comparing labels."""
    return _WS_RE.sub("", nfkc(text))


def clean_value(text: str | None) -> str:
    """A cell value as a person meant it: trimmed, inner runs of whitespace made one space.

    The characters themselves are kept (no NFKC), so a company name keeps its
    full-width brackets.
    """
    if not text:
        return ""
    text = _WRAPPED_CJK_RE.sub("", str(text))  # a line wrap inside a Chinese name is not a space
    return _WS_RE.sub(" ", text.replace("\u3000", " ")).strip()


def label_key(text: str | None) -> str:
    """A header or label cell reduced for matching.

    ``" 备案人数（人）："`` -> ``"备案人数"``; ``"*联 系 人:"`` -> ``"联系人"``;
    ``"E-mail"`` -> ``"e-mail"``.
    """
    key = squash(text).lower()
    key = _LEAD_MARKS_RE.sub("", key)
    key = _SECTION_NUMBER_RE.sub("", key) or key
    key = _TRAIL_MARKS_RE.sub("", key)
    stripped = _BRACKET_NOTE_RE.sub("", key)
    return (stripped or key).strip(":：")


def label_pattern(label: str) -> str:
    """A regex source matching ``label`` with any whitespace between its characters."""
    chars = [re.escape(c) for c in squash(label)]
    return r"\s*".join(chars)


@dataclass(frozen=True)
class LabelSpec:
    """One field of a form and the labels people write for it."""

    key: str
    labels: tuple[str, ...]
    multiline: bool = False  # a long text that may run over several rows below its label (简介)


@dataclass(frozen=True)
class LabelHit:
    """A value found for a label."""

    key: str
    label: str  # the label text as written
    value: str  # cleaned value text ('' when the label has no value)
    where: str  # "cell", "right", "below" or "text"
    group: str = ""  # the group label earlier in the row (法定代表人 | 姓名 | 李四): whose value this is


class LabelIndex:
    """Knows every label of a form, finds them in cells and in running text.

    ``specs`` are the fields to extract; ``stop_labels`` are other labels that
    only end a value (``审核人`` after ``填报人：张三``).
    """

    def __init__(self, specs: Sequence[LabelSpec], stop_labels: Iterable[str] = ()):
        self.specs = list(specs)
        self.multiline = {spec.key for spec in self.specs if spec.multiline}
        self._exact: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        for spec in self.specs:
            for label in spec.labels:
                self._exact.setdefault(label_key(label), spec.key)
                pairs.append((label, spec.key))
        for label in stop_labels:
            self._exact.setdefault(label_key(label), "")
            pairs.append((label, ""))
        pairs.sort(key=lambda p: len(squash(p[0])), reverse=True)
        self._keys_by_group: list[str] = []
        parts: list[str] = []
        for label, key in pairs:
            parts.append(f"(?P<g{len(parts)}>{label_pattern(label)})")
            self._keys_by_group.append(key)
        note = r"(?:\s*[(（][^()（）]{0,12}[)）])?"
        firsts = {c for label, _key in pairs for c in (squash(label)[:1].lower(), squash(label)[:1].upper()) if c}
        first_class = "[" + "".join(re.escape(c) for c in sorted(firsts)) + "]"
        self._inline_re = re.compile(  # the look-ahead lets the scan skip most positions at once
            r"(?=" + first_class + r")(?<![A-Za-z0-9])(?:" + "|".join(parts) + r")" + note
            + r"\s*(?P<colon>[:：])?",
            re.IGNORECASE,
        )

    def key_of_cell(self, cell: str) -> str | None:
        """The field key when the whole cell is a label ('' for a stop label), else None."""
        key = label_key(cell)
        if not key:
            return None
        if key in self._exact:
            return self._exact[key]
        parts = [p for p in re.split(r"[/、及和&]", key) if p]
        if len(parts) > 1 and all(p in self._exact for p in parts):
            return self._exact[parts[0]]  # 联系电话/邮箱: the caller splits the value
        return None

    def is_label_cell(self, cell: str) -> bool:
        return self.key_of_cell(cell) is not None

    def _scan(self, text: str) -> tuple[str, list[tuple[int, int, str, str]]]:
        """(normalised text, [(start, end, key, label)]) for every label occurrence that counts."""
        norm = nfkc(text)
        found: list[tuple[int, int, str, str]] = []
        for m in self._inline_re.finditer(norm):
            group = next(name for name, val in m.groupdict().items() if val is not None and name != "colon")
            key = self._keys_by_group[int(group[1:])]
            if m.group("colon") is None:
                if norm[: m.start()].strip():
                    continue
                after_label = norm[m.end(group) : m.end(group) + 1]
                if after_label and not after_label.isspace() and after_label not in "(（":
                    continue
            found.append((m.start(), m.end(), key, m.group(group)))
        return norm, found

    def inline_pairs(self, text: str) -> list[LabelHit]:
        """``"地市名称：广州市   时间：2月17日-2月23日"`` -> one hit per label, value up to the next label.

        A label counts at the start of the text (followed by a colon, a space
        or nothing) or anywhere else when a colon follows it
        (``填报人：张三联系电话：138…``: cities type the pairs without spaces).
        """
        norm, found = self._scan(text)
        hits: list[LabelHit] = []
        for i, (_start, end, key, label) in enumerate(found):
            stop = found[i + 1][0] if i + 1 < len(found) else len(norm)
            value = clean_value(norm[end:stop]).strip(" ,，;；、|")
            if key:
                hits.append(LabelHit(key, clean_value(label), value, "cell"))
        return hits

    def starts_with_label(self, text: str) -> bool:
        """True when the text opens with a label of this form (``"职务：经理"``, ``"审核人:"``)."""
        norm, found = self._scan(text[:80])  # a label is short: the head of a long text is enough
        return bool(found) and not norm[: found[0][0]].strip()


def grid_label_hits(
    rows: Sequence[Sequence[str]], index: LabelIndex, groups: Iterable[str] = ()
) -> list[LabelHit]:
    """Every label found in a grid, with its value from the same cell, the right or below.

    Merged ranges repeat their text in every covered cell; a repeat of the
    label (or of a value already taken) is read once. ``groups`` are labels
    that own the labels after them in the row (``法定代表人 | 姓名 | 李四``):
    those hits carry the group's label so a caller can set them aside.
    """
    group_keys = {label_key(g) for g in groups}
    hits: list[LabelHit] = []
    for i, row in enumerate(rows):
        prev = None
        group = ""
        for j, cell in enumerate(row):
            text = cell or ""
            if text == prev:
                continue
            prev = text
            if not text.strip():
                continue
            key = index.key_of_cell(text)
            if label_key(text) in group_keys:
                group = label_key(text)
                continue
            if key is None:
                hits.extend(LabelHit(h.key, h.label, h.value, h.where, group) for h in index.inline_pairs(text))
                continue
            if not key:
                continue
            value, where = _value_right(rows, i, j, index)
            if not value:
                value, where = _value_below(rows, i, j, index)
            hits.append(LabelHit(key, clean_value(text), value, where, group))
            if not value:
                group = ""  # 联系人 | 姓名 | 张三: a label without a value opens its own group
    return hits


def _label_like(cell: str, index: LabelIndex) -> bool:
    """A cell that is a label (known, or an unknown one written ``注册资金：``) rather than a value."""
    if index.is_label_cell(cell) or index.starts_with_label(cell):
        return True
    text = nfkc(cell).strip()
    return len(text) <= 12 and text.endswith(":")


def _value_right(rows: Sequence[Sequence[str]], i: int, j: int, index: LabelIndex) -> tuple[str, str]:
    row = rows[i]
    label = row[j]
    empties = 0
    for k in range(j + 1, len(row)):
        cell = row[k] or ""
        if cell == label:
            continue
        if not cell.strip():
            empties += 1
            if empties > 2:
                break
            continue
        if _label_like(cell, index):
            return "", "right"
        return clean_value(cell), "right"
    return "", "right"


def _value_below(rows: Sequence[Sequence[str]], i: int, j: int, index: LabelIndex) -> tuple[str, str]:
    label = rows[i][j]
    multiline = index.key_of_cell(label) in index.multiline
    parts: list[str] = []
    for k in range(i + 1, min(i + (30 if multiline else 3), len(rows))):
        below = rows[k][j] if j < len(rows[k]) else ""
        if below == label and not parts:
            continue
        if not below.strip() or _label_like(below, index):
            break
        # a value below must not belong to a label on its left in that row
        left = [c for c in rows[k][:j] if c and c.strip() and c != below]
        if left and index.is_label_cell(left[-1]):
            break
        if any(_label_like(c, index) for c in rows[k] if c and c != below):
            break
        if below not in parts:
            parts.append(below)
        if not multiline:
            break
    return "\n".join(clean_value(p) for p in parts), "below"


def text_label_hits(text: str, index: LabelIndex) -> list[LabelHit]:
    """Labels in running text: ``联系人：张三`` on one line, or a label line followed by its value line."""
    lines = [ln for ln in (nfkc(t).strip() for t in (text or "").splitlines()) if ln]
    hits: list[LabelHit] = []
    for n, line in enumerate(lines):
        key = index.key_of_cell(line)
        if key:
            nxt = lines[n + 1] if n + 1 < len(lines) else ""
            value = "" if (not nxt or index.is_label_cell(nxt) or index.starts_with_label(nxt)) else clean_value(nxt)
            hits.append(LabelHit(key, clean_value(line), value, "text"))
            continue
        if key is None:
            hits.extend(LabelHit(h.key, h.label, h.value, "text") for h in index.inline_pairs(line))
    return hits


def first_values(hits: Iterable[LabelHit]) -> dict[str, str]:
    """The first non-empty value per key; '' for keys whose labels were seen without a value."""
    out: dict[str, str] = {}
    for hit in hits:
        if hit.value and not out.get(hit.key):
            out[hit.key] = hit.value
        else:
            out.setdefault(hit.key, "")
    return out


def row_is_blank(row: Sequence[str]) -> bool:
    return all(not (c or "").strip() for c in row)
