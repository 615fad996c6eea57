"""Field validators: unified social credit code, mainland phone numbers, e-mail, URL.

All of them take what a person typed (full-width digits, spaces, stray
punctuation) and normalise with NFKC before judging.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# --- unified social credit code (GB 32100-2015) ---------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_ALPHABET)}
# first character: the registration authority (1 机构编制, 5 民政, 9 工商, A-Y others ...)
_REGISTRATION_AUTHORITIES = "123456789ABCDEFGNY"
_LOOKALIKES = {"I": "1", "O": "0", "Z": "2", "S": "5", "V": "U"}


def normalize_credit_code(s: str | None) -> str:
    """NFKC, upper case, whitespace and separators removed: ``" 9144 0101-ma5c… "`` -> ``"91440101MA5C…"``."""
    text = unicodedata.normalize("NFKC", s or "").upper()
    return re.sub(r"[\s\-_.·]+", "", text)


def credit_code_check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code (raises ValueError on a bad character)."""
    body = normalize_credit_code(first17)
    if len(body) != 17:
        raise ValueError(f"need 17 characters, got {len(body)}")
    total = 0
    for ch, weight in zip(body, CREDIT_WEIGHTS, strict=True):
        if ch not in _CREDIT_VALUE:
            raise ValueError(f"character {ch!r} is not allowed in a credit code")
        total += _CREDIT_VALUE[ch] * weight
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(s: str | None) -> str | None:
    """None when the code is right, else a Chinese sentence saying what is wrong with it."""
    code = normalize_credit_code(s)
    shown = (s or "").strip()
    if not code:
        return "统一社会信用代码未填写"
    if len(code) != 18:
        return f"统一社会信用代码“{shown}”应为18位，实际为{len(code)}位，请核对后重新填写"
    for pos, ch in enumerate(code, start=1):
        if ch not in _CREDIT_VALUE:
            hint = f"（是否应为“{_LOOKALIKES[ch]}”？）" if ch in _LOOKALIKES else ""
            return f"统一社会信用代码“{shown}”第{pos}位字符“{ch}”不合规{hint}，请核对后重新填写"
    if code[0] not in _REGISTRATION_AUTHORITIES:
        return f"统一社会信用代码“{shown}”首位登记管理部门代码“{code[0]}”不存在，请核对后重新填写"
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return f"统一社会信用代码“{shown}”校验位错误，应为“{expected}”，请核对后重新填写"
    return None


def credit_code_valid(s: str | None) -> bool:
    return credit_code_problem(s) is None


# --- phone numbers --------------------------------------------------------------------------

_PHONE_SPLIT_RE = re.compile(r"[、/;；,，]|\s{2,}|或")
_COUNTRY_RE = re.compile(r"^(?:\+|00)?86[\s\-]*(?=[(（]?0?[1-9])")
_EXT_RE = re.compile(r"(?:转|分机|ext\.?|x|#)\s*(\d{1,6})$|(?<=\d{7})-(\d{1,6})$", re.IGNORECASE)
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
# area codes: 010 and 020-029 have three digits, all others four (0755, 0763 ...)
_LANDLINE_RE = re.compile(r"^\(?(0(?:[12]\d|[3-9]\d{2}))\)?[\s\-]*([1-9]\d{2,3}[\s\-]?\d{4})$")
_SERVICE_RE = re.compile(r"^([48]00)[\s\-]?(\d{3})[\s\-]?(\d{4})$")


def _phone_parts(s: str | None) -> list[str]:
    text = unicodedata.normalize("NFKC", s or "").strip()
    text = text.replace("—", "-").replace("－", "-").replace("–", "-")
    return [p.strip() for p in _PHONE_SPLIT_RE.split(text) if p and p.strip()]


def _normalize_one_phone(part: str) -> str | None:
    """One number in canonical form, or None when it is not a mainland number."""
    text = re.sub(r"[(（][^()（）\d]*[)）]", "", part)  # （工作日） / (张三)
    text = re.sub(r"^(?:电话|手机|座机|固话|tel|mobile|phone)\s*[:：]?\s*", "", text, flags=re.IGNORECASE)
    text, had_country = _COUNTRY_RE.subn("", text.strip())
    if had_country and not _MOBILE_RE.match(re.sub(r"[\s\-]", "", text)) and not text.lstrip("(（").startswith("0"):
        text = "0" + text.lstrip("(（").replace(")", "-", 1).replace("）", "-", 1)  # +86 20 ... -> 020 ...
    ext = ""
    m = _EXT_RE.search(text)
    if m:
        ext = m.group(1) or m.group(2)
        text = text[: m.start()].strip(" -")
    compact = re.sub(r"[\s\-]", "", text)
    if _MOBILE_RE.match(compact) and not ext:
        return compact
    m = _SERVICE_RE.match(text) or _SERVICE_RE.match(compact)
    if m:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" + (f"转{ext}" if ext else "")
    m = _LANDLINE_RE.match(text) or _LANDLINE_RE.match(compact)
    if m:
        local = re.sub(r"[\s\-]", "", m.group(2))
        if len(m.group(1)) + len(local) not in (10, 11, 12) or len(local) not in (7, 8):
            return None
        return f"{m.group(1)}-{local}" + (f"转{ext}" if ext else "")
    return None


