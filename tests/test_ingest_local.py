"""Local ingestion through the library: identity by bytes, Message-ID links, sources, bad input."""

from __future__ import annotations

import mailbox
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths, pickup, poll
from ingest.sources.local import PathNotFound
from store.models import Attachment, Message

SIMPLE = (b"From: Someone <someone@example.org>\r\nTo: zxjyck@163.com\r\nSubject: hello\r\n"
          b"Message-ID: <same@example.org>\r\nDate: Mon, 24 Feb 2020 10:02:15 +0800\r\n\r\nhi\r\n")


def messages(app) -> list[Message]:
    with Session(app.engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)))


@pytest.fixture
def app(app):
    app.analyzer = InProcessAnalyzer()
    return app


def test_same_bytes_twice_is_one_message(app, tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(SIMPLE)
    (tmp_path / "b.eml").write_bytes(SIMPLE)
    report = ingest_paths(app, [tmp_path / "a.eml", tmp_path / "b.eml"])
    assert (report.new, report.duplicates) == (1, 1)
    again = ingest_paths(app, [tmp_path / "a.eml"])
    assert (again.new, again.duplicates) == (0, 1)
    assert len(messages(app)) == 1
    assert app.archive.get(messages(app)[0].sha256) == SIMPLE


def test_same_message_id_other_bytes_is_two_linked_messages(app, tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(SIMPLE)
    (tmp_path / "b.eml").write_bytes(SIMPLE.replace(b"hi", b"hi again"))
    (tmp_path / "c.eml").write_bytes(SIMPLE.replace(b"hi", b"third copy"))
    ingest_paths(app, [tmp_path])
    first, second, third = messages(app)
    assert first.message_id == second.message_id == "<same@example.org>"
    assert first.same_message_id_as is None
    assert second.same_message_id_as == first.id
    assert third.same_message_id_as == first.id


def test_received_time_from_topmost_received_header_then_date(app, tmp_path: Path) -> None:
    with_received = (b"Received: from mx (mx [1.2.3.4]) by mx.163.com; Mon, 24 Feb 2020 16:05:00 +0800\r\n"
                     b"Received: from a by b; Mon, 24 Feb 2020 15:00:00 +0800\r\n" + SIMPLE)
    (tmp_path / "r.eml").write_bytes(with_received)
    (tmp_path / "d.eml").write_bytes(SIMPLE.replace(b"<same@", b"<other@"))
    ingest_paths(app, [tmp_path])
    by_source = {m.received_source: m.received_at for m in messages(app)}
    assert by_source["received-header"] == datetime(2020, 2, 24, 8, 5, tzinfo=UTC)
    assert by_source["date-header"] == datetime(2020, 2, 24, 2, 2, 15, tzinfo=UTC)


def test_folder_recursive_mbox_and_maildir(app, tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "x.eml").write_bytes(SIMPLE)
    (tmp_path / "README.md").write_text("not mail, passed over in folders")
    box = mailbox.mbox(tmp_path / "sub" / "archive.mbox")
    for n in range(3):
        box.add(SIMPLE.replace(b"hi", f"mbox {n}".encode()))
    box.flush()
    box.close()
    md = mailbox.Maildir(tmp_path / "md", create=True)
    md.add(SIMPLE.replace(b"hi", b"maildir new"))
    md.close()
    report = ingest_paths(app, [tmp_path])
    assert report.new == 5
    sources = sorted(m.source for m in messages(app))
    assert sources == ["eml", "maildir", "mbox", "mbox", "mbox"]


def test_explicit_non_mail_file_is_stored_with_a_specific_problem(app, tmp_path: Path) -> None:
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    report = ingest_paths(app, [tmp_path / "empty.eml", tmp_path / "pic.png"])
    assert report.processed == {"failed": 2}
    rows = messages(app)
    assert [m.status for m in rows] == ["failed", "failed"]
    assert rows[0].problems == ["empty file"]
    assert rows[1].problems == ["not an e-mail message: no header block"]
    assert app.archive.get(rows[1].sha256).startswith(b"\x89PNG")


def test_missing_path_changes_nothing(app, tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(SIMPLE)
    with pytest.raises(PathNotFound, match="nope.eml"):
        ingest_paths(app, [tmp_path / "a.eml", tmp_path / "nope.eml"])
    assert messages(app) == []


def test_attachments_recorded(app, tmp_path: Path) -> None:
    raw = (b"From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
           b"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n"
           b"\r\nabc\r\n--B--\r\n")
    (tmp_path / "f.eml").write_bytes(raw)
    ingest_paths(app, [tmp_path])
    with Session(app.engine) as s:
        [att] = s.exec(select(Attachment)).all()
    assert (att.filename, att.size, att.position) == ("x.bin", 3, 0)


def test_pickup_from_local_maildir_marks_seen_and_uses_delivery_time(app) -> None:
    maildir = app.settings.maildir
    md = mailbox.Maildir(maildir, create=True)
    key = md.add(SIMPLE)
    md.close()
    path = maildir / "new" / key
    os.utime(path, (1582509735, 1582509735))  # 2020-02-24 02:02:15 UTC
    report = pickup(app)
    assert report.new == 1
    assert list((maildir / "new").iterdir()) == []
    [moved] = list((maildir / "cur").iterdir())
    assert moved.name.endswith(":2,S")
    [row] = messages(app)
    assert (row.received_source, row.received_at) == ("maildir-mtime", datetime(2020, 2, 24, 2, 2, 15, tzinfo=UTC))
    assert poll(app).new == 0  # already seen: nothing new, and no re-read of cur/


def test_crash_after_commit_before_mark_seen_is_harmless(app) -> None:
    maildir = app.settings.maildir
    md = mailbox.Maildir(maildir, create=True)
    md.add(SIMPLE)
    md.close()
    saved = maildir.parent / "saved"
    shutil.copytree(maildir, saved)
    pickup(app)
    shutil.rmtree(maildir)
    shutil.copytree(saved, maildir)  # as if the process died before moving the file to cur/
    report = pickup(app)
    assert (report.new, report.duplicates) == (0, 1)
    assert len(messages(app)) == 1


def test_hostile_header_sizes_are_stored_not_refused(app, tmp_path: Path) -> None:
    """A stranger's 5,000-character Message-ID or References must not stop storing (PostgreSQL varchar)."""
    long_id = "<" + "x" * 5000 + "@example.org>"
    raw = (f"From: a@example.org\r\nSubject: {'长' * 3000}\r\nMessage-ID: {long_id}\r\nIn-Reply-To: {long_id}\r\n"
           f"References: {' '.join(f'<r{n}@x>' for n in range(500))} {long_id}\r\n\r\nbody\r\n").encode()
    (tmp_path / "h.eml").write_bytes(raw)
    report = ingest_paths(app, [tmp_path / "h.eml"])
    assert report.new == 1 and report.processed == {"processed": 1}
    [row] = messages(app)
    assert len(row.message_id) == 998 and row.message_id.startswith("<xxx")
    assert len(row.references) == 50 and all(len(r) <= 998 for r in row.references)
    assert app.archive.get(row.sha256) == raw
