"""Charset repairs for real Chinese mail.

Chinese mail clients label GBK (and GB18030) text as ``gb2312`` all the time,
and GB2312 cannot decode the many characters outside it (e.g. 镕, 喆, 珺, 堃).
GB18030 is a strict superset of GB2312 and GBK, so decoding any of these labels
as GB18030 loses nothing and repairs the rest (the mapping itself:
:mod:`zxjyck.charsets`, shared with parsers and notify).

Python caches codec look-ups by name, so :func:`install` should run before
anything decodes a GBK-family label: ``decode_message`` and ``decode_header_value``
(ingest/pipeline/decode.py), the entries that decode mail, call it (idempotent) on
first use. Importing a module patches nothing; :func:`codec_for` never relies on the
cache, so a look-up made before :func:`install` changes no result of ours.
"""

from __future__ import annotations

import email.charset
import encodings
import encodings.aliases

from zxjyck.charsets import GB_FAMILY, codec_for

__all__ = ["GB_FAMILY", "codec_for", "decode_bytes", "install"]

_installed = False


def install() -> None:
    """Make every GB-family label decode as GB18030 (idempotent)."""
    global _installed
    if _installed:
        return
    for label in GB_FAMILY:
        encodings.aliases.aliases[label] = "gb18030"
        # The module-level cache of encodings.search_function, if it already saw the label.
        encodings._cache.pop(label, None)  # type: ignore[attr-defined]
    for label in ("gb2312", "gbk", "cp936", "euc-cn", "x-gbk", "gb_2312-80"):
        email.charset.add_charset(label, email.charset.BASE64, email.charset.BASE64, "gb18030")
        email.charset.CODEC_MAP[label] = "gb18030"
    _installed = True


_EIGHT_BIT = ("gb18030", "gbk", "gb2312", "big5", "iso8859", "latin", "cp125", "windows", "koi8", "mac", "cp")


def _is_utf8_multibyte(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, label: str | None, defects: list[str] | None = None, what: str = "text",
                 hint: str | None = None) -> str:
    """Decode bytes with the declared charset, repairing what real mail gets wrong.

    Valid UTF-8 with non-ASCII bytes wins over any 8-bit label: text in a GB or
    Latin charset is almost never valid UTF-8 by accident, while UTF-8 labelled
    ``gb2312`` is a common client bug. Otherwise the order is: the declared
    charset (GB family as GB18030); then UTF-8; then the
    ``hint`` (the charset the rest of the message declares, which is what an
    undeclared 8-bit header almost always uses); then GB18030; then Latin-1
    (never fails). Every fallback is recorded in ``defects``.
    """
    codec = codec_for(label)
    if label and codec is None and defects is not None:
        defects.append(f"{what}: unknown charset {label!r}")
    tried: list[str] = []
    first = "utf-8" if codec not in (None, "utf-8") and _is_utf8_multibyte(data) and codec.startswith(_EIGHT_BIT) \
        else codec
    for candidate in (first, codec, "utf-8", codec_for(hint), "gb18030"):
        if candidate is None or candidate in tried:
            continue
        tried.append(candidate)
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        if defects is not None and codec is not None and candidate != codec:
            defects.append(f"{what}: declared charset {label!r} does not fit, decoded as {candidate}")
        elif defects is not None and codec is None and label is None and candidate != "utf-8" and not data.isascii():
            defects.append(f"{what}: no charset declared, decoded as {candidate}")
        return text
    if defects is not None:
        defects.append(f"{what}: undecodable bytes, shown as Latin-1")
    return data.decode("latin-1")
