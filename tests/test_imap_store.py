"""IMAP pickup into the real store (SQLite and PostgreSQL) against Dovecot, and `zxjyck poll` end to end."""

from __future__ import annotations

import base64
import datetime as dt
import imaplib
import random
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlmodel import Session, select

from ingest.cli.main import main
from ingest.config import load_settings
from ingest.runtime.imap_sink import DbSink
from ingest.sources import imap
from ingest.sources.imap import poll_once
from ingest.sources.imap_errors import ImapConnectionError
from store.models import Message
from tests.conftest import FIXTURES, write_config

INTERNALDATE = dt.datetime(2020, 2, 24, 16, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _imap_config(tmp_path: Path, store_url: str, account, folder: str = "INBOX") -> Path:
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {account.port}\nsecurity = "none"\n'
             f'username = "{account.username}"\npassword = "{account.password}"\nfolder = "{folder}"\n')
    return write_config(tmp_path, store_url, extra=extra)


def test_db_sink_new_only_and_uidvalidity_reset(tmp_path: Path, store_url: str, imap_account, make_app) -> None:
    imap_account.create_folder("Reports")
    app = make_app(load_settings(_imap_config(tmp_path, store_url, imap_account, "Reports"), environ={}))
    mails = sorted((FIXTURES / "mail").glob("*.eml"))[:3]
    for m in mails:
        imap_account.append("Reports", m.read_bytes(), INTERNALDATE)
    sink = DbSink(app)
    first = poll_once(app.settings.imap, sink, holder="t")
    assert (first.new, first.duplicates) == (3, 0)
    assert poll_once(app.settings.imap, sink, holder="t").fetched == 0
    imap_account.recreate_folder("Reports")  # new UIDVALIDITY: everything is seen again
    for m in mails:
        imap_account.append("Reports", m.read_bytes(), INTERNALDATE)
    imap_account.append("Reports", (FIXTURES / "mail" / "08-question.eml").read_bytes(), INTERNALDATE)
    again = poll_once(app.settings.imap, sink, holder="t")
    assert (again.new, again.duplicates) == (1, 3)
    with Session(app.engine) as s:
        rows = list(s.exec(select(Message)))
    assert len(rows) == 4
    assert {r.received_source for r in rows} == {"internaldate"}
    assert {r.received_at for r in rows} == {INTERNALDATE.astimezone(dt.UTC)}


def test_zxjyck_poll_over_imap_processes_and_queues(tmp_path: Path, store_url: str, imap_account, capsys) -> None:
    cfg = _imap_config(tmp_path, store_url, imap_account)
    imap_account.append("INBOX", (FIXTURES / "mail" / "01-guangzhou-weekly.eml").read_bytes(), INTERNALDATE)
    assert main(["--config", str(cfg), "poll"]) == 0
    assert main(["--config", str(cfg), "export", "--format", "json"]) == 0
    import json

    out = capsys.readouterr().out
    doc = json.loads(out[out.index("{\n"):])
    [report] = doc["weekly_reports"]
    assert (report["city"], report["status"], report["total_headcount"]) == ("广州市", "accepted", 245), report["problems"]
    assert report["late"] is True  # INTERNALDATE 16:30, after the Monday 16:00 deadline
    flags = imap_account.flags("INBOX")
    assert all(b"$ZxjyckIngested" in f for f in flags.values())


def test_several_mailboxes_are_read_in_one_cycle(tmp_path: Path, imap_account) -> None:
    imap_account.create_folder("Cities")
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {imap_account.port}\nsecurity = "none"\n'
             f'username = "{imap_account.username}"\npassword = "{imap_account.password}"\n'
             f'[[mailboxes]]\nhost = "127.0.0.1"\nport = {imap_account.port}\nsecurity = "none"\n'
             f'username = "{imap_account.username}"\npassword = "{imap_account.password}"\nfolder = "Cities"\n')
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra)
    imap_account.append("INBOX", (FIXTURES / "mail" / "08-question.eml").read_bytes(), INTERNALDATE)
    imap_account.append("Cities", (FIXTURES / "mail" / "01-guangzhou-weekly.eml").read_bytes(), INTERNALDATE)
    assert main(["--config", str(cfg), "poll"]) == 0
    from ingest.app import open_app

    app = open_app(load_settings(cfg, environ={}))
    try:
        with Session(app.engine) as s:
            folders = sorted(m.source_ref.split("/")[3].split(";")[0] for m in s.exec(select(Message)))
    finally:
        app.close()
    assert folders == ["Cities", "INBOX"]


