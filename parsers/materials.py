"""Which of the notice's five items an attachment is: file name first, then its content.

basic_form (附件1 基本情况表), credentials (机构资信类材料), construction (平台建设材料),
operation (平台运行材料), content (平台培训内容材料).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .application import parse_application
from .document import Document
from .labels import squash

log = logging.getLogger(__name__)

CATEGORIES = ("basic_form", "credentials", "construction", "operation", "content")

# (keyword, weight): a specific document name weighs more than a generic word
KEYWORDS: dict[str, tuple[tuple[str, float], ...]] = {
    "basic_form": (
        ("基本情况表", 0.95), ("基本信息表", 0.9), ("平台基本情况", 0.85), ("申报表", 0.75), ("申请表", 0.75),
        ("信息登记表", 0.75), ("情况登记表", 0.75),
    ),
    "credentials": (
        ("营业执照", 0.95), ("办学许可", 0.95), ("icp备案", 0.95), ("icp许可", 0.95), ("icp证", 0.95),
        ("增值电信", 0.9), ("法人证书", 0.95), ("法人登记证", 0.95), ("事业单位法人", 0.95), ("授权书", 0.9),
        ("委托书", 0.85), ("等保证书", 0.9), ("等级保护备案证明", 0.9), ("备案证明", 0.8), ("资信", 0.9),
        ("资质", 0.85), ("信用报告", 0.9), ("信用", 0.75), ("许可证", 0.85), ("认证证书", 0.85),
        ("著作权", 0.85), ("软著", 0.85), ("机构证明", 0.8), ("承诺书", 0.75), ("组织机构代码", 0.9),
        ("税务登记", 0.9), ("开户许可", 0.9), ("荣誉", 0.7), ("获奖", 0.7), ("证书", 0.7), ("执照", 0.9),
    ),
    "construction": (
        ("平台建设", 0.95), ("平台架构", 0.95), ("系统架构", 0.95), ("技术架构", 0.95), ("总体架构", 0.9),
        ("架构", 0.8), ("信息安全", 0.9), ("网络安全", 0.9), ("数据安全", 0.9), ("安全防护", 0.85),
        ("个人信息保护", 0.9), ("隐私", 0.8), ("服务器", 0.85), ("等级保护", 0.85), ("等保", 0.8),
        ("技术方案", 0.9), ("建设方案", 0.9), ("功能介绍", 0.8), ("功能说明", 0.8), ("系统功能", 0.85),
        ("技术支撑", 0.85), ("部署", 0.8), ("云服务", 0.8), ("带宽", 0.8), ("并发", 0.8), ("容灾", 0.85),
        ("备份", 0.75), ("软硬件", 0.8), ("技术说明", 0.85),
    ),
    "operation": (
        ("平台运行", 0.95), ("运行机制", 0.95), ("运行管理", 0.9), ("运营", 0.85), ("运行情况", 0.9),
        ("质量管控", 0.95), ("质量控制", 0.9), ("质量管理", 0.9), ("服务保障", 0.95), ("管理制度", 0.9),
        ("运维", 0.9), ("客服", 0.8), ("服务体系", 0.85), ("学员管理", 0.85), ("学习监管", 0.85),
        ("过程监管", 0.85), ("培训管理", 0.8), ("应急预案", 0.85), ("服务承诺", 0.8), ("用户数", 0.75),
        ("运行数据", 0.85), ("制度", 0.7),
    ),
    "content": (
        ("培训内容", 0.95), ("课程介绍", 0.95), ("课程目录", 0.95), ("课程清单", 0.95), ("课程列表", 0.9),
        ("课程简介", 0.9), ("课程体系", 0.9), ("课程资源", 0.9), ("培训大纲", 0.95), ("教学大纲", 0.95),
        ("课程大纲", 0.95), ("教学计划", 0.95), ("培训计划", 0.9), ("培训方案", 0.85), ("考核", 0.85),
        ("题库", 0.85), ("试题", 0.8), ("师资", 0.95), ("讲师", 0.85), ("教师", 0.8), ("教材", 0.85),
        ("课件", 0.85), ("课程", 0.75), ("教学", 0.7), ("培训项目", 0.8),
    ),
}
# "附件1" only says basic_form when nothing more specific is in the name: people number their own files
_ATTACHMENT_ONE_RE = re.compile(r"附件[1一](?!\d)")
_EXTENSION_RE = re.compile(r"\.[a-z0-9]{1,5}$")


@dataclass
class MaterialGuess:
    category: str  # basic_form | credentials | construction | operation | content
    evidence: str  # what decided it, Chinese: 文件名含“营业执照”
    confidence: float


def _normalise(text: str) -> str:
    return squash(text).lower()


def _best_in_name(name: str) -> tuple[str, str, float] | None:
    """(category, keyword, weight) of the strongest keyword in the name; earlier position breaks ties."""
    best: tuple[float, int, int, str, str] | None = None
    for category, words in KEYWORDS.items():
        for word, weight in words:
            pos = name.find(word)
            if pos < 0:
                continue
            rank = (weight, -pos, len(word), category, word)
            if best is None or rank > best:
                best = rank
    if best is None:
        return None
    return best[3], best[4], best[0]


def _document_text(doc: Document) -> str:
    parts = [doc.text or ""]
    for table in doc.tables:
        for row in table.rows:
            parts.append(" ".join(dict.fromkeys(c for c in row if c)))
    return "\n".join(parts)


def _title_lines(text: str, count: int = 3) -> list[str]:
    lines = [ln for ln in (line.strip() for line in text.splitlines()) if ln][:count]
    return [ln for ln in lines if len(ln) <= 40]


def _score_text(flat: str) -> dict[str, tuple[float, list[str]]]:
    """Weighted keyword counts per category; a longer keyword masks the shorter ones inside it."""
    entries = sorted(((w, wt, cat) for cat, words in KEYWORDS.items() for w, wt in words),
                     key=lambda e: len(e[0]), reverse=True)
    contributions: dict[str, list[tuple[float, str]]] = {}
    for word, weight, category in entries:
        hits = flat.count(word)
        if hits:
            flat = flat.replace(word, "\0")
            contributions.setdefault(category, []).append((weight * min(hits, 5), word))
    scores: dict[str, tuple[float, list[str]]] = {}
    for category, parts in contributions.items():
        parts.sort(key=lambda p: p[0], reverse=True)
        scores[category] = (sum(p[0] for p in parts), [p[1] for p in parts])
    return scores


def _guess_from_content(doc: Document) -> MaterialGuess | None:
    text = _document_text(doc)
    for line in _title_lines(doc.text or ""):
        found = _best_in_name(_normalise(line))
        if found:
            category, word, weight = found
            return MaterialGuess(category, f"标题含“{word}”", round(weight * 0.8, 2))
    scores = _score_text(_normalise(text))
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1][0], reverse=True)
    category, (score, words) = ranked[0]
    if score < 1.5:
        return None
    runner_up = ranked[1][1][0] if len(ranked) > 1 else 0.0
    confidence = 0.4 + 0.3 * (score - runner_up) / score
    shown = "”“".join(words[:3])
    return MaterialGuess(category, f"内容含“{shown}”", round(confidence, 2))


def classify_material(filename: str, doc: Document | None) -> MaterialGuess | None:
    """The notice item an attachment belongs to, with the evidence, or None when nothing points anywhere."""
    name = _EXTENSION_RE.sub("", _normalise(filename))
    found = _best_in_name(name)
    if found:
        category, word, weight = found
        return MaterialGuess(category, f"文件名含“{word}”", weight)
    if doc is not None:
        app = parse_application(doc)
        if app is not None:
            return MaterialGuess("basic_form", "内容为线上培训平台基本情况表", 0.9)
    if _ATTACHMENT_ONE_RE.search(name):
        return MaterialGuess("basic_form", "文件名含“附件1”", 0.5)
    if doc is None:
        return None
    if doc.members:
        return _guess_from_members(doc)
    guess = _guess_from_content(doc)
    if guess is None:
        log.debug("no material category for %r", filename)
    return guess


def _guess_from_members(archive: Document) -> MaterialGuess | None:
    """An archive of one kind of material: the category most of its members' names point to."""
    votes: dict[str, list[str]] = {}
    for member_name, member in archive.members:
        guess = classify_material(member_name, member)
        if guess is not None:
            votes.setdefault(guess.category, []).append(guess.evidence)
    if not votes:
        return None
    category, evidence = max(votes.items(), key=lambda kv: len(kv[1]))
    share = len(evidence) / max(len(archive.members), 1)
    return MaterialGuess(category, f"压缩包内{len(evidence)}个文件：{evidence[0]}", round(0.5 + 0.3 * share, 2))
