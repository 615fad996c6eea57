"""Sender-controlled text made safe to show: control and bidirectional-override characters removed.

Jinja2's autoescape handles HTML; this handles what escaping does not (CR/LF
and other controls, U+202E and friends that reorder what staff read). A
private stand-in until a shared helper exists for the whole project.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_SPACES = re.compile(r"[\r\n\t\v\f\u2028\u2029\x85]+")


def strip_controls(value: str, keep_newlines: bool = False) -> str:
    """Remove control (Cc) and format (Cf) characters; line breaks become one space unless kept."""
    if not keep_newlines:
        value = _SPACES.sub(" ", value)
    return "".join(ch for ch in value
                   if (keep_newlines and ch == "\n") or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A download name with no path, no quotes, no controls; never empty, never a dot-file."""
    name = strip_controls(name or "")
    name = re.sub(r'[\\/:*?"<>|\'`;]', "_", name).strip(" .")
    return name[:180] or fallback


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    safe = safe_filename(name)
    ascii_name = safe.encode("ascii", "replace").decode("ascii").replace("?", "_") or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe, safe='')}"
