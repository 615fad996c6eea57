"""Sender-controlled text made safe to show: control and bidirectional-override characters removed.

Jinja2's autoescape handles HTML; ``ingest.safe_text.strip_controls`` (the one
rule for the CLI, the console and the logs) handles what escaping does not: CR/LF
and other controls, U+202E and friends that reorder what staff read.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from zxjyck.text import strip_controls

__all__ = ["content_disposition", "safe_filename", "strip_controls"]


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
