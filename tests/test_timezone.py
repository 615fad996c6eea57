"""One configured time zone everywhere: with ``schedule.timezone = "Asia/Tokyo"`` the CLI, `show`, notices,
the digest and the console all show Tokyo time, and the JSON export keeps its format (ISO 8601 with offset)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlmodel import select
from starlette.testclient import TestClient

from ingest.app import App
from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outputs.digest import digest_command
from ingest.outputs.export import export_state
from ingest.workflows.reminders import queue_reminders
from notify.compose import LateReminderContext, compose, render
from notify.errors import TemplateContextError
from store.db import session_scope
from store.models import Outbox, PollRun
from tests.conftest import write_config
from tests.web_support import STAFF, sign_in
from web.app import create_app

# Monday 2020-02-24 23:30 in Shanghai is already Tuesday 00:30 in Tokyo: the day itself differs.
LATE_MAIL = (b"From: gzrsj@example.gov.cn\r\nTo: zxjyck@163.com\r\nSubject: guangzhou weekly\r\n"
             b"Message-ID: <tz-1@example.gov.cn>\r\nDate: Mon, 24 Feb 2020 23:30:00 +0800\r\n\r\nsee attachment\r\n"
             )
TOKYO = ZoneInfo("Asia/Tokyo")
ISO_TOKYO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+09:00$")


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path, "sqlite:///var/zxjyck.db", extra='\n[schedule]\ntimezone = "Asia/Tokyo"\n')


@pytest.fixture
def tokyo_app(cfg: Path, make_app) -> App:
    return make_app(load_settings(cfg, environ={}))


@pytest.fixture
def ingested(cfg: Path, tmp_path: Path, capsys) -> Path:
    (tmp_path / "late.eml").write_bytes(LATE_MAIL)
    assert main(["--config", str(cfg), "ingest", str(tmp_path / "late.eml")]) == 0
    capsys.readouterr()
    return cfg


def _times(value):
    """The document with every ISO time replaced by the instant it names (offsets aside)."""
    if isinstance(value, dict):
        return {k: _times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times(v) for v in value]
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


def test_cli_messages_and_show_use_the_configured_zone(ingested: Path, capsys, monkeypatch) -> None:
    cfg = ingested
    monkeypatch.setattr("ingest.cli.main.out", Console(width=250, highlight=False, soft_wrap=True))
    assert main(["--config", str(cfg), "messages"]) == 0
    assert "2020-02-25 00:30" in capsys.readouterr().out

    assert main(["--config", str(cfg), "messages", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["received_at"] == "2020-02-25T00:30:00+09:00"

    # --date is a day in the configured zone: Tuesday in Tokyo, although Monday in Shanghai
    assert main(["--config", str(cfg), "messages", "--json", "--date", "2020-02-25"]) == 0
    assert [m["id"] for m in json.loads(capsys.readouterr().out)] == [row["id"]]
    assert main(["--config", str(cfg), "messages", "--json", "--date", "2020-02-24"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["--config", str(cfg), "show", str(row["id"])]) == 0
    assert "2020-02-25 00:30:00 +0900" in capsys.readouterr().out


def test_json_export_keeps_its_format_in_the_configured_zone(ingested: Path, capsys, make_app) -> None:
    cfg = ingested
    assert main(["--config", str(cfg), "export", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [msg] = doc["messages"]
    assert msg["received_at"] == "2020-02-25T00:30:00+09:00"
    times = [v for section in doc.values() for item in section for v in item.values()
             if isinstance(v, str) and re.match(r"^\d{4}-\d\d-\d\dT", v)]
    assert times and all(ISO_TOKYO.match(t) for t in times)
    # the same document as in the default zone, apart from the offsets the same instants are written with
    app = make_app(load_settings(cfg, environ={}))
    shanghai = export_state(app.engine, ZoneInfo("Asia/Shanghai"))
    assert shanghai["messages"][0]["received_at"] == "2020-02-24T23:30:00+08:00"
    assert _times(doc) == _times(shanghai)


def _text_of(raw: str) -> str:
    msg = email.message_from_string(raw, policy=email.policy.default)
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_a_notice_writes_its_dates_in_the_configured_zone(tokyo_app: App, clock) -> None:
    clock.value = datetime(2020, 2, 24, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo, an hour after its 16:00 deadline
    result = queue_reminders(tokyo_app, date(2020, 2, 17))
    assert result.queued
    with session_scope(tokyo_app.engine) as session:
        rows = list(session.exec(select(Outbox).where(Outbox.kind == "late_reminder")))
    text = _text_of(rows[0].raw)
    assert "截至2020年2月24日 17:00" in text  # now, in Tokyo (16:00 in Shanghai)
    assert "报送截止时间为2020年2月24日16:00" in text  # the deadline, in Tokyo (15:00 in Shanghai)


def test_the_digest_shows_the_configured_zone(tokyo_app: App, ingested: Path) -> None:
    with session_scope(tokyo_app.engine) as session:  # 08:00 on 2020-02-25 in Tokyo, 07:00 in Shanghai
        session.add(PollRun(source="imap", started_at=datetime(2020, 2, 24, 22, 59, tzinfo=UTC),
                            finished_at=datetime(2020, 2, 24, 23, 0, tzinfo=UTC), ok=True))
    text = digest_command(tokyo_app, date(2020, 2, 25), send=False)
    assert "最近一次收取：2020年2月25日 08:00" in text
    assert "近24小时收到邮件 1 封" in text  # the 00:30 mail is in the day before 08:30 Tokyo time


def test_the_console_shows_the_configured_zone(tokyo_app: App, ingested: Path) -> None:
    from ingest.workflows import staff as staff_actions

    staff_actions.add_user(tokyo_app, "test", STAFF[0], "staff", STAFF[1])
    with TestClient(create_app(tokyo_app), base_url="http://testserver", follow_redirects=False) as client:
        sign_in(client, STAFF)
        listing = client.get("/messages")
        assert listing.status_code == 200 and "2020-02-25 00:30" in listing.text
        [pk] = set(re.findall(r'href="/messages/(\d+)"', listing.text))
        detail = client.get(f"/messages/{pk}")
        assert detail.status_code == 200 and "2020-02-25 00:30" in detail.text


def _reminder(timezone: str) -> LateReminderContext:
    return LateReminderContext(city="广州市", week_start=date(2020, 2, 17), week_end=date(2020, 2, 23),
                               deadline=datetime(2020, 2, 24, 8, 0, tzinfo=UTC), submit_address="zxjyck@163.com",
                               timezone=timezone)


def test_compose_writes_the_context_zone_and_names_a_bad_one() -> None:
    now = datetime(2020, 2, 24, 16, 30, tzinfo=UTC)  # already 2020-02-25 in Shanghai, still the 24th in UTC
    _subject, utc_text, _html = render("late_reminder", _reminder("UTC"), today=None)
    assert "报送截止时间为2020年2月24日08:00" in utc_text
    shanghai = compose("late_reminder", _reminder("Asia/Shanghai"), to=["gzrsj@example.gov.cn"],
                       sender="zxjyck@163.com", msgid_domain="163.com", now=now)
    assert "报送截止时间为2020年2月24日16:00" in _text_of(shanghai.as_string())
    assert "2020年2月25日" in _text_of(shanghai.as_string())  # the 落款 date is now's day in the zone
    with pytest.raises(TemplateContextError, match="unknown time zone 'Mars/Olympus'"):
        compose("late_reminder", _reminder("Mars/Olympus"), to=["gzrsj@example.gov.cn"], sender="zxjyck@163.com",
                msgid_domain="163.com", now=now)
