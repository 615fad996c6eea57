"""Reading a decoded message's attachments (and a form typed into its HTML body) with an analyser.

The daemon's analyser is the sandbox (child processes with limits); tests use ``InProcessAnalyzer``.
"""

from __future__ import annotations

from datetime import date

from ingest.app import Analyzer
from ingest.pipeline.decode import DecodedMessage


class InProcessAnalyzer:
    """Attachment analysis in this process, without the sandbox: for tests of the pipeline logic."""

    def analyze(self, data: bytes, filename: str, mail_date: date):
        from parsers.analysis import analyze_attachment

        return analyze_attachment(data, filename, mail_date)


def read_attachments(analyzer: Analyzer, decoded: DecodedMessage, day: date) -> list:
    """Every attachment's analysis, then the body's form when the mail has one typed into its HTML."""
    if not decoded.is_mail:
        return []
    analyses = [analyzer.analyze(att.data, att.filename, day) for att in decoded.attachments]
    body_form = analyse_body_table(analyzer, decoded, day)
    if body_form is not None:
        analyses.append(body_form)  # after the attachments: attachment rows pair with the leading analyses only
    return analyses


BODY_NAME = "邮件正文"


def analyse_body_table(analyzer: Analyzer, decoded: DecodedMessage, mail_date: date):
    """A form typed or pasted into the HTML body (no attachment at all): read it like an HTML sheet.

    Kept only when it is a weekly or application form, so tables in ordinary mail change nothing.
    """
    if not decoded.is_mail or "<table" not in decoded.html[:2_000_000].lower():
        return None
    analysis = analyzer.analyze(decoded.html.encode("utf-8"), BODY_NAME, mail_date)
    if analysis.weekly is None and analysis.application is None:
        return None
    analysis.material = None  # the body is not a supporting document
    return analysis
