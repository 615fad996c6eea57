"""IMAP pickup into the real store (SQLite and PostgreSQL) against Dovecot, and `zxjyck poll` end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlmodel import Session, select

from ingest.cli.main import main
from ingest.config import load_settings
from ingest.runtime.imap_sink import DbSink
from ingest.sources.imap import poll_once
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
    """Issue 18: the batch's archive files, then one transaction for its rows, then the marks on the server.
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
