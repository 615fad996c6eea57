"""Classification: one kind per message, with reasons and a confidence.

Content first (the forms found in attachments), then subject, body and
sender. Bounces and auto-replies are recognised by the RFC 3834/3464 rules in
:mod:`parsers.machine_mail`. Low confidence or conflicting signals give
``needs_review``: staff decide, and nothing is sent on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest.config import Settings
from ingest.pipeline.decode import DecodedMessage, nfkc
from parsers.cities import normalize_city
from parsers.machine_mail import is_auto_reply, is_bounce
from parsers.weekly import zero_statement_in
from store.models import Message

CONFIDENT = 0.6
PLAUSIBLE = 0.3

WEEKLY_WORDS = ("周报", "备案情况统计表", "适岗技能提升", "适岗培训", "备案情况", "附件2", "每周报送", "统计表")
APPLICATION_WORDS = ("线上培训平台", "培训平台申报", "平台申报", "申报材料", "基本情况表", "附件1", "补充材料",
                     "职业技能提升行动", "平台申请", "申请材料", "资信材料", "补充资料", "推荐")
CORRECTION_WORDS = ("更正", "以此为准", "修改后", "重新报送", "重报", "修正")
# a subject asking where an application stands: one of the first words with one of the second
STATUS_ASK_WORDS, STATUS_ABOUT_WORDS = ("查询", "进度", "状态"), ("申报", "平台")


@dataclass
class Classification:
    kind: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    city: str | None = None
    needs_review: bool = False
    review_reasons: list[str] = field(default_factory=list)
    correction: bool = False  # the sender says it replaces an earlier report


def flatten(analyses: Iterable) -> Iterator:
    """Every analysis, zip members included (AttachmentAnalysis.walk over a list)."""
    for analysis in analyses:
        if analysis is not None:
            yield from analysis.walk()


def _has_words(text: str, words: Iterable[str]) -> list[str]:
    flat = re.sub(r"\s+", "", nfkc(text))
    return [w for w in words if w in flat]


@dataclass
class _Scores:
    weekly: float = 0.0
    application: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def add(self, which: str, amount: float, reason: str) -> None:
        setattr(self, which, getattr(self, which) + amount)
        self.reasons.append(reason)


def classify(settings: Settings, msg: Message, decoded: DecodedMessage, analyses: list,
             thread_kinds: set[str] | None = None, sender_has_application: bool = False) -> Classification:
    if not decoded.is_mail:
        return Classification("other", 1.0, ["不是邮件格式 / not an e-mail message"])
    bounce = is_bounce(decoded.message, decoded.from_addr, decoded.subject) if decoded.message else None
    if bounce:
        return Classification("bounce", 0.95, [bounce])
    auto = is_auto_reply(decoded.headers, decoded.subject)
    if auto:
        return Classification("auto_reply", 0.95, [auto])
    result = status_query(decoded, analyses)
    if result is None:
        scores = _score(settings, decoded, analyses, thread_kinds or set(), sender_has_application)
        city = _city(settings, decoded, analyses)
        result = _decide(scores, city, correction=bool(_has_words(decoded.subject, CORRECTION_WORDS)))
    if decoded.sender_problems:  # a forged or ambiguous From: staff decide, nobody is answered
        result.needs_review = True
        result.review_reasons.extend(f"发件人不可信，已暂存待工作人员确认，不自动回复：{p}"
                                     for p in decoded.sender_problems)
    return result


def status_query(decoded: DecodedMessage, analyses: list) -> Classification | None:
    """A mail whose subject asks for the status of an application (查询/进度/状态 with 申报/平台) and that
    carries no form and no material: answered with the sender's own applications (workflows/status_query.py)."""
    asks, about = _has_words(decoded.subject, STATUS_ASK_WORDS), _has_words(decoded.subject, STATUS_ABOUT_WORDS)
    if not asks or not about:
        return None
    if any(a.weekly is not None or a.application is not None or (a.material and a.material.category)
           for a in flatten(analyses)):
        return None  # forms or materials: an application or a report, whatever the subject says
    return Classification("status_query", 0.9, [f"主题含“{asks[0]}”和“{about[0]}”，且没有申报表或材料附件：按进度查询答复"])


def trusted_sender(decoded: DecodedMessage) -> str:
    """The From address when it names one plausible sender, else "" (never a registered city)."""
    return "" if decoded.sender_problems else decoded.from_addr


