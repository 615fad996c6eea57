"""Decode a raw message into what the pipeline needs, repairing real Chinese mail.

The stdlib parser (compat32, so nothing is silently "fixed" before we see it)
gives the structure; mail-parser gives body text and its defect analysis; the
repairs here cover what both get wrong with mail from Chinese clients and WPS:

* GB-family charset labels decoded as GB18030 (see :mod:`ingest.pipeline.charsets`; the two public
  entries below install the repair on first use, so importing a module changes nothing);
* RFC 2047 encoded-words inside quoted ``filename=``/``name=`` parameters;
* RFC 2231 parameters with continuations and a charset;
* raw 8-bit UTF-8 or GBK file names, recovered from the header bytes.

Every defect found is kept as a note; nothing here raises on bad input.
"""

from __future__ import annotations

import copy
import email
import email.header
import email.policy
import email.utils
import hashlib
import ipaddress
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message

import mailparser

from ingest.pipeline.charsets import decode_bytes, install
from zxjyck.charsets import codec_for
from zxjyck.message_ids import message_id_of, references_of

log = logging.getLogger(__name__)

MAX_PARTS = 500
# Header decoding bounds (hostile input): email.header.decode_header is quadratic in the number of
# encoded-words, and a header is decoded several times. Beyond these, the rest is kept raw, with a note.
MAX_HEADER_CHARS = 16_384  # characters of one header value decoded (a subject of 16 KB is already absurd)
MAX_ENCODED_WORDS = 200  # encoded-words decoded per header value
MAX_ADDRESSES = 100  # addresses read from one To/Cc/From value
MAX_HEADER_FIELDS = 500  # header fields decoded; later ones are kept raw (still found by name)


class RawHeaders(email.policy.Compat32):
    """compat32, but header values keep their raw 8-bit bytes (as surrogate escapes).

    Plain compat32 turns such a value into a ``Header`` of unknown-8bit, which
    prints as U+FFFD and loses the GBK or UTF-8 bytes we want to recover.
    """

    def header_fetch_parse(self, name, value):  # noqa: D102 - see class doc
        return value


RAW_POLICY = RawHeaders()
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")


@dataclass
class DecodedAttachment:
    filename: str  # decoded, as the sender meant it (never NFKC-normalised)
    content_type: str
    data: bytes
    raw_filename: str = ""  # the parameter as it stood in the header
    defects: list[str] = field(default_factory=list)
    # Set when ``data`` was dropped after analysis (a large message read in a child process): what the
    # attachment row records instead of measuring ``data``.
    kept_size: int | None = None
    kept_sha256: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.kept_size is None else self.kept_size

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.kept_sha256 is None else self.kept_sha256

    def without_data(self) -> DecodedAttachment:
        return replace(self, data=b"", kept_size=self.size, kept_sha256=self.sha256)


@dataclass
class DecodedMessage:
    message_id: str | None
    from_addr: str
    from_name: str
    to_addrs: list[str]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: list[str]
    headers: dict[str, str]  # lower-cased name -> first value, decoded
    text: str
    html: str
    attachments: list[DecodedAttachment]
    defects: list[str]
    is_mail: bool  # False when the bytes do not look like a message at all
    message: Message | None = None
    # Why the From header cannot be trusted to name one sender (several addresses, an IP-literal domain,
    # an address inside the display name...): such a message is held for staff and never answered.
    sender_problems: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)  # what the part limit left unread, for staff

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def nfkc(text: str) -> str:
    """Normalised form for matching only; stored values keep the original."""
    return unicodedata.normalize("NFKC", text)


