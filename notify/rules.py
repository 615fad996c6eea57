"""When not to answer a message: RFC 3834 loop rules and our own abuse limits.

Every function returns a human-readable reason (Chinese, with the rule in
brackets) or None. The reasons end up in the outbox row (status suppressed)
and in ``zxjyck show``, so they say exactly which header or rule decided.

``is_auto_reply`` and ``is_bounce`` are also what the classifier uses to give a
message the kinds ``auto_reply`` and ``bounce``.
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr

from zxjyck import labels

# Kinds of incoming message that may get an automatic answer (receipt, missing items, correction).
REPLYABLE_KINDS = frozenset({"application", "weekly_report"})

# Local parts of addresses that are machines or roles, never people (RFC 3834 section 2, RFC 2142).
_ROLE_LOCAL_PART = re.compile(
    r"""^(?:
        mailer-daemon | postmaster | mail-daemon | maildaemon | mailerdaemon
        | no[-_.]?reply | do[-_.]?not[-_.]?reply | dont[-_.]?reply | noreply
        | bounces? | listserv | majordomo | mailman
        | owner-.+ | .+-request | .+-bounces? | .+-owner
    )(?:[+\-_.].*)?$""",
    re.IGNORECASE | re.VERBOSE,
)
_IP_DOMAIN = re.compile(r"^(?:\[.*\]|[\d.]+|[0-9a-f:]+:[0-9a-f:.]*)$", re.IGNORECASE)  # [1.2.3.4], 1.2.3.4, ::1
_NOREPLY_ANYWHERE = re.compile(r"no[-_.]?reply|do[-_.]?not[-_.]?reply", re.IGNORECASE)
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+$")

# Subject openings of automatic answers, after optional brackets: 163, QQ, Outlook (zh/en), Gmail.
# Anchored and specific on purpose: the classifier trusts these before it looks at the content, so a
# city's "休假期间周报补报" or "发送失败重发：周报" must not match.
MAX_HEADER_CHARS = 4096  # of one header value read by these rules

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


def _as_headers(headers: Mapping[str, str] | Message | CaseInsensitiveHeaders) -> CaseInsensitiveHeaders:
    return headers if isinstance(headers, CaseInsensitiveHeaders) else CaseInsensitiveHeaders(headers)


def _token(value: str) -> str:
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


def role_sender_reason(addr: str) -> str | None:
    local = addr.rsplit("@", 1)[0]
    if _ROLE_LOCAL_PART.match(local) or _NOREPLY_ANYWHERE.search(local):
        return f"不自动回复：发件人 {addr} 为系统或不接收回复的地址 (RFC 3834 第2节)"
    return None


# ---------------------------------------------------------------- auto replies and bounces


def is_auto_reply(headers: Mapping[str, str] | Message, subject: str | None = None) -> str | None:
    """Why this message is an automatic answer (out of office, vacation, read receipt), or None.

    Only ``Auto-Submitted: auto-replied`` counts here; ``auto-generated`` mail (a
    system sending a report on its own) is still processed, it only gets no reply
    (see ``reply_block_reason``).
    """
    h = _as_headers(headers)
    auto_submitted = h.get("Auto-Submitted")
    if auto_submitted and _token(auto_submitted) == "auto-replied":
        return "自动回复：Auto-Submitted: auto-replied (RFC 3834)"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoreplied"):
        value = h.get(name)
        if value is not None and _token(value) not in ("no", "false", "0"):
            return f"自动回复：邮件带有 {name} 头"
    precedence = h.get("Precedence")
    if precedence and _token(precedence) == "auto_reply":
        return "自动回复：Precedence: auto_reply"
    content_type = h.get("Content-Type") or ""
    if _is_report_of_type(content_type, "disposition-notification"):
        return "自动回复：已读回执 (multipart/report; report-type=disposition-notification, RFC 8098)"
    subject = h.get("Subject") if subject is None else subject
    if subject and _AUTO_REPLY_SUBJECT.search(subject):
        return f"自动回复：主题“{_clip(subject)}”为自动回复"
    return None


def _is_report_of_type(content_type: str, report_type: str) -> bool:
    lowered = content_type.lower()
    return (
        lowered.startswith("multipart/report")
        and re.search(rf"report-type\s*=\s*\"?{re.escape(report_type)}\b", lowered) is not None
    )


def is_bounce(msg: Message, from_addr: str | None = None, subject: str | None = None) -> str | None:
    """Why this message is a delivery failure report (DSN, 退信), or None."""
    h = CaseInsensitiveHeaders(msg)
    content_type = h.get("Content-Type") or ""
    if _is_report_of_type(content_type, "delivery-status"):
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
    if subject and (_BOUNCE_SUBJECT.search(subject) or _BOUNCE_SUBJECT_ANYWHERE.search(subject)):
        return f"退信：主题“{_clip(subject)}”为退信通知"
    return None


def _has_part(msg: Message, content_types: tuple[str, ...]) -> bool:
    try:
        return any(part.get_content_type() in content_types for part in msg.walk())
    except Exception:  # a malformed tree is not a reason to crash the classifier
        return False


def _clip(text: str, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- the reply decision


def reply_block_reason(
    *,
    from_addr: str,
    headers: Mapping[str, str] | Message,
    kind: str,
    received_at: datetime,
    now: datetime,
    window_days: int,
    our_addresses: set[str],
    sent_today_to_sender: int,
    max_per_sender_per_day: int,
) -> str | None:
    """Why we must not auto-reply to this message, or None when a reply is allowed.

    ``from_addr`` is the From header value (display name allowed). ``headers`` may
    be a plain mapping or the Message itself; lookups ignore case. Checked in this
    order: kind, sender address, our own address, role senders, bounce and
    auto-reply markers, bulk and list mail, the reply window, the per-sender limit.
    X-Auto-Response-Suppress on incoming mail is deliberately not a reason: it
    asks Exchange not to send out-of-office notes, and government Exchange
    servers set it on ordinary mail, which must still get its receipt.
    """
    h = _as_headers(headers)
    for rule in (
        lambda: _kind_reason(kind),
        lambda: _sender_reason(from_addr, our_addresses),
        lambda: _null_return_path_reason(h),
        lambda: _loop_header_reason(h, our_addresses),
        lambda: _auto_submitted_reason(h),
        lambda: is_auto_reply(h),
        lambda: _bounce_header_reason(h),
        lambda: _bulk_reason(h),
        lambda: _window_reason(received_at, now, window_days),
        lambda: _rate_reason(from_addr, sent_today_to_sender, max_per_sender_per_day),
    ):
        reason = rule()
        if reason:
            return _as_block_reason(reason)
    return None


def _as_block_reason(reason: str) -> str:
    if reason.startswith("不自动回复"):
        return reason
    if reason.startswith("自动回复："):
        return f"不自动回复：来信是自动回复（{reason.removeprefix('自动回复：')}）"
    return f"不自动回复：{reason}"


def _kind_reason(kind: str) -> str | None:
    if kind in REPLYABLE_KINDS:
        return None
    return f"不自动回复：邮件类别为 {kind}（{labels.KIND.get(kind, '未知类别')}），只答复申报材料和周报"


def _sender_reason(from_addr: str, our_addresses: set[str]) -> str | None:
    addr = split_address(from_addr)
    if addr is None:
        shown = _clip(from_addr or "", 80) or "（空）"
        return f"不自动回复：发件人地址为空或无效“{shown}”"
    if addr.lower() in {a.lower() for a in our_addresses}:
        return f"不自动回复：发件人 {addr} 是本系统自己的地址（防止邮件循环）"
    if _IP_DOMAIN.match(addr.rsplit("@", 1)[1]):
        return f"不自动回复：发件人 {addr} 的域名是 IP 地址，不是正常的邮箱"
    return role_sender_reason(addr)


def _null_return_path_reason(h: CaseInsensitiveHeaders) -> str | None:
    return_path = h.get("Return-Path")
    if return_path is not None and return_path.replace(" ", "") in ("<>", ""):
        return "不自动回复：Return-Path 为空 (<>)，来信为退信或系统通知 (RFC 3834 第2节)"
    return None


def _loop_header_reason(h: CaseInsensitiveHeaders, our_addresses: set[str]) -> str | None:
    loop = (h.get("X-Loop") or "").lower()
    for addr in our_addresses:
        if addr and addr.lower() in loop:
            return f"不自动回复：X-Loop 头含本系统地址 {addr}（邮件循环）"
    return None


def _auto_submitted_reason(h: CaseInsensitiveHeaders) -> str | None:
    value = h.get("Auto-Submitted")
    if value is not None and _token(value) != "no":
        return f"不自动回复：Auto-Submitted: {_clip(value, 40)} (RFC 3834 第2节)"
    return None


def _bounce_header_reason(h: CaseInsensitiveHeaders) -> str | None:
    if _is_report_of_type(h.get("Content-Type") or "", "delivery-status"):
        return "不自动回复：来信为退信 multipart/report; report-type=delivery-status (RFC 3464)"
    if "X-Failed-Recipients" in h:
        return "不自动回复：来信为退信（X-Failed-Recipients）"
    subject = h.get("Subject") or ""
    if subject and (_BOUNCE_SUBJECT.search(subject) or _BOUNCE_SUBJECT_ANYWHERE.search(subject)):
        return f"不自动回复：主题“{_clip(subject)}”为退信通知"
    return None


def _bulk_reason(h: CaseInsensitiveHeaders) -> str | None:
    precedence = h.get("Precedence")
    if precedence and _token(precedence) in ("bulk", "junk", "list"):
        return f"不自动回复：Precedence: {_token(precedence)}（群发或邮件列表）(RFC 3834 第2节)"
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if name in h:
            return f"不自动回复：来信带有 {name} 头（邮件列表）(RFC 3834 第2节)"
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _window_reason(received_at: datetime, now: datetime, window_days: int) -> str | None:
    age = _aware(now) - _aware(received_at)
    if age > timedelta(days=window_days):
        return (
            f"不自动回复：邮件收于 {_aware(received_at):%Y-%m-%d %H:%M %z}，"
            f"已超过 {window_days} 天的自动回复期限"
        )
    return None


def _rate_reason(from_addr: str, sent_today: int, limit: int) -> str | None:
    if sent_today >= limit:
        addr = split_address(from_addr) or from_addr
        return f"不自动回复：今天已向 {addr} 自动发送 {sent_today} 封，达到每日上限 {limit} 封"
    return None
