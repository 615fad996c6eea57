"""Message-IDs read from headers: the one rule for what we store and what we thread.

``message_id_of`` reads what a sender sent (Message-ID, In-Reply-To): the first
``<id>`` in the value, or the bare value bracketed. It is lenient, because real
ids without an ``@`` (``<12345.JavaMail>``) still link a thread, and it cuts to
998 characters (the RFC 5322 line limit and the column size) against hostile
input. With ``strict=True`` it is the rule for ids we put in our own headers
(References, In-Reply-To) and for the ids a bounce quotes: one ``local@domain``
of at most 250 characters, nothing that could break a header.
"""

from __future__ import annotations

import re

MAX_ID = 998  # RFC 5322 line limit; also the column size
MAX_STRICT_ID = 250
MAX_REFERENCES_READ = 50  # of a References header, the newest ones are kept

_BRACKETED = re.compile(r"<([^<>\s]+)>")
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f]+")
_NOT_IN_STRICT = re.compile(r"[\s<>\"]")


def message_id_of(value: object, strict: bool = False) -> str | None:
    """``<id>`` from "<id>", " id ", "<id> (comment)"; None when the value holds none (see the module doc)."""
    if not value:
        return None
    value = str(value)
    match = _BRACKETED.search(value)
    if strict:
        core = match.group(1) if match else _BLANKS.sub(" ", value).strip().strip("<>")
        if not core or _NOT_IN_STRICT.search(core) or "@" not in core or len(core) > MAX_STRICT_ID:
            return None
        return f"<{core}>"
    if match:
        return match.group(0)[:MAX_ID]
    value = value.strip()
    return f"<{value}>"[:MAX_ID] if value and " " not in value else None


def references_of(value: object) -> list[str]:
    """The <ids> of a References header, the last 50 (the thread's newest), each cut to 998 characters."""
    return [m.group(0)[:MAX_ID] for m in _BRACKETED.finditer(str(value or ""))][-MAX_REFERENCES_READ:]