def _unescape_raw(value: str) -> bytes | None:
    """compat32 keeps 8-bit header bytes as surrogate escapes; give them back."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return None
    return value.encode("utf-8", "surrogateescape")


def decode_header_value(value: str | email.header.Header | None, defects: list[str], what: str,
                        hint: str | None = None) -> str:
    """Decode one header value: encoded-words (GB repairs), raw 8-bit bytes, folding.

    ``hint`` is the charset the message declares elsewhere, used for raw 8-bit
    bytes that declare none.
    """
    install()  # idempotent: GB-family labels decode as GB18030 from here on
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    value, rest = _bounded(value, defects, what)
    raw = _unescape_raw(value)
    if raw is not None:
        defects.append(f"{what}: raw 8-bit bytes in header")
        if ENCODED_WORD.search(value):
            # 8-bit bytes inside encoded-words: keep each byte as one code point so
            # the word's own charset decodes it.
            value = raw.decode("latin-1")
        else:
            value = _decode_raw_8bit(raw, defects, what, hint)
    try:
        chunks = email.header.decode_header(value)
    except Exception as exc:  # malformed encoded-words: keep the raw text
        defects.append(f"{what}: malformed encoded-word ({exc.__class__.__name__})")
        return _unfold(value + rest)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset or hint, defects, what, hint))
    text = "".join(out)
    # decode_header leaves encoded-words it cannot split (e.g. glued to text) alone.
    if "=?" in text:
        text = ENCODED_WORD.sub(lambda m: _decode_word(m, defects, what), text)
    return _unfold(text + rest)


def _bounded(value: str, defects: list[str], what: str) -> tuple[str, str]:
    """(the part of a header value that is decoded, the rest kept raw), both bounded.

    At most MAX_HEADER_CHARS characters and MAX_ENCODED_WORDS encoded-words are
    decoded; the raw rest is kept up to MAX_HEADER_CHARS more characters (with
    raw 8-bit bytes made visible as U+FFFD). Linear in the length of the value.
    """
    if len(value) <= MAX_HEADER_CHARS and value.count("=?") <= MAX_ENCODED_WORDS:
        return value, ""
    cut = min(len(value), MAX_HEADER_CHARS)
    for count, match in enumerate(ENCODED_WORD.finditer(value, 0, cut), 1):
        if count == MAX_ENCODED_WORDS:
            cut = match.end()
            break
    else:
        if value.count("=?", 0, cut) > MAX_ENCODED_WORDS:  # "=?" that are not whole words: cut by count too
            cut = _nth(value, "=?", MAX_ENCODED_WORDS + 1)
    rest = value[cut:cut + MAX_HEADER_CHARS]
    rest = rest.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _unescape_raw(rest) else rest
    defects.append(f"{what}: header of {len(value)} characters; only the first {cut} decoded "
                   f"(at most {MAX_HEADER_CHARS} characters and {MAX_ENCODED_WORDS} encoded-words), the rest kept raw")
    return value[:cut], rest


def _nth(text: str, needle: str, n: int) -> int:
    """The index of the ``n``-th occurrence of ``needle`` in ``text`` (len(text) when fewer)."""
    index = -1
    for _ in range(n):
        index = text.find(needle, index + 1)
        if index < 0:
            return len(text)
    return index


def _decode_word(match: re.Match[str], defects: list[str], what: str) -> str:
    try:
        [(data, charset)] = email.header.decode_header(match.group(0))
    except Exception:
        return match.group(0)
    return data if isinstance(data, str) else decode_bytes(data, charset, defects, what)


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", text).strip()


def _decode_param(part: Message, defects: list[str], hint: str | None) -> tuple[str, str]:
    """The attachment's file name, decoded, and the raw parameter it came from."""
    raw_value: str | tuple | None = None
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw_value = part.get_param(param, header=header)
        if raw_value:
            break
    if not raw_value:
        return "", ""
    if isinstance(raw_value, tuple):  # RFC 2231: (charset, language, value), continuations joined
        charset, _lang, text = raw_value
        data = _rfc2231_bytes(text)
        if _unescape_raw(text) is not None:
            defects.append("filename: raw 8-bit bytes in parameter")
        name = _decode_raw_8bit(data, defects, "filename", part.get_content_charset() or hint, charset or None)
        return _storable(name.strip(), defects, "filename"), _raw_param_text(text)
    raw_text = email.utils.collapse_rfc2231_value(raw_value)
    name = raw_text
    raw_bytes = _unescape_raw(name)
    if raw_bytes is not None:
        defects.append("filename: raw 8-bit bytes in parameter")
        name = _decode_raw_8bit(raw_bytes, defects, "filename", part.get_content_charset() or hint)
    if "=?" in name:
        name = decode_header_value(name, defects, "filename", hint)
    return _storable(name.strip(), defects, "filename"), _raw_param_text(raw_text)


