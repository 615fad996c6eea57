"""Training platform names as cities and applicants write them: the one rule for telling two spellings apart.

A city's weekly form names the platform an enterprise trains on (培训平台名称) in its own words;
an application (附件1) names it as the platform wrote it. ``platform_key`` reduces both to one key:

* Unicode NFKC (full-width letters and digits become ASCII: ``ＡＢＣ`` -> ``ABC``), then case-folded;
* spaces of every kind and quotes/brackets of every kind (“ ” ‘ ’ " ' 「 」 『 』 《 》 〈 〉) removed;
* trailing 平台 / 在线 / 网 / APP (any case) removed, repeatedly (``南粤职培云在线平台`` -> ``南粤职培云``).

``match_platform`` matches a weekly name to the applications' names: the same key first, then
containment (one key inside the other, keys of at least ``MIN_CONTAINED`` characters), the longest
name winning; two applications equally close is no match (staff decide).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

QUOTES = "\"'“”‘’「」『』《》〈〉〔〕【】()（）`´"
TAILS = ("平台", "在线", "网", "app")
MIN_CONTAINED = 3


def platform_key(name: str | None) -> str:
    """The key two spellings of one platform share ('' for an empty or meaningless name)."""
    text = unicodedata.normalize("NFKC", name or "").casefold()
    text = "".join(ch for ch in text if not ch.isspace() and ch not in QUOTES)
    changed = True
    while changed and text:
        changed = False
        for tail in TAILS:
            if text.endswith(tail) and len(text) > len(tail):
                text, changed = text[: -len(tail)], True
    return text


def match_platform(name: str, applications: Mapping[str, int]) -> int | None:
    """The application (id) whose platform ``name`` refers to, or None.

    ``applications`` maps each application's ``platform_key`` to its id.
    """
    key = platform_key(name)
    if not key:
        return None
    if key in applications:
        return applications[key]
    found = [(len(k), app_id) for k, app_id in applications.items()
             if min(len(k), len(key)) >= MIN_CONTAINED and (k in key or key in k)]
    if not found:
        return None
    found.sort(reverse=True)
    best = [app_id for length, app_id in found if length == found[0][0]]
    return best[0] if len(set(best)) == 1 else None
