"""Large messages: decoded and analysed in a child process (the daemon never holds them), and a message over
``[source] max_message_mb`` kept unparsed for staff."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from ingest.config import load_settings
from ingest.pipeline import large, process
from ingest.runtime.poll import ingest_paths
from store.models import (
    NEEDS_REVIEW,
    PROCESSED,
    REPORT_ACCEPTED,
    Attachment,
    Message,
    WeeklyReport,
    WeeklyRow,
)
from tests.conftest import FIXTURES, write_config

pytestmark = pytest.mark.integration  # real sandbox workers and a child process per large message

WEEKLY_XLSX = FIXTURES / "attachments" / "weekly.xlsx"
PADDING = os.urandom(large.ISOLATE_ABOVE)  # incompressible: the message really is this large


def weekly_mail(padding: bytes = PADDING) -> bytes:
    msg = EmailMessage()
    msg["From"] = "广州市人社局 <gzrsj@example.gov.cn>"
    msg["To"] = "zxjyck@163.com"
    msg["Subject"] = "广州市线上培训周报"
    msg["Message-ID"] = "<large-1@example.gov.cn>"
    msg["Date"] = format_datetime(datetime(2020, 2, 24, 10, 0, tzinfo=UTC))
    msg.set_content("附件为本周统计表。\n")
    msg.add_attachment(WEEKLY_XLSX.read_bytes(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename="周报.xlsx")
    msg.add_attachment(padding, maintype="application", subtype="octet-stream", filename="现场照片打包.bin")
    return msg.as_bytes()


def rows(app, model, *where):
    with Session(app.engine) as session:
        return list(session.exec(select(model).where(*where)))


@pytest.fixture
def app(app):
    # the production analyser (a Sandbox) is what the App makes on first use: the isolated path needs it
    return app


def test_a_large_message_is_read_in_a_child_and_recorded_as_a_small_one(app, tmp_path: Path, monkeypatch):
    raw = weekly_mail()
    assert len(raw) > large.ISOLATE_ABOVE
    (tmp_path / "big.eml").write_bytes(raw)

    def not_here(_raw):
        raise AssertionError("the daemon's process decoded the large message itself")

    monkeypatch.setattr(process, "decode_message", not_here)  # the child imports its own, untouched
    ingest_paths(app, [tmp_path / "big.eml"])

    [msg] = rows(app, Message)
    assert msg.status == PROCESSED, msg.problems
    assert (msg.kind, msg.city, msg.from_addr) == ("weekly_report", "广州市", "gzrsj@example.gov.cn")
    attachments = sorted(rows(app, Attachment), key=lambda a: a.position)
    assert [(a.filename, a.size) for a in attachments] == [
        ("周报.xlsx", len(WEEKLY_XLSX.read_bytes())), ("现场照片打包.bin", len(PADDING))]
    assert attachments[1].sha256 == hashlib.sha256(PADDING).hexdigest()
    assert attachments[0].format == "xlsx"
    [report] = rows(app, WeeklyReport)
    assert report.status == REPORT_ACCEPTED
    assert len(rows(app, WeeklyRow, WeeklyRow.report_id == report.id)) > 0


def test_the_same_message_small_gives_the_same_records(app, tmp_path: Path):
    """The child's path and the in-process path decide alike: only the size differs."""
    (tmp_path / "small.eml").write_bytes(weekly_mail(padding=PADDING[:1000]))
    ingest_paths(app, [tmp_path / "small.eml"])
    [msg] = rows(app, Message)
    assert (msg.status, msg.kind, msg.city) == (PROCESSED, "weekly_report", "广州市")
    [report] = rows(app, WeeklyReport)
    assert report.status == REPORT_ACCEPTED


def test_a_message_over_the_limit_is_archived_unparsed_and_waits_for_staff(tmp_path: Path, make_app):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'z.db'}")
    config.write_text(config.read_text().replace('maildir = "mailbox"', 'maildir = "mailbox"\nmax_message_mb = 1'))
    app = make_app(load_settings(config, environ={}))
    raw = weekly_mail(padding=PADDING[: 2 * 1024 * 1024])
    (tmp_path / "huge.eml").write_bytes(raw)
    ingest_paths(app, [tmp_path / "huge.eml"])

    [msg] = rows(app, Message)
    assert msg.status == NEEDS_REVIEW
    assert "超过上限 1 MB" in msg.problems[0] and "[source] max_message_mb" in msg.problems[0]
    assert (msg.from_addr, msg.subject) == ("gzrsj@example.gov.cn", "广州市线上培训周报")  # read from the header
    assert rows(app, Attachment) == [] and rows(app, WeeklyReport) == []
    assert app.archive.get(msg.sha256) == raw  # nothing lost: staff can open the original


def test_a_child_that_cannot_finish_leaves_the_message_for_staff(app, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(large, "CHILD_ADDRESS_SPACE", 64 * 1024 * 1024)  # too little to decode anything
    (tmp_path / "big.eml").write_bytes(weekly_mail())
    ingest_paths(app, [tmp_path / "big.eml"])
    [msg] = rows(app, Message)
    assert msg.status == NEEDS_REVIEW
    assert any("邮件较大" in p and "原件已存档" in p for p in msg.problems), msg.problems
    assert msg.from_addr == "gzrsj@example.gov.cn"
    assert rows(app, WeeklyReport) == []