def _decode_raw_8bit(raw: bytes, defects: list[str], what: str, hint: str | None, label: str | None = None) -> str:
    """Raw 8-bit header bytes as text: the declared charset, UTF-8, the message's charset or GB18030 when
    one fits; otherwise UTF-8 with U+FFFD for the bytes that do not fit when most of the 8-bit bytes
    are UTF-8 (a damaged UTF-8 name), else GB18030 the same way, and a note (a Latin-1 reading would
    hide the damage as mojibake)."""
    notes: list[str] = []
    text = decode_bytes(raw, label, notes, what, hint)
    if not any("undecodable bytes" in note for note in notes):
        defects.extend(notes)
        return text
    text = raw.decode("utf-8", "replace")
    if 2 * text.count("\ufffd") > sum(byte > 127 for byte in raw):
        text = raw.decode("gb18030", "replace")
    defects.append(f"{what}: bytes in no known charset replaced by U+FFFD")
    return text


def _rfc2231_bytes(text: str) -> bytes:
    """The bytes of an RFC 2231 value: email gives %-escapes as code points below 256 and raw 8-bit
    bytes (a client that skipped the %-encoding) as surrogate escapes."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        elif code < 256:
            out.append(code)
        else:
            out.extend(ch.encode("utf-8", "surrogatepass"))
    return bytes(out)


def _raw_param_text(value: str) -> str:
    """A header parameter as it stood, as storable text: raw 8-bit bytes that are UTF-8 shown as such,
    any others as \\xNN escapes (never surrogates, which no database accepts)."""
    raw = _unescape_raw(value)
    if raw is None:
        return _storable(value, [], "parameter")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("ascii", "backslashreplace")


def _storable(text: str, defects: list[str], what: str) -> str:
    """Text every database takes: a lone surrogate (a byte nothing decoded) becomes U+FFFD, with a note."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    defects.append(f"{what}: undecodable bytes replaced by U+FFFD")
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _safe_name(name: str) -> str:
    """Strip path parts and control characters a stranger may put in a file name."""
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.strip() or ""


def _walk_attachments(msg: Message, defects: list[str], hint: str | None,
                      limited: list[str] | None = None) -> list[DecodedAttachment]:
    found: list[DecodedAttachment] = []
    parts = msg.walk()
    for index, part in enumerate(parts):
        if index >= MAX_PARTS:
            defects.append(f"more than {MAX_PARTS} MIME parts; the rest ignored")
            if limited is not None:
                limited.append(_parts_limit_note(part, parts))
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        part_defects: list[str] = []
        filename, raw_name = _decode_param(part, part_defects, hint)
        disposition = (part.get("content-disposition") or "").split(";")[0].strip().lower()
        if not filename and disposition != "attachment":
            if ctype in ("text/plain", "text/html") or ctype.startswith("multipart/"):
                continue
            if ctype in ("message/delivery-status", "message/rfc822", "text/rfc822-headers"):
                continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception as exc:
            part_defects.append(f"payload undecodable ({exc.__class__.__name__})")
            data = b""
        if part.defects:
            part_defects.extend(d.__class__.__name__ for d in part.defects)
        safe = _safe_name(filename) or f"attachment-{len(found) + 1}"
        if filename and safe != filename:
            part_defects.append("filename: path or control characters removed")
        found.append(DecodedAttachment(safe, ctype, data, raw_name, part_defects))
        defects.extend(_filename_notes(len(found), part_defects))
    return found


def _parts_limit_note(first: Message, rest) -> str:
    """The sentence naming what the part limit left unread: how many parts, how many of them files."""
    skipped = named = 0
    for part in (first, *rest):
        skipped += 1
        named += not part.is_multipart() and bool(part.get_param("filename", header="content-disposition")
                                                  or part.get_param("name"))
    return (f"邮件超过 {MAX_PARTS} 个 MIME 部分的上限，其余 {skipped} 个部分（其中 {named} 个附件）未读取，"
            f"待工作人员核对 / over the {MAX_PARTS}-part limit: {skipped} more parts ({named} files) not read")