def test_db_sink_stores_a_fetched_batch_at_once_and_a_failed_batch_leaves_nothing_marked(
        tmp_path: Path, store_url: str, imap_account, make_app, monkeypatch) -> None:
    """A batch is durable at once: the batch's archive files, then one transaction for its rows, then the marks on the server.
    A transaction that fails commits none of the batch, marks none and keeps the cursor; the next poll stores
    every message once (files archived by the failed run are found, not written twice)."""
    import pytest

    import ingest.pipeline.store
    from ingest.sources.imap import INGESTED_KEYWORD, account_name
    from ingest.sources.imap_errors import ImapSinkError

    app = make_app(load_settings(_imap_config(tmp_path, store_url, imap_account), environ={}))
    mails = [m.read_bytes() for m in sorted((FIXTURES / "mail").glob("*.eml"))[:4]]
    twin = mails[0].replace(b"\n\n", b"\nX-Copy: 2\n\n", 1)  # same Message-ID, other bytes
    assert twin != mails[0]
    for raw in [*mails, mails[1], twin]:  # one exact duplicate and one twin inside the batch
        imap_account.append("INBOX", raw, INTERNALDATE)
    sink = DbSink(app)
    real_insert = ingest.pipeline.store.insert_messages

    def down(engine, rows):
        raise RuntimeError("database is down")

    monkeypatch.setattr(ingest.pipeline.store, "insert_messages", down)
    with pytest.raises(ImapSinkError, match="database is down"):
        poll_once(app.settings.imap, sink, holder="t")
    assert not any(INGESTED_KEYWORD in flags for flags in imap_account.flags("INBOX").values())
    assert sink.get_cursor(account_name(app.settings.imap), "INBOX") is None
    with Session(app.engine) as s:
        assert list(s.exec(select(Message))) == []

    monkeypatch.setattr(ingest.pipeline.store, "insert_messages", real_insert)
    result = poll_once(app.settings.imap, sink, holder="t")
    assert (result.fetched, result.new, result.duplicates) == (6, 5, 1)
    assert all(INGESTED_KEYWORD in flags for flags in imap_account.flags("INBOX").values())
    with Session(app.engine) as s:
        rows = list(s.exec(select(Message).order_by(Message.id)))
    assert len(rows) == 5
    assert all(app.archive.get(row.sha256) for row in rows)
    twins = [row for row in rows if row.subject == rows[0].subject]  # Dovecot stores CRLF: match by header
    assert len(twins) == 2 and twins[0].message_id and twins[1].message_id == twins[0].message_id
    assert (twins[0].same_message_id_as, twins[1].same_message_id_as) == (None, twins[0].id)
    assert poll_once(app.settings.imap, sink, holder="t").fetched == 0


def _big_mail(n_bytes: int, tag: str) -> bytes:
    body = base64.encodebytes(random.Random(tag).randbytes(n_bytes))
    return (f"From: 广州市人社局 <gzrsj@example.gov.cn>\r\nTo: zxjyck@163.com\r\nSubject: {tag}\r\n"
            f"Message-ID: <{tag}@example.gov.cn>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + body.replace(b"\n", b"\r\n")


def test_a_large_message_is_streamed_into_the_archive_in_pieces(tmp_path: Path, store_url: str, imap_account,
                                                                  make_app, monkeypatch) -> None:
    """Over STREAM_ABOVE the poller fetches BODY.PEEK[]<offset.length> pieces into a spool file in the archive:
    the stored bytes are the server's, and no fetch ever returned more than one piece of the body."""
    monkeypatch.setattr(imap, "STREAM_ABOVE", 200_000)
    monkeypatch.setattr(imap, "STREAM_CHUNK", 64 * 1024)
    app = make_app(load_settings(_imap_config(tmp_path, store_url, imap_account), environ={}))
    big, small = _big_mail(400_000, "big-one"), (FIXTURES / "mail" / "08-question.eml").read_bytes()
    imap_account.append("INBOX", small, INTERNALDATE)
    imap_account.append("INBOX", big, INTERNALDATE)
    largest: list[int] = []
    real_fetch = IMAPClient.fetch

    def watching_fetch(self, messages, data, modifiers=None):
        response = real_fetch(self, messages, data, modifiers)
        largest.append(max((len(v) for item in response.values() for k, v in item.items()
                            if k.startswith(b"BODY[]") and isinstance(v, bytes)), default=0))
        return response

    monkeypatch.setattr(IMAPClient, "fetch", watching_fetch)
    result = poll_once(app.settings.imap, DbSink(app), holder="t")
    assert (result.new, result.errors) == (2, 0)
    with Session(app.engine) as s:
        rows = {r.subject: r for r in s.exec(select(Message))}
    row = rows["big-one"]
    assert (row.size, row.message_id, row.received_source) == (len(big), "<big-one@example.gov.cn>", "internaldate")
    assert app.archive.get(row.sha256) == big  # sha256 checked against the bytes on disk
    assert max(largest) <= 64 * 1024 < len(big)  # the big body came in pieces; the small one whole
    assert not list(app.archive.root.glob(".incoming.*"))  # no spool file left behind
    assert imap_account.count("INBOX") == 2 and poll_once(app.settings.imap, DbSink(app), holder="t").fetched == 0


def test_a_stream_broken_midway_stores_nothing_and_the_next_poll_gets_it(tmp_path: Path, imap_account, make_app,
                                                                         monkeypatch) -> None:
    monkeypatch.setattr(imap, "STREAM_ABOVE", 200_000)
    monkeypatch.setattr(imap, "STREAM_CHUNK", 64 * 1024)
    app = make_app(load_settings(_imap_config(tmp_path, "sqlite:///var/z.db", imap_account), environ={}))
    big = _big_mail(400_000, "broken-one")
    imap_account.append("INBOX", big, INTERNALDATE)
    real_fetch = IMAPClient.fetch
    pieces = []

    def hanging_up(self, messages, data, modifiers=None):
        if any(b"BODY.PEEK[]<" in item for item in data):
            pieces.append(data)
            if len(pieces) == 3:
                raise imaplib.IMAP4.abort("connection reset by peer")
        return real_fetch(self, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", hanging_up)
    with pytest.raises(ImapConnectionError):  # one attempt: the hang-up ends the poll
        poll_once(app.settings.imap, DbSink(app), holder="t", max_attempts=1)
    with Session(app.engine) as s:
        assert list(s.exec(select(Message))) == []
    assert not list(app.archive.root.glob(".incoming.*"))
    monkeypatch.setattr(IMAPClient, "fetch", real_fetch)
    again = poll_once(app.settings.imap, DbSink(app), holder="t")
    assert again.new == 1
    with Session(app.engine) as s:
        [row] = list(s.exec(select(Message)))
    assert app.archive.get(row.sha256) == big
