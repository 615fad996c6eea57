"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging

from ingest.pipeline.classify import flatten
from notify.compose import (
    FileProblem,
)

log = logging.getLogger(__name__)


def about_file(filename: str, reason: str) -> str:
    """A problem sentence naming its file once (the parsers' own sentences often name it already)."""
    if not filename or f"“{filename}”" in reason:
        return reason
    return f"附件“{filename}”：{reason}"


def _attachment_problems(analyses: list) -> list[FileProblem]:
    out = []
    for analysis in flatten(analyses):
        for problem in analysis.problems:
            out.append(FileProblem(reason=problem, filename=analysis.filename))
    return out