def _filename_notes(number: int, part_defects: list[str]) -> list[str]:
    """An attachment's file-name repairs, for the message's notes (what staff see in `show`)."""
    return [f"attachment {number} {d}" for d in part_defects if d.startswith("filename:")]


def _addresses(value: str, defects: list[str], what: str, hint: str | None) -> list[tuple[str, str]]:
    """(display name, address) pairs: split on the raw header, display names decoded afterwards.

    Splitting first is what keeps an encoded display name that decodes to
    ``gzrsj@example.gov.cn,`` or ``张三\r\nBcc: victim@…`` a display name: the
    address is the one the header really carries. Names lose control characters.
    """
    pairs = _raw_pairs(value, defects, what, hint)
    out = []
    for raw_name, addr in pairs[:MAX_ADDRESSES]:
        addr = _decode_addr(addr, defects, what, hint)
        if not addr or "@" not in addr:
            continue
        name = _clean_name(decode_header_value(raw_name, defects, what, hint)) if raw_name else ""
        out.append((name, addr.strip().lower()))
    if len(pairs) > MAX_ADDRESSES:
        defects.append(f"{what}: {len(pairs)} addresses; only the first {MAX_ADDRESSES} kept")
    return out


def _decode_addr(addr: str, defects: list[str], what: str, hint: str | None) -> str:
    """An address as the stdlib's own generator writes a non-ASCII one: encoded-words inside the addr-spec.

    Not valid RFC 2047, but Python's email package produces it for ``用户@例子.中国``.
    Decoded only after the header was split, so what it decodes to cannot add an address.
    """
    if "=?" not in addr:
        return addr
    return _clean_name(decode_header_value(addr, defects, what, hint))


_NOT_ONE_ADDRESS = re.compile(r"[\s,;<>()\"]")


def _raw_pairs(value: str, defects: list[str], what: str, hint: str | None) -> list[tuple[str, str]]:
    """email.utils.getaddresses on the undecoded value (raw 8-bit bytes decoded, length bounded)."""
    if not value:
        return []
    value = str(value)
    if len(value) > MAX_HEADER_CHARS * 4:
        defects.append(f"{what}: header of {len(value)} characters; only the first {MAX_HEADER_CHARS * 4} read")
        value = value[:MAX_HEADER_CHARS * 4]
    raw = _unescape_raw(value)
    if raw is not None:
        defects.append(f"{what}: raw 8-bit bytes in header")
        value = decode_bytes(raw, None, defects, what, hint)
    try:
        return email.utils.getaddresses([_unfold(value)])
    except Exception:
        defects.append(f"{what}: unparseable address list")
        return []