def normalize_phone(s: str | None) -> str:
    """Canonical form: ``13812345678``, ``020-12345678``, ``020-12345678转123``; several joined with ``、``.

    Text that is not a phone number comes back trimmed and NFKC-normalised.
    """
    parts = _phone_parts(s)
    normal = [_normalize_one_phone(p) for p in parts]
    if parts and all(normal):
        return "、".join(n for n in normal if n)
    return unicodedata.normalize("NFKC", s or "").strip()


def phone_problem(s: str | None) -> str | None:
    """None when every number given is a well-formed mainland phone number, else a Chinese sentence."""
    parts = _phone_parts(s)
    if not parts:
        return "联系电话未填写"
    for part in parts:
        if _normalize_one_phone(part) is None:
            digits = re.sub(r"\D", "", part)
            if len(digits) in (7, 8) and not part.lstrip("(（").startswith("0"):
                return f"联系电话“{part}”缺少区号，请按“020-12345678”或11位手机号格式填写"
            return f"联系电话“{part}”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"
    return None


def phone_valid(s: str | None) -> bool:
    return phone_problem(s) is None


# --- e-mail -----------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
    r"@(?:[A-Za-z0-9\u4e00-\u9fff](?:[A-Za-z0-9\u4e00-\u9fff\-]{0,61}[A-Za-z0-9\u4e00-\u9fff])?\.)+"
    r"(?:[A-Za-z]{2,24}|[\u4e00-\u9fff]{1,10})$"
)


def normalize_email(s: str | None) -> str:
    """NFKC (full-width ``＠`` becomes ``@``), ``。`` read as ``.``, spaces and ``mailto:`` removed."""
    text = unicodedata.normalize("NFKC", s or "").replace("。", ".").strip()
    text = re.sub(r"^mailto:", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", "", text)


def email_valid(s: str | None) -> bool:
    return bool(_EMAIL_RE.match(normalize_email(s)))


# --- URL ----------------------------------------------------------------------------------------

_HOST_LABEL_RE = re.compile(r"^[a-z0-9\u4e00-\u9fff](?:[a-z0-9\u4e00-\u9fff\-]{0,61}[a-z0-9\u4e00-\u9fff])?$")
_TLD_RE = re.compile(r"^(?:[a-z]{2,24}|xn--[a-z0-9\-]{2,59}|[\u4e00-\u9fff]{1,10})$")
_IPV4_RE = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")


def normalize_url(s: str | None) -> str:
    """NFKC, ``。`` read as ``.``, trimmed; the scheme is left as written (may be absent)."""
    text = unicodedata.normalize("NFKC", s or "").replace("。", ".").strip()
    return re.sub(r"\s+", "", text)


def url_valid(s: str | None) -> bool:
    """``https://www.example.com/a``, ``www.example.com``, ``example.com.cn``, ``http://中文.中国``, ``1.2.3.4:8080``."""
    text = normalize_url(s)
    if not text:
        return False
    if not re.match(r"^[a-z][a-z0-9+.\-]*://", text, re.IGNORECASE):
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    if _IPV4_RE.match(host):
        return True
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not _TLD_RE.match(labels[-1]):
        return False
    return all(_HOST_LABEL_RE.match(label) for label in labels)


_URL_TOKEN_RE = re.compile(r"(?:https?://)?[A-Za-z0-9\u4e00-\u9fff\-]+(?:\.[A-Za-z0-9\u4e00-\u9fff\-]+)+(?::\d+)?(?:/[^\s，,；;、（）()]*)?",
                           re.IGNORECASE)
_EMAIL_TOKEN_RE = re.compile(r"[^\s，,；;、（）()<>:：]+@[^\s，,；;、（）()<>]+")


def find_url(s: str | None) -> str | None:
    """The first valid URL inside a longer value (``"www.example.com（PC端）"``), or None."""
    text = normalize_url_text(s)
    for m in _URL_TOKEN_RE.finditer(text):
        if url_valid(m.group(0)):
            return m.group(0)
    return None


def find_email(s: str | None) -> str | None:
    """The first valid e-mail address inside a longer value, or None."""
    text = unicodedata.normalize("NFKC", s or "").replace("。", ".")
    for m in _EMAIL_TOKEN_RE.finditer(text):
        if email_valid(m.group(0)):
            return normalize_email(m.group(0))
    return None


def normalize_url_text(s: str | None) -> str:
    return unicodedata.normalize("NFKC", s or "").replace("。", ".")
