"""`[retention]` and `zxjyck purge`: what each period lets go, what stays (derived figures, message rows with
the marker that the original is gone), the audit log's six-month floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from ingest.config import ConfigError, load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.retention import purge
from ingest.workflows.staff import NotAllowed, audit, replay
from store.models import AuditEntry, LoginFailure, Message, Outbox, PollRun
from tests.conftest import FIXTURES, write_config
from tests.test_backup import zx
from zxjyck.calendar import zone

TZ = zone("Asia/Shanghai")


@pytest.fixture
def app(app):
    app.analyzer = InProcessAnalyzer()
    return app


def count(app, model, *where) -> int:
    with Session(app.engine) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_purge_keeps_figures_and_marks_what_it_removed(app, clock) -> None:
    ingest_paths(app, sorted((FIXTURES / "mail").glob("*.eml")))
    with Session(app.engine) as s:
        s.add(PollRun(source="maildir:x", started_at=clock(), finished_at=clock(), ok=True))
        s.add(LoginFailure(key="user:alice", count=2, last_at=clock()))
        s.commit()
    audit(app, "tester", "view", "message 1")
    before = export_state(app.engine, TZ)
    digests = [m["attachments"] for m in before["messages"]]
    assert count(app, Outbox, Outbox.raw != "") > 0 and len(digests) == 8

    clock.value = datetime(2020, 9, 1, tzinfo=UTC)  # 190 days on: only the operational records go
    report = purge(app, "tester")
    assert report.removed["poll_runs"] == 1 and report.removed["login_failures"] == 1
    assert report.removed["raw_mail"] == report.removed["notice_bodies"] == report.removed["audit"] == 0

    clock.value = datetime(2031, 3, 1, tzinfo=UTC)  # eleven years on: everything but the figures
    dry = purge(app, "tester", dry_run=True)
    assert dry.removed["raw_mail"] == 8 and dry.removed["notice_bodies"] > 0 and dry.removed["audit"] > 0
    assert "将删除 would remove" in dry.line()
    with Session(app.engine) as s:
        shas = s.exec(select(Message.sha256)).all()
    assert all(app.archive.has(d) for d in shas), "a dry run removes nothing"

    done = purge(app, "tester")
    assert done.removed == dry.removed
    assert not any(app.archive.has(d) for d in shas)
    assert count(app, Message, Message.raw_removed_reason == "retention") == 8
    assert count(app, Outbox, Outbox.raw != "") == 0 and count(app, Outbox, Outbox.body_removed_at.is_not(None)) > 0
    after = export_state(app.engine, TZ)
    for key in ("weekly_reports", "applications", "outbox"):
        assert after[key] == before[key], key
    assert after["messages"] == before["messages"]  # the rows and what was derived from them stay
    with Session(app.engine) as s:
        actions = s.exec(select(AuditEntry.action)).all()
    assert actions == ["purge"], "the old audit entries went; the purge itself is recorded"
    with pytest.raises(NotAllowed, match="原件已删除"):
        replay(app, [1])
    assert replay(app, status="processed") == {}  # replay by status skips originals that are gone


def test_audit_days_never_under_six_months(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra="[retention]\naudit_days = 179\n")
    with pytest.raises(ConfigError, match="retention.audit_days"):
        load_settings(path, environ={})
    path = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra="[retention]\naudit_days = 180\noutbox_days = 400\n")
    settings = load_settings(path, environ={})
    assert (settings.retention.audit_days, settings.retention.outbox_days, settings.retention.archive_years) == \
        (180, 400, 10)


@pytest.mark.integration
def test_purge_on_the_command_line(tmp_path: Path) -> None:
    # mail of 2020 is more than a year old whenever this runs: archive_years = 1 lets it go
    config = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra="[retention]\narchive_years = 1\n")
    zx(config, "ingest", str(FIXTURES / "mail" / "01-guangzhou-weekly.eml"), str(FIXTURES / "mail" / "08-question.eml"))
    files = list((tmp_path / "var" / "archive").rglob("*.eml"))
    assert len(files) == 2
    dry = zx(config, "purge", "--dry-run")
    assert "原始邮件及附件 raw mail and attachments 2" in dry.stdout and all(f.exists() for f in files)
    done = zx(config, "purge")
    assert "已删除 removed: 原始邮件及附件 raw mail and attachments 2" in done.stdout
    assert not any(f.exists() for f in files)
    shown = zx(config, "show", "1")
    assert "原件已删除" in shown.stdout


@pytest.mark.integration
def test_expunge_after_days_removes_only_archived_mail_from_dovecot(tmp_path: Path, store_url: str,
                                                                    imap_account) -> None:
    from ingest.cli.main import main

    old = datetime(2020, 2, 24, 8, 30, tzinfo=UTC)
    recent = datetime.now(UTC) - timedelta(days=1)  # inside any 30-day period, whenever this runs
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {imap_account.port}\nsecurity = "none"\n'
             f'username = "{imap_account.username}"\npassword = "{imap_account.password}"\n'
             'expunge_after_days = 30\n')
    config = write_config(tmp_path, store_url, extra=extra)
    mail = FIXTURES / "mail"
    imap_account.append("INBOX", (mail / "01-guangzhou-weekly.eml").read_bytes(), old)
    imap_account.append("INBOX", (mail / "08-question.eml").read_bytes(), old)
    imap_account.append("INBOX", (mail / "07-auto-reply.eml").read_bytes(), recent)
    assert main(["--config", str(config), "poll"]) == 0
    imap_account.append("INBOX", (mail / "02-shenzhen-weekly-late.eml").read_bytes(), old)  # not ingested
    assert imap_account.count("INBOX") == 4
    assert main(["--config", str(config), "purge", "--dry-run"]) == 0
    assert imap_account.count("INBOX") == 4, "a dry run touches nothing on the server"
    assert main(["--config", str(config), "purge"]) == 0
    left = sorted(b.replace(b"\r\n", b"\n") for b in imap_account.bodies("INBOX").values())  # CRLF on the wire
    assert left == sorted((mail / name).read_bytes().replace(b"\r\n", b"\n")
                          for name in ("02-shenzhen-weekly-late.eml", "07-auto-reply.eml"))
