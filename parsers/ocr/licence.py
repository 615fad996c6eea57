"""Reading a business licence scan: which certificate, the holder's name, the credit code.

Three certificates carry a unified social credit code: 营业执照 (companies),
事业单位法人证书 (public institutions) and 民办非企业单位登记证书 (private
non-enterprise units). The kind comes from the title; the name from the
``名称`` line (the value right of the label, or below it); the code from the
``统一社会信用代码`` line when its check character holds, else from any 18
characters on the page whose GB 32100-2015 check character holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.labels import squash
from parsers.validators import credit_code_valid

from .engine import OcrBox
from .layout import group_lines

KINDS = ("营业执照", "事业单位法人证书", "民办非企业单位登记证书")
_CODE_RE = re.compile(r"[0-9A-Z]{18}")
_NAME_LABELS = ("名称", "单位名称", "企业名称")
# what OCR writes for characters a credit code never contains (I, O, S, V, Z)
_CONFUSIONS = str.maketrans({"O": "0", "I": "1", "S": "5", "Z": "2", "V": "U"})


@dataclass
class LicenceData:
    kind: str  # 营业执照 / 事业单位法人证书 / 民办非企业单位登记证书
    name: str = ""
    credit_code: str = ""
    credit_code_valid: bool = False
    confidence: float = 0.0  # the lowest OCR confidence of the name and the code


def licence_kind(text: str) -> str | None:
    key = squash(text)
    return next((kind for kind in KINDS if kind in key), None)


def find_credit_codes(text: str) -> list[str]:
    """Every 18-character run on a line of ``text`` (spaces ignored) whose check character holds, in order.

    Lines are searched one by one: the end of one box and the start of the next must not make a code."""
    found: list[str] = []
    for line in text.splitlines():
        key = squash(line).upper()
        for candidate_text in (key, key.translate(_CONFUSIONS)):
            for start in range(0, max(0, len(candidate_text) - 17)):
                chunk = candidate_text[start:start + 18]
                if _CODE_RE.fullmatch(chunk) and credit_code_valid(chunk) and chunk not in found:
                    found.append(chunk)
    return found


def read_licence(boxes: list[OcrBox]) -> LicenceData | None:
    """The licence on a page of OCR boxes, or None when the page is not one of the three certificates."""
    kind = licence_kind("".join(b.text for b in boxes))
    if kind is None:
        return None
    lines = group_lines(boxes)
    licence = LicenceData(kind=kind)
    scores: list[float] = []
    for index, line in enumerate(lines):
        head = squash(line[0].text)
        if "信用代码" in head and not licence.credit_code:
            codes = find_credit_codes("".join(b.text for b in line))
            if codes:
                licence.credit_code, licence.credit_code_valid = codes[0], True
                scores.append(min(b.score for b in line))
        if not licence.name:
            label = next((lab for lab in _NAME_LABELS if head.startswith(lab)), None)
            if label is not None:
                rest = head[len(label):].lstrip(":：")
                parts = ([rest] if rest else []) + [b.text.strip() for b in line[1:]]
                source = line
                if not parts and index + 1 < len(lines):
                    source = lines[index + 1]
                    parts = [b.text.strip() for b in source]
                if parts:
                    licence.name = "".join(parts)
                    scores.append(min(b.score for b in source))
    if not licence.credit_code:
        codes = find_credit_codes("\n".join(b.text for b in boxes))
        box_scores = [b.score for b in boxes if codes and codes[0][:6] in squash(b.text).upper()]
        if codes:
            licence.credit_code, licence.credit_code_valid = codes[0], True
            scores.append(min(box_scores, default=0.5))
    licence.confidence = min(scores) if scores else 0.0
    return licence
