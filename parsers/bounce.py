"""Read a delivery failure report: which of our notices bounced, for whom, and why.

Standard DSNs (RFC 3464: multipart/report with message/delivery-status and the
returned message as message/rfc822 or text/rfc822-headers) are read by
structure. Non-standard 退信 from 163.com, QQ and Exchange, which quote the
original headers in the body text or attach the original as an .eml file, are
scanned for a Message-ID line. Nothing here raises on malformed input.
"""

from __future__ import annotations

import email.errors
import html
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

from zxjyck.charsets import codec_for
from zxjyck.message_ids import message_id_of

log = logging.getLogger(__name__)

MAX_SCAN_CHARS = 1_000_000  # of one text part
MAX_SUMMARY_CHARS = 300
MAX_REASON_CHARS = 1000

_MESSAGE_ID_LINE = re.compile(
    r"(?im)^[ \t>]*(?:X-)?(?:Original-)?Message-?I[Dd]\s*[:：]\s*<?\s*([^\s<>\"]+@[^\s<>\"]+?)\s*>?\s*$"
)
_ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_CN_RECIPIENT = re.compile(
    r"(?:收件人|收信人|\bRecipient)\s*(?:地址|邮箱)?\s*[:：]\s*<?([^\s<>，,;；]+@[^\s<>，,;；]+)>?", re.I
)
_CN_REASON = re.compile(r"(?:退信原因|失败原因|原因|Reason|Diagnostic(?:-Code)?)\s*[:：]\s*(.+)", re.I)
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_MESSAGE_TYPES = ("message/rfc822", "message/global")
_RETURNED_HEADER_TYPES = ("text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers")


@dataclass
class BounceRecipient:
    """One failed recipient as the report states it."""

    recipient: str
    action: str = ""  # failed | delayed | delivered | relayed | expanded
    status: str = ""  # "5.1.1"
    diagnostic: str = ""  # "smtp; 550 5.1.1 User unknown"

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5") or self.action.lower() == "failed"

    def text(self) -> str:
        parts = [self.recipient]
        if self.action:
            parts.append(self.action)
        if self.status:
            parts.append(self.status)
        if self.diagnostic:
            parts.append(self.diagnostic)
        return " ".join(parts)


@dataclass
class BounceReport:
    message_ids: list[str] = field(default_factory=list)
    recipients: list[BounceRecipient] = field(default_factory=list)
    summary: str = ""


def parse_bounce(msg: Message) -> BounceReport:
    """Everything a bounce tells: the Message-IDs returned, the recipients and a one-line summary."""
    recipients = bounce_recipients(msg)
    return BounceReport(
        message_ids=bounced_message_ids(msg),
        recipients=recipients,
        summary=bounce_summary(msg, recipients),
    )


# ---------------------------------------------------------------- Message-IDs


def bounced_message_ids(msg: Message) -> list[str]:
    """Message-IDs ("<...>") of the returned message(s), structured parts first, then quoted text."""
    found: list[str] = []
    for part in _parts(msg):
        found.extend(_ids_in_part(part))
    unique: list[str] = []
    for raw in found:
        mid = message_id_of(raw, strict=True)
        if mid and mid not in unique:
            unique.append(mid)
    return unique


def _parts(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except Exception:  # a broken MIME tree still gets its top part read
        log.debug("walk failed on a bounce; reading the top part only", exc_info=True)
        return [msg]


def _ids_in_part(part: Message) -> list[str]:
    try:
        content_type = part.get_content_type()
        if content_type in _RETURNED_MESSAGE_TYPES:
            return [str(inner.get("Message-ID", "")) for inner in _inner_messages(part)]
        if content_type in _RETURNED_HEADER_TYPES:
            headers = HeaderParser().parsestr(_part_text(part), headersonly=True)
            return [str(headers.get("Message-ID", ""))] + _ids_in_text(_part_text(part))
        if _looks_like_eml_attachment(part):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                inner = BytesParser(policy=policy.compat32).parsebytes(payload, headersonly=True)
                return [str(inner.get("Message-ID", ""))]
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), str):
            return _ids_in_text(part.get_payload())  # a multipart whose boundary is missing: read it raw
        if content_type == "text/html":
            return _ids_in_text(html_to_text(_part_text(part)))
        if part.get_content_maintype() == "text":
            return _ids_in_text(_part_text(part))
    except (LookupError, UnicodeError, ValueError, TypeError, IndexError, email.errors.MessageError):
        log.debug("unreadable part in a bounce", exc_info=True)
    return []