def _score(settings: Settings, decoded: DecodedMessage, analyses: list, thread_kinds: set[str],
           sender_has_application: bool) -> _Scores:
    s = _Scores()
    found = list(flatten(analyses))
    forms = [a for a in found if a.application is not None]
    # a file read as the basic form (its labels) is the form, whatever its free text sounds like
    weekly = [a for a in found if a.weekly is not None and a.application is None]
    materials = [a for a in found if (a.material.category if a.material else None) is not None]
    if weekly:
        s.add("weekly", 0.6, f"附件含周报表（附件2）：{weekly[0].filename}")
    if forms:
        s.add("application", 0.6, f"附件含平台基本情况表（附件1）：{forms[0].filename}")
    if materials:
        s.add("application", 0.2, f"附件含申报佐证材料：{materials[0].filename}（{materials[0].material.category}）")
        categories = {a.material.category for a in materials}
        if len(categories) >= 2:
            s.add("application", 0.2, f"附件含{len(categories)}类申报材料")
    subject_body = f"{decoded.subject}\n{decoded.text[:3000]}"
    if (words := _has_words(subject_body, WEEKLY_WORDS)) and not (forms and not weekly):
        s.add("weekly", 0.25, f"主题或正文含“{words[0]}”")  # with 附件1 and no 附件2, the form decides
    if zero := zero_statement_in(f"{decoded.subject}\n{decoded.text[:500]}"):
        s.add("weekly", 0.35, f"主题或正文报零（“{zero}”）")
    if words := _has_words(subject_body, APPLICATION_WORDS):
        s.add("application", 0.25, f"主题或正文含“{words[0]}”")
    sender_city = settings.city_of_address(trusted_sender(decoded))
    if sender_city and forms and not weekly:
        # a city recommends platforms too (the notice's 四、征集流程): its mail with 附件1 is an application
        s.reasons.append(f"发件人是登记的地市邮箱（{sender_city}），附件为平台基本情况表：按推荐申报处理")
    elif sender_city:
        s.add("weekly", 0.25, f"发件人是登记的地市邮箱（{sender_city}）")
    if "application" in thread_kinds:
        s.add("application", 0.4, "回复或续接已有的平台申报邮件")
    if "weekly_report" in thread_kinds:
        s.add("weekly", 0.3, "回复或续接已有的周报邮件")
    if sender_has_application and (materials or forms):
        s.add("application", 0.2, "发件人已有平台申报记录")
    unreadable = [a for a in found if a.problems and not a.weekly
                  and not a.application]
    hidden = [a for a in found if getattr(a, "notes", None) and not a.weekly and not a.application]
    if unreadable and s.weekly >= 0.45:
        s.add("weekly", 0.1, f"附件无法读取：{unreadable[0].filename}")
    elif hidden and s.weekly >= 0.45:
        s.add("weekly", 0.1, f"附件只有隐藏工作表可能是统计表：{hidden[0].filename}")
    return s


def _decide(s: _Scores, city: str | None, correction: bool) -> Classification:
    weekly, application = min(s.weekly, 1.0), min(s.application, 1.0)
    best_kind, best = ("weekly_report", weekly) if weekly >= application else ("application", application)
    other = min(weekly, application)
    if best < PLAUSIBLE:
        reasons = s.reasons or ["未发现周报、申报表或相关关键词 / no form and no keywords found"]
        return Classification("other", round(1.0 - best, 2), reasons, city)
    result = Classification(best_kind, round(best, 2), s.reasons, city, correction=correction)
    if other >= CONFIDENT - 0.1:
        result.needs_review = True
        result.review_reasons.append("同时像周报和平台申报，需人工确认 / looks like both a weekly report and an application")
    elif best < CONFIDENT:
        result.needs_review = True
        result.review_reasons.append(f"分类把握不足（{best:.2f}），需人工确认 / low classification confidence")
    return result


def _city(settings: Settings, decoded: DecodedMessage, analyses: list) -> str | None:
    for analysis in flatten(analyses):
        weekly = analysis.weekly
        if weekly is not None and weekly.city:
            return weekly.city
    return (normalize_city(decoded.subject) or normalize_city(decoded.text[:2000])
            or settings.city_of_address(trusted_sender(decoded)))
