"""What an application's attachments say beyond the form's values: the seal, the licence, OCR doubts, the sender.

The notice asks for the basic form stamped with the organisation's seal, so the
form arrives as an editable copy (docx/xlsx: never stamped), as a scan or a
phone photo (stamped or not, as OCR's seal detector saw it), or as a grayscale
scan on which nobody can tell. The credentials material may carry a business
licence whose 统一社会信用代码 and 名称 OCR read. Values read by OCR carry a
confidence; the ones below the threshold, or failing a check character or a
pattern, are named in ``low_confidence_fields``.

Everything here decides who is told: the sender only about what they can act
on (a missing stamped copy), staff about the rest (a seal that cannot be seen,
a licence that names someone else, values to confirm). Nothing here touches the
database; the workflow stores the results.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from parsers.application import FIELD_NAMES
from parsers.validators import credit_code_valid, email_valid, normalize_credit_code, normalize_email

STAMPED_FORM_ITEM = "stamped_form"  # the extra item of a missing-items notice (not one of the five materials)
RECOMMEND_WORDS = ("推荐", "代为报送", "代报", "转报", "转送", "汇总报送")


# ------------------------------------------------------------------------------------------ the seal


def form_copies(analyses: Iterable[Any]) -> list[Any]:
    """Every copy of the basic form among the analyses: read as one, or named as one."""
    return [a for a in analyses if a.application is not None
            or (a.material.category if a.material else None) == "basic_form"]


def seal_seen(copies: list[Any]) -> bool | None:
    """True: a stamped copy arrived; None: a scan on which the seal cannot be told; False: only unstamped copies.

    Only a scan or photo can show a seal: an editable copy counts as unstamped.
    """
    if any(a.stamped is True for a in copies):
        return True
    if any(a.scanned and a.stamped is None for a in copies):
        return None
    return False


def merge_stamped(previous: bool | None, had_form_before: bool, now: bool | None, has_form_now: bool) -> bool | None:
    """The application's seal state after this message: a stamped copy once seen stays seen."""
    if not has_form_now:
        return previous
    if previous is True or now is True:
        return True
    if now is None or (had_form_before and previous is None):
        return None
    return False


@dataclass
class StampDecision:
    missing_item: bool = False  # ask the sender for 加盖公章的基本情况表（扫描件或照片）
    staff_problem: str = ""  # the seal cannot be seen: staff decide, the sender is not asked


def stamp_decision(required: bool, has_form: bool, stamped: bool | None) -> StampDecision:
    if not required or not has_form or stamped is True:
        return StampDecision()
    if stamped is None:
        return StampDecision(staff_problem="基本情况表扫描件无法辨认是否加盖公章（灰度或不清晰），待工作人员核对；"
                                           "不向申报单位催要 / seal cannot be seen on the scanned form: staff to check")
    return StampDecision(missing_item=True)


def items_to_ask(missing: list[str], required: bool, stamped: bool | None) -> list[str]:
    """What the sender still has to send: the absent materials, then the stamped form when the rule asks for it.

    One list for the missing-items notice, the digest and the JSON export's ``missing``.
    """
    asked = stamp_decision(required, "basic_form" not in missing, stamped).missing_item
    return [*missing, *([STAMPED_FORM_ITEM] if asked else [])]


# ------------------------------------------------------------------------------------------ the licence


def name_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\s()（）]", "", text)


def licence_problems(analyses: Iterable[Any], credit_code: str, organization: str) -> list[str]:
    """Licence scans whose code or name differ from the form's: for staff, never for the applicant."""
    problems: list[str] = []
    form_code = normalize_credit_code(credit_code)
    for analysis in analyses:
        licence = analysis.licence
        if licence is None:
            continue
        name = analysis.filename
        code = normalize_credit_code(licence.credit_code or "")
        holder = licence.name or ""
        if code and form_code and code != form_code:
            problems.append(f"证照“{name}”上的统一社会信用代码 {code} 与基本情况表填写的 {form_code} 不一致，"
                            "待工作人员核对 / licence credit code differs from the form")
        if holder and organization and name_key(holder) != name_key(organization):
            problems.append(f"证照“{name}”上的名称“{holder}”与基本情况表的注册登记机构“{organization}”不一致，"
                            "待工作人员核对 / licence name differs from the form")
    return problems


def licence_check(analyses: Iterable[Any], credit_code: str, organization: str) -> str:
    """One word for the cover sheet: 一致 / 不一致 / 未识别到证照."""
    licences = [a for a in analyses if a.licence is not None]
    if not licences:
        return ""
    return "不一致" if licence_problems(licences, credit_code, organization) else "一致"


# ------------------------------------------------------------------------------------------ OCR doubts


@dataclass
class OcrReading:
    scanned: bool = False
    fields: dict[str, float] = field(default_factory=dict)
    low: list[str] = field(default_factory=list)

    def staff_problem(self) -> str:
        if not self.low:
            return ""
        names = "、".join(f"{FIELD_NAMES.get(k, k)}（{self.fields[k]:.2f}）" if k in self.fields
                         else FIELD_NAMES.get(k, k) for k in self.low)
        return (f"基本情况表为扫描件或照片，以下栏目识别把握不足，待工作人员核对后再处理，不向申报单位发更正通知："
                f"{names} / low-confidence OCR values wait for staff")


def ocr_reading(form_analysis: Any) -> OcrReading:
    if form_analysis is None or not form_analysis.scanned:
        return OcrReading()
    return OcrReading(True, dict(form_analysis.ocr_fields or {}),
                      list(form_analysis.low_confidence_fields or []))


def values_source(copies: list[Any]) -> Any:
    """The copy whose values count: an editable one (exact text) before a scan read by OCR."""
    readable = [a for a in copies if a.application is not None]
    exact = [a for a in readable if not a.scanned]
    return (exact or readable or [None])[0]


# ------------------------------------------------------------------------------------------ who applied


def recommended_by(city: str | None, from_addr: str, from_name: str, text: str, form_email: str) -> str | None:
    """The recommender when the sender is not the platform itself, else None.

    A registered city address always recommends (cities do not apply for
    platforms); another sender does when the mail says so (推荐, 代报, …) and the
    form names a different contact address.
    """
    who = f"{from_name.strip()} <{from_addr}>" if from_name.strip() else from_addr
    if city:
        return f"{city}（{who}）"
    flat = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))
    form_email = normalize_email(form_email).lower()
    if any(w in flat for w in RECOMMEND_WORDS) and form_email and form_email != from_addr.lower():
        return who
    return None


def copy_address(form_email: str, from_addr: str, ours: set[str]) -> str | None:
    """The form's contact address when a receipt copy should go there."""
    email = normalize_email(form_email)
    if not email_valid(email) or "\n" in email or "\r" in email:
        return None
    if email.lower() == from_addr.lower() or email.lower() in ours:
        return None
    return email


def credit_code_check(code: str) -> str:
    if not code:
        return "未填写"
    return "校验通过" if credit_code_valid(code) else "校验位不正确"