def _inner_messages(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [inner for inner in payload if isinstance(inner, Message)]
    if isinstance(payload, str):  # an unparsed message/rfc822 body
        return [HeaderParser().parsestr(payload, headersonly=True)]
    return []


def _looks_like_eml_attachment(part: Message) -> bool:
    name = (part.get_filename() or "").lower()
    return name.endswith(".eml") and part.get_content_maintype() in ("application", "text", "message")


def _ids_in_text(text: str) -> list[str]:
    return _MESSAGE_ID_LINE.findall(text[:MAX_SCAN_CHARS])


def html_to_text(markup: str) -> str:
    """Tags to line breaks, entities decoded: "&lt;id@x&gt;" becomes "<id@x>" only after tags are gone."""
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", markup[:MAX_SCAN_CHARS])
    markup = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h\d|table)\s*>", "\n", markup)
    markup = re.sub(r"<[^>]*>", " ", markup)
    return html.unescape(markup)


def _part_text(part: Message) -> str:
    """The decoded text of a leaf part, trying the declared charset, then UTF-8, then GB18030."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    for charset in (codec_for(part.get_content_charset()), "utf-8", "gb18030"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- recipients and reasons


def bounce_recipients(msg: Message) -> list[BounceRecipient]:
    """Per-recipient fields of the DSN; for a non-standard bounce, X-Failed-Recipients or 收件人 lines."""
    recipients: list[BounceRecipient] = []
    for part in _parts(msg):
        try:
            if part.get_content_type() in _DSN_TYPES:
                recipients.extend(_dsn_recipients(part))
        except (LookupError, UnicodeError, ValueError, TypeError, email.errors.MessageError):
            log.debug("unreadable delivery-status part", exc_info=True)
    if recipients:
        return recipients
    return _recipients_from_text(msg)


def _dsn_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = _part_text(part).replace("\r\n", "\n")
    return [
        HeaderParser().parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text) if chunk.strip()
    ]


def _dsn_recipients(part: Message) -> list[BounceRecipient]:
    found = []
    for block in _dsn_blocks(part):
        recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
        if not recipient:
            continue  # the per-message block (Reporting-MTA, Arrival-Date ...)
        found.append(
            BounceRecipient(
                recipient=recipient.split(";", 1)[-1].strip(),
                action=_field(block, "Action").lower(),
                status=_field(block, "Status"),
                diagnostic=_field(block, "Diagnostic-Code"),
            )
        )
    return found


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""


def _recipients_from_text(msg: Message) -> list[BounceRecipient]:
    reason = ""
    addresses: list[str] = []
    failed_header = msg.get("X-Failed-Recipients")
    if failed_header:
        addresses.extend(_ADDRESS.findall(str(failed_header)))
    for text in _body_texts(msg):
        if not addresses:
            addresses.extend(_CN_RECIPIENT.findall(text))
        if not reason:
            reason = _reason_in_text(text)
    unique = list(dict.fromkeys(a.strip(".,;，；") for a in addresses))
    return [BounceRecipient(recipient=addr, action="failed", diagnostic=reason) for addr in unique]


def _reason_in_text(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        match = _CN_REASON.search(line)
        if not match:
            continue
        value = match.group(1).strip()
        if not value:  # "退信原因：" with the reason on the next non-empty line
            value = next((nxt for nxt in lines[index + 1 :] if nxt), "")
        return re.sub(r"\s+", " ", value)[:MAX_REASON_CHARS]
    return ""


def _body_texts(msg: Message) -> list[str]:
    """The text of the bounce's own explanation (not of a returned message inside it)."""
    texts: list[str] = []
    skip: set[int] = set()
    for part in _parts(msg):
        if id(part) in skip:
            continue
        try:
            if part.get_content_type() in _RETURNED_MESSAGE_TYPES:
                skip.update(id(sub) for inner in _inner_messages(part) for sub in inner.walk())
                continue
            if part.get_content_type() == "text/plain":
                texts.append(_part_text(part)[:MAX_SCAN_CHARS])
            elif part.get_content_type() == "text/html":
                texts.append(html_to_text(_part_text(part)))
        except (LookupError, UnicodeError, ValueError, TypeError, email.errors.MessageError):
            continue
    return texts


def bounce_summary(msg: Message, recipients: list[BounceRecipient] | None = None) -> str:
    """One line for the digest and `zxjyck show`: "gzrsj@x failed 5.1.1 smtp; 550 5.1.1 User unknown"."""
    recipients = bounce_recipients(msg) if recipients is None else recipients
    if recipients:
        line = "；".join(r.text() for r in recipients)
    else:
        line = next((_reason_in_text(t) for t in _body_texts(msg) if _reason_in_text(t)), "")
        line = line or "退信未说明原因"
    line = re.sub(r"\s+", " ", line).strip()
    return line if len(line) <= MAX_SUMMARY_CHARS else line[: MAX_SUMMARY_CHARS - 1] + "…"
