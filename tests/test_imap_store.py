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
