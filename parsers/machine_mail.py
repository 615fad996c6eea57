"""Mail sent by machines: automatic answers (RFC 3834) and delivery failure reports (RFC 3464).

The classifier gives a message the kind ``auto_reply`` or ``bounce`` with these
rules, before it looks at the content; the outbox's reply rules
(``notify.rules``) use the same ones never to answer such mail. Each function
returns a human-readable reason (Chinese, with the header or rule that decided)
or None. Nothing here raises on malformed headers.
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Iterable, Mapping
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr

MAX_HEADER_CHARS = 4096  # of one header value read by these rules
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+$")

# Subject openings of automatic answers, after optional brackets: 163, QQ, Outlook (zh/en), Gmail.
# Anchored and specific on purpose: the classifier trusts these before it looks at the content, so a
# city's "休假期间周报补报" or "发送失败重发：周报" must not match.

_AUTO_REPLY_SUBJECT = re.compile(
    r"""^[\s\[【(（「]*(?:
        自动回复 | 自动答复 | 自動回覆 | 自动应答 | 休假(?:自动)?(?:回复|答复|通知|中)
        | auto(?:matic)?[-\s]?(?:reply|response|answer)
        | autoreply | out\s+of\s+(?:the\s+)?office | vacation\s+(?:reply|notice|message)
        | abwesenheitsnotiz
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_BOUNCE_SUBJECT = re.compile(
    r"""^[\s\[【(（「]*(?:
        系统退信 | 退信 | 邮件退回 | 投递失败 | 无法投递 | 未能送达
        | undeliverable | undelivered\s+mail | delivery\s+status\s+notification
        | delivery\s+(?:failure|failed|notification|has\s+failed) | mail\s+delivery\s+(?:failed|failure|system|subsystem)
        | returned\s+mail | failure\s+notice | non[-\s]?delivery | message\s+not\s+delivered
        | nondeliverable | rejected:
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_BOUNCE_SUBJECT_ANYWHERE = re.compile(
    r"系统退信|Undeliverable:|Delivery Status Notification \(Failure\)", re.I
)


class CaseInsensitiveHeaders:
    """Read-only, case-insensitive view of a header mapping or an email Message (first value wins).

    A Message is read from its raw header values (RFC 2047 words decoded here), so a
    malformed header never raises.
    """

    def __init__(self, headers: Mapping[str, str] | Message) -> None:
        self._values: dict[str, str] = {}
        pairs: Iterable[tuple[str, object]]
        pairs = headers.raw_items() if isinstance(headers, Message) else headers.items()
        for name, value in pairs:
            self._values.setdefault(str(name).strip().lower(), _header_text(value))

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


def _header_text(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_HEADER_CHARS:  # hostile length: decode_header is quadratic in encoded-words
        text = text[:MAX_HEADER_CHARS]
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
            pass  # keep the raw words; a reason quoting them is still useful
    return re.sub(r"\s+", " ", text).strip()


def as_headers(headers: Mapping[str, str] | Message | CaseInsensitiveHeaders) -> CaseInsensitiveHeaders:
    return headers if isinstance(headers, CaseInsensitiveHeaders) else CaseInsensitiveHeaders(headers)


def header_token(value: str) -> str:
    """The first word of a structured header value, without parameters or comments: "auto-replied"."""
    value = re.sub(r"\([^)]*\)", " ", value)
    return value.split(";", 1)[0].strip().lower()


def split_address(raw: str) -> str | None:
    """The plain address in a From value ("张三 <a@b.cn>" -> "a@b.cn"), None when it is not one."""
    if not raw or "\n" in raw or "\r" in raw:
        return None
    _name, addr = parseaddr(raw)
    addr = addr.strip()
    return addr if _ADDRESS.match(addr) else None


def is_auto_reply(headers: Mapping[str, str] | Message, subject: str | None = None) -> str | None:
    """Why this message is an automatic answer (out of office, vacation, read receipt), or None.

    Only ``Auto-Submitted: auto-replied`` counts here; ``auto-generated`` mail (a
    system sending a report on its own) is still processed, it only gets no reply
    (see ``notify.rules.reply_block_reason``).
    """
    h = as_headers(headers)
    auto_submitted = h.get("Auto-Submitted")
    if auto_submitted and header_token(auto_submitted) == "auto-replied":
        return "自动回复：Auto-Submitted: auto-replied (RFC 3834)"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoreplied"):
        value = h.get(name)
        if value is not None and header_token(value) not in ("no", "false", "0"):
            return f"自动回复：邮件带有 {name} 头"
    precedence = h.get("Precedence")
    if precedence and header_token(precedence) == "auto_reply":
        return "自动回复：Precedence: auto_reply"
    content_type = h.get("Content-Type") or ""
    if is_report_of_type(content_type, "disposition-notification"):
        return "自动回复：已读回执 (multipart/report; report-type=disposition-notification, RFC 8098)"
    subject = h.get("Subject") if subject is None else subject
    if subject and _AUTO_REPLY_SUBJECT.search(subject):
        return f"自动回复：主题“{clip(subject)}”为自动回复"
    return None


def is_report_of_type(content_type: str, report_type: str) -> bool:
    lowered = content_type.lower()
    return (
        lowered.startswith("multipart/report")
        and re.search(rf"report-type\s*=\s*\"?{re.escape(report_type)}\b", lowered) is not None
    )


def is_bounce(msg: Message, from_addr: str | None = None, subject: str | None = None) -> str | None:
    """Why this message is a delivery failure report (DSN, 退信), or None."""
    h = CaseInsensitiveHeaders(msg)
    content_type = h.get("Content-Type") or ""
    if is_report_of_type(content_type, "delivery-status"):
        return "退信：multipart/report; report-type=delivery-status (RFC 3464)"
    if _has_part(msg, ("message/delivery-status", "message/global-delivery-status")):
        return "退信：邮件含 message/delivery-status 部分 (RFC 3464)"
    if "X-Failed-Recipients" in h:
        return "退信：邮件带有 X-Failed-Recipients 头"
    addr = split_address(from_addr if from_addr is not None else h.get("From") or "")
    if addr:
        local = addr.rsplit("@", 1)[0].lower()
        if local in ("mailer-daemon", "postmaster", "mail-daemon", "maildaemon", "mailerdaemon"):
            return f"退信：发件人为 {addr}"
    subject = h.get("Subject") if subject is None else subject
    if is_bounce_subject(subject):
        return f"退信：主题“{clip(subject)}”为退信通知"
    return None


def is_bounce_subject(subject: str | None) -> bool:
    """A subject that 163, QQ, Exchange or a standard MTA gives a delivery failure report."""
    return bool(subject) and bool(_BOUNCE_SUBJECT.search(subject) or _BOUNCE_SUBJECT_ANYWHERE.search(subject))


def _has_part(msg: Message, content_types: tuple[str, ...]) -> bool:
    try:
        return any(part.get_content_type() in content_types for part in msg.walk())
    except Exception:  # a malformed tree is not a reason to crash the classifier
        return False


def clip(text: str, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