_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# an address as a reader would take it: something@domain.tld ("张三@广州人社" is a name, not an address)
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@.]+(?:\.[^\s<>()\[\],;:\"@.]+)+")


def _clean_name(name: str) -> str:
    return re.sub(r"\s+", " ", _NAME_CONTROLS.sub(" ", name)).strip()


def _ip_domain(addr: str) -> bool:
    """An IP-literal (``[127.0.0.1]``, ``[IPv6:…]``) or bare-IP domain: no registered sender uses one."""
    domain = addr.rsplit("@", 1)[-1].strip().strip("[]")
    if domain.lower().startswith("ipv6:"):
        return True
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        return addr.rsplit("@", 1)[-1].startswith("[") or bool(re.fullmatch(r"[\d.]+", domain))
    return True


def sender_problems(msg: Message, hint: str | None) -> list[str]:
    """Why the From header does not name exactly one plausible sender (Chinese, the header quoted)."""
    values = msg.get_all("from") or []
    problems: list[str] = []
    if len(values) > 1:
        shown = _clean_name("; ".join(str(v)[:100] for v in values[:5]))
        problems.append(f"邮件有 {len(values)} 个 From 头（{shown}），无法确定发件人 / {len(values)} From headers")
    if not values:
        return problems
    sink: list[str] = []
    pairs = _raw_pairs(values[0], sink, "from", hint)
    addresses = [addr for _name, addr in pairs if addr]
    if len(pairs) > 1 or (pairs and len(addresses) != len(pairs)):
        shown = _clean_name(", ".join(a[:80] for a in addresses[:5])) + ("…" if len(addresses) > 5 else "")
        problems.append(f"发件人（From）含 {len(pairs)} 个地址或无法解析的部分（{shown}），无法确定发件人 / "
                        f"From holds {len(pairs)} addresses")
    for name, addr in pairs[:MAX_ADDRESSES]:
        decoded_addr = _decode_addr(addr, sink, "from", hint)
        if decoded_addr != addr and (_NOT_ONE_ADDRESS.search(decoded_addr) or decoded_addr.count("@") != 1):
            problems.append(f"发件人地址中的编码字解码为“{decoded_addr[:80]}”，不是一个地址 / "
                            "encoded-words in the address decode to more than one address")
        if addr and _ip_domain(addr):
            problems.append(f"发件人地址 {_clean_name(addr)[:80]} 的域名是 IP 地址，不是正常的邮箱 / "
                            "IP-literal sender domain")
        shown = decode_header_value(name, sink, "from", hint) if name else ""
        # "gzrsj@example.gov.cn" <gzrsj@example.gov.cn> is how many clients name a sender without a name
        if any(found.lower() != addr.strip().lower() for found in _ADDRESS_IN_TEXT.findall(shown)):
            problems.append(f"发件人显示名“{_clean_name(shown)[:80]}”中含有邮件地址，可能冒充他人 / "
                            "display name contains an address")
        if _NAME_CONTROLS.search(shown.replace("\t", " ")):
            problems.append("发件人显示名含换行或控制字符，可能企图注入邮件头 / control characters in display name")
    return list(dict.fromkeys(problems))


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        defects.append(f"date: unparseable {value[:60]!r}")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def received_time(msg: Message) -> datetime | None:
    """The time the topmost Received: hop (our own server) accepted the message."""
    for value in msg.get_all("received") or []:
        stamp = str(value).rsplit(";", 1)
        if len(stamp) == 2:
            found = _date(stamp[1].strip(), [])
            if found is not None:
                return found
    return None


def _charset_hint(msg: Message) -> str | None:
    """The first charset any part declares: what raw 8-bit headers most likely use."""
    try:
        for charset in msg.get_charsets():
            if charset and codec_for(charset) not in (None, "ascii"):
                return charset
    except Exception:
        return None
    return None


def looks_like_mail(raw: bytes) -> bool:
    head = raw[:4096].lstrip()
    return bool(re.match(rb"(?:From |[A-Za-z0-9-]{1,76}:)", head)) and b":" in head


def _not_mail_reason(raw: bytes) -> str:
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        return "not an e-mail message: an Outlook .msg / OLE2 file, not RFC 5322 mail"
    if raw.startswith(b"PK\x03\x04"):
        return "not an e-mail message: a zip archive"
    if raw.startswith(b"%PDF"):
        return "not an e-mail message: a PDF file"
    return "not an e-mail message: no header block"


def _bodies(msg: Message, defects: list[str]) -> tuple[str, str]:
    """The text and HTML bodies, from the stdlib walk; mail-parser only when that finds no text part.

    Calling mail-parser on every message doubled the decoding time and, on a
    message with large attachments, held a second decoded copy of each one.
    """
    text_parts: list[str] = []
    html_parts: list[str] = []
    for part in msg.walk():
        if part is not msg and part.defects:
            defects.extend(f"mime: {d.__class__.__name__}" for d in part.defects)
        if part.is_multipart() or part.get_filename():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        if (part.get("content-disposition") or "").lower().startswith("attachment"):
            continue
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:
            defects.append("body: undecodable payload")
            continue
        text = decode_bytes(payload, part.get_content_charset(), defects, "body")
        (text_parts if ctype == "text/plain" else html_parts).append(text)
    if not text_parts and not html_parts and msg.is_multipart():
        text_parts = _mailparser_text(msg, defects)
    return "\n".join(text_parts), "\n".join(html_parts)


def _mailparser_text(msg: Message, defects: list[str]) -> list[str]:
    """mail-parser's reading of bodies the stdlib walk could not place (odd multipart structures)."""
    try:
        parsed = mailparser.MailParser(_bounded_headers(msg))
    except Exception as exc:  # mail-parser gave up as well
        defects.append(f"body: mail-parser failed ({exc.__class__.__name__})")
        return []
    return [t for t in parsed.text_plain if t]


def _bounded_headers(msg: Message) -> Message:
    """A shallow copy of ``msg`` whose top-level header values are cut to the decoding bounds.

    mail-parser decodes every header of the message it is given, without bounds;
    the copy keeps the body parts (shared, not copied) for the text it reads.
    """
    clone = copy.copy(msg)
    for name, value in msg.items():
        text = str(value)
        if len(text) > MAX_HEADER_CHARS or text.count("=?") > MAX_ENCODED_WORDS:
            del clone[name]  # rebinds the clone's header list; the original keeps its own
            clone[name] = _bounded(text, [], name)[0]
    return clone


def decode_message(raw: bytes) -> DecodedMessage:
    """Decode raw bytes; never raises. Bytes that are not mail give ``is_mail=False``."""
    install()  # idempotent: GB-family labels decode as GB18030 from here on
    defects: list[str] = []
    if not raw.strip():
        return DecodedMessage(None, "", "", [], "", None, None, [], {}, "", "", [], ["empty file"], False)
    is_mail = looks_like_mail(raw)
    if not is_mail:
        defects.append(_not_mail_reason(raw))
    try:
        msg = email.message_from_bytes(raw, policy=RAW_POLICY)
    except Exception as exc:  # pragma: no cover - compat32 is extremely lenient
        defects.append(f"mime: unparseable ({exc.__class__.__name__})")
        return DecodedMessage(None, "", "", [], "", None, None, [], {}, "", "", [], defects, False)
    defects.extend(f"mime: {d.__class__.__name__}" for d in msg.defects)
    hint = _charset_hint(msg)
    headers: dict[str, str] = {}
    for index, (name, value) in enumerate(msg.items()):
        key = name.lower()
        if key in headers:
            continue
        if index < MAX_HEADER_FIELDS:
            headers[key] = decode_header_value(value, [], key, hint)
        else:
            headers[key] = _unfold(str(value)[:MAX_HEADER_CHARS])
    if len(msg) > MAX_HEADER_FIELDS:
        defects.append(f"{len(msg)} header fields; those after the first {MAX_HEADER_FIELDS} kept undecoded")
    subject = _storable(decode_header_value(msg.get("subject"), defects, "subject", hint), defects, "subject")
    senders = _addresses(msg.get("from", ""), defects, "from", hint)
    from_name, from_addr = senders[0] if senders else ("", "")
    suspicious = sender_problems(msg, hint)
    to_value = ", ".join(str(v) for v in msg.get_all("to") or [])
    to_addrs = [a for _n, a in _addresses(to_value, defects, "to", hint)]
    limited: list[str] = []
    try:
        attachments = _walk_attachments(msg, defects, hint, limited) if is_mail else []
        text, html = _bodies(msg, defects) if is_mail else ("", "")
    except RecursionError:
        defects.append("mime: nesting too deep")
        attachments, text, html = [], "", ""
    references = references_of(msg.get("references"))
    return DecodedMessage(
        message_id=message_id_of(msg.get("message-id")),
        from_addr=from_addr,
        from_name=from_name,
        to_addrs=to_addrs,
        subject=subject,
        date=_date(msg.get("date"), defects),
        in_reply_to=message_id_of(msg.get("in-reply-to")),
        references=references,
        headers=headers,
        text=text,
        html=html,
        attachments=attachments,
        defects=list(dict.fromkeys(defects)),
        is_mail=is_mail,
        message=msg,
        sender_problems=suspicious,
        limited=limited,
    )


__all__ = ["DecodedAttachment", "DecodedMessage", "codec_for", "decode_message", "nfkc", "received_time"]
