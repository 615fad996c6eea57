"""Which Python codec reads a declared charset: GB-family labels read as GB18030.

Chinese mail clients and spreadsheet exporters label GBK (and GB18030) text as
``gb2312`` all the time, and GB2312 cannot decode the many characters outside
it (e.g. 镕, 喆, 珺, 堃). GB18030 is a strict superset of GB2312 and GBK, so
reading any of these labels as GB18030 loses nothing and repairs the rest.

The one rule for mail bodies and headers (ingest), HTML/MHTML spreadsheets
(parsers) and bounce reports (notify). :func:`codec_for` never relies on the
codec cache, so it works whether or not anything patched the stdlib tables.
"""

from __future__ import annotations

import codecs

GB_FAMILY = ("gb2312", "gbk", "cp936", "euc_cn", "euccn", "eucgb2312_cn", "gb2312_1980", "gb2312_80",
             "x_gbk", "chinese", "csgb2312", "ms936", "936", "windows_936", "iso_ir_58", "csiso58gb231280")
_GB_SQUASHED = frozenset(label.replace("_", "") for label in GB_FAMILY)


def codec_for(label: str | bytes | None) -> str | None:
    """The Python codec to use for a charset label, or None when unknown (GB family: ``gb18030``)."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    if not label:
        return None
    norm = label.strip().strip('"\'').lower().replace("-", "_")
    if norm in GB_FAMILY or norm.replace("_", "") in _GB_SQUASHED:
        return "gb18030"
    if norm in ("utf8", "utf_8", "unicode_1_1_utf_8"):
        return "utf-8"
    try:
        return codecs.lookup(norm).name
    except LookupError:
        return None
