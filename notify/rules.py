"""When not to answer a message: RFC 3834 loop rules and our own abuse limits.

Every function returns a human-readable reason (Chinese, with the rule in
brackets) or None. The reasons end up in the outbox row (status suppressed)
and in ``zxjyck show``, so they say exactly which header or rule decided.

Whether a message is an automatic answer or a bounce is read by the inbound
rules in :mod:`parsers.machine_mail` (the classifier's too); this module only
decides what we send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import Message

from parsers.machine_mail import (
    CaseInsensitiveHeaders,
    as_headers,
    clip,
    header_token,
    is_auto_reply,
    is_bounce_subject,
    is_report_of_type,
    split_address,
)
from zxjyck import labels

# Kinds of incoming message that may get an automatic answer (receipt, missing items, correction).
REPLYABLE_KINDS = frozenset({"application", "weekly_report", "status_query"})

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


def role_sender_reason(addr: str) -> str | None:
    local = addr.rsplit("@", 1)[0]
    if _ROLE_LOCAL_PART.match(local) or _NOREPLY_ANYWHERE.search(local):
        return f"不自动回复：发件人 {addr} 为系统或不接收回复的地址 (RFC 3834 第2节)"
    return None


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
    h = as_headers(headers)
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
    return f"不自动回复：邮件类别为 {kind}（{labels.KIND.get(kind, '未知类别')}），只答复申报材料、周报和进度查询"


def _sender_reason(from_addr: str, our_addresses: set[str]) -> str | None:
    addr = split_address(from_addr)
    if addr is None:
        shown = clip(from_addr or "", 80) or "（空）"
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
    if value is not None and header_token(value) != "no":
        return f"不自动回复：Auto-Submitted: {clip(value, 40)} (RFC 3834 第2节)"
    return None


def _bounce_header_reason(h: CaseInsensitiveHeaders) -> str | None:
    if is_report_of_type(h.get("Content-Type") or "", "delivery-status"):
        return "不自动回复：来信为退信 multipart/report; report-type=delivery-status (RFC 3464)"
    if "X-Failed-Recipients" in h:
        return "不自动回复：来信为退信（X-Failed-Recipients）"
    subject = h.get("Subject") or ""
    if is_bounce_subject(subject):
        return f"不自动回复：主题“{clip(subject)}”为退信通知"
    return None


def _bulk_reason(h: CaseInsensitiveHeaders) -> str | None:
    precedence = h.get("Precedence")
    if precedence and header_token(precedence) in ("bulk", "junk", "list"):
        return f"不自动回复：Precedence: {header_token(precedence)}（群发或邮件列表）(RFC 3834 第2节)"
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
