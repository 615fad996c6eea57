"""Sender text made safe to print: the one rule for the CLI, the console and the logs.

Every subject, display name, file name or problem sentence that quotes one
comes from a stranger. Printed as is, it can clear the screen (``ESC[2J``),
plant a hyperlink (OSC 8), recolour the terminal, hide text behind bidi
overrides or NUL bytes, or, through rich, be read as markup (``[/]`` raises
``MarkupError``).

``strip_controls`` removes all of that and keeps the text otherwise unchanged:

* ESC sequences are removed whole (CSI ``ESC[…m``, OSC ``ESC]…BEL`` or
  ``ESC]…ESC\\``, and two-character escapes), not only their ESC byte, so no
  ``[2J`` debris is left;
* every other C0 control (NUL included), DEL and every C1 control
  (U+0080–U+009F, where the 8-bit CSI U+009B lives) is removed;
* bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
  the implicit marks U+200E/U+200F/U+061C are removed: they reorder what staff
  read (``gpj.exe`` shown as ``exe.jpg``);
* line and paragraph separators (U+2028/U+2029) and a lone CR become a space;
* ``\\n`` and ``\\t`` are kept only with ``keep_newlines=True`` (multi-line
  problem lists); by default they become one space, so a one-line field (a
  subject, a table cell, a log line) stays one line and cannot forge a second
  log record.

``for_terminal`` is ``strip_controls`` plus rich markup escaping, for text
handed to a rich ``Console``/``Table`` that interprets markup.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, tzinfo

from rich.markup import escape

# ESC followed by: CSI (parameters, intermediates, final byte), OSC / DCS / SOS / PM / APC strings up to
# BEL or ST (ESC \), or a single character. An unterminated string swallows the rest (nothing is printed).
_ESCAPE_SEQUENCE = re.compile(
    r"""\x1b(?:
        \[[0-?]*[ -/]*[@-~]?
      | [\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|$)
      | [ -/]*[0-~]?
    )""",
    re.VERBOSE,
)
# The 8-bit forms: C1 CSI (U+009B) and OSC/DCS strings (U+009D, U+0090) with their parameters.
_C1_SEQUENCE = re.compile(r"\x9b[0-?]*[ -/]*[@-~]?|[\x90\x9d\x98\x9e\x9f][^\x07\x9c\x1b]*(?:\x07|\x9c)?")
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20), *range(0x7f, 0xa0)))
_DROP = str.maketrans("", "", _CONTROLS + _BIDI)
_SPACES = re.compile(r"[\r\u2028\u2029\u0085]")
_LINE_BREAKS = re.compile(r"[\n\t]")


def strip_controls(text: str, keep_newlines: bool = False) -> str:
    """``text`` without terminal controls, C0/C1 controls, NUL, DEL or bidi overrides (see the module doc)."""
    if not text:
        return ""
    text = str(text)
    if "\x1b" in text:
        text = _ESCAPE_SEQUENCE.sub("", text)
    text = _C1_SEQUENCE.sub("", text)
    text = _SPACES.sub(" ", text)
    if not keep_newlines:
        text = _LINE_BREAKS.sub(" ", text)
    return text.translate(_DROP)


def for_terminal(text: str, keep_newlines: bool = False) -> str:
    """``strip_controls`` and rich markup escaped: safe as a rich Console/Table string."""
    return escape(strip_controls(text, keep_newlines))


class SafeLogFormatter(logging.Formatter):
    """Log lines with sender text made safe, and tracebacks only when debugging.

    The message is passed through ``strip_controls`` (one line: a subject with a
    newline cannot forge a second record). Without ``debug`` an exception adds
    one line, ``(ExcType: text)``, instead of its traceback; with ``debug`` the
    full traceback follows, as logging normally prints it.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, debug: bool = False,
                 tz: tzinfo | None = None) -> None:
        super().__init__(fmt, datefmt)
        self.debug = debug
        self.tz = tz  # the zone timestamps are written in (schedule.timezone once known; the machine's before)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        """ISO 8601 with its UTC offset, e.g. 2026-12-07T21:05:03.120+08:00: unambiguous in any zone."""
        return datetime.fromtimestamp(record.created, self.tz or UTC).astimezone(self.tz).isoformat(
            timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        record.message = strip_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if self.debug:
                line = f"{line}\n{self.formatException(record.exc_info)}"
            else:
                line = f"{line} ({exc.__class__.__name__}: {strip_controls(str(exc))[:300]})"
        return line


_PLAIN_RECORD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLogFormatter(SafeLogFormatter):
    """One JSON object a line ([log] format = "json"): time (with offset), level, logger, message, and the
    fields a caller passed with ``extra=`` (the access log's client, method, path, status, duration_ms, bytes)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
               "message": strip_controls(record.getMessage())}
        for key, value in vars(record).items():
            if key not in _PLAIN_RECORD and not key.startswith("_"):
                doc[key] = value if isinstance(value, int | float | bool | type(None)) else strip_controls(str(value))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = f"{exc.__class__.__name__}: {strip_controls(str(exc))[:300]}"
            if self.debug:
                doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


LOG_LINE = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_formatter(fmt: str = "text", *, debug: bool = False, tz: tzinfo | None = None) -> SafeLogFormatter:
    """The formatter of the service's log: "text" (one readable line) or "json" (one object a line)."""
    return JsonLogFormatter(debug=debug, tz=tz) if fmt == "json" else SafeLogFormatter(LOG_LINE, debug=debug, tz=tz)


__all__ = ["JsonLogFormatter", "SafeLogFormatter", "for_terminal", "log_formatter", "strip_controls"]
