"""The CLI through its real entry point (the installed `zxjyck` script) and in-process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli.main import main
from tests.conftest import write_config

WEEKLY_SUBJECT = "=?gb2312?B?" + __import__("base64").b64encode("广州市周报".encode("gbk")).decode() + "?="
MAIL = (f"From: gzrsj@example.gov.cn\r\nTo: zxjyck@163.com\r\nSubject: {WEEKLY_SUBJECT}\r\n"
        "Message-ID: <cli-1@example.gov.cn>\r\nDate: Mon, 24 Feb 2020 10:02:15 +0800\r\n\r\nsee attachment\r\n").encode()


def zxjyck(*args: str, config: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("zxjyck")
    cmd = [exe] if exe else [sys.executable, "-m", "ingest.cli"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    assert main(["--config", str(path), "init"]) == 0  # only init, run, poll and ingest create the store
    return path


def test_ingest_messages_show_export_status_through_the_console_script(cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "one.eml").write_bytes(MAIL)
    run = zxjyck("ingest", str(tmp_path / "in"), config=cfg)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no progress bar and no log noise when stderr is a pipe
    assert "新邮件 New" in run.stdout and "1" in run.stdout
    listing = zxjyck("messages", "--json", config=cfg)
    [row] = json.loads(listing.stdout)
    assert row["subject"] == "广州市周报"
    shown = zxjyck("show", str(row["id"]), config=cfg)
    assert shown.returncode == 0
    assert "广州市周报" in shown.stdout and "<cli-1@example.gov.cn>" in shown.stdout
    exported = zxjyck("export", "--format", "json", config=cfg)
    doc = json.loads(exported.stdout)
    assert set(doc) >= {"messages", "weekly_reports", "applications", "outbox"}
    [msg] = doc["messages"]
    assert msg["from"] == "gzrsj@example.gov.cn"
    assert msg["received_at"] == "2020-02-24T10:02:15+08:00"
    assert msg["message_id"] == "<cli-1@example.gov.cn>"
    status = zxjyck("status", config=cfg)
    assert "邮件总数 Messages" in status.stdout


def test_config_from_environment_variable(cfg: Path, tmp_path: Path) -> None:
    import os

    (tmp_path / "var" / "zxjyck.db").unlink()
    env = {**os.environ, "ZXJYCK_CONFIG": str(cfg)}
    assert zxjyck("init", env=env).returncode == 0
    assert (tmp_path / "var" / "zxjyck.db").exists()
    run = zxjyck("messages", env=env)
    assert run.returncode == 0, run.stderr


def test_missing_path_is_one_line_and_exit_1(cfg: Path, tmp_path: Path) -> None:
    run = zxjyck("ingest", str(tmp_path / "does-not-exist"), config=cfg)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0
    assert "does-not-exist" in run.stderr and "Traceback" not in run.stderr


def test_unknown_config_key_names_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[notify]\nreply_window_dayz = 3\n', encoding="utf-8")
    run = zxjyck("status", config=cfg)
    assert run.returncode == 78  # EX_CONFIG: a configuration error (systemd does not restart on it)
    assert "notify.reply_window_dayz" in run.stderr and "bad.toml" in run.stderr


def test_wrong_type_names_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[notify]\nreply_window_days = "seven"\n', encoding="utf-8")
    run = zxjyck("status", config=cfg)
    assert run.returncode == 78 and "notify.reply_window_days" in run.stderr


def test_bad_usage_exits_2(cfg: Path) -> None:
    assert zxjyck("frobnicate", config=cfg).returncode == 2
    assert zxjyck("remind", "--week", "2020-02-18", config=cfg).returncode == 2  # not a Monday
    assert main(["--config", str(cfg), "replay"]) == 2


def test_remind_prints_a_summary_people_read(cfg: Path) -> None:
    first = zxjyck("remind", "--week", "2020-02-17", config=cfg)
    assert first.returncode == 0, first.stderr
    assert "ReminderResult" not in first.stdout and "week_start=" not in first.stdout
    lines = first.stdout.splitlines()
    assert lines[0] == "催报提醒 late reminders，报送周 week of 2020-02-17："
    queued = lines[1].split("：", 1)
    assert queued[0].startswith("  本次发出 queued now: ") and "广州市" in queued[1]
    assert lines[2] == "  此前已发 queued before: 0 个市 cities"
    again = zxjyck("remind", "--week", "2020-02-17", config=cfg)
    assert again.stdout.splitlines()[1] == "  本次发出 queued now: 0 个市 cities"  # once per city and week
    assert again.stdout.splitlines()[2] == lines[1].replace("本次发出 queued now", "此前已发 queued before")


def test_unknown_message_id_is_handled(cfg: Path, capsys) -> None:
    assert main(["--config", str(cfg), "show", "999"]) == 1
    assert "999" in capsys.readouterr().err


def test_relative_paths_are_relative_to_the_config_folder(cfg: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir("/")
    (tmp_path / "one.eml").write_bytes(MAIL)
    assert main(["--config", str(cfg), "ingest", str(tmp_path / "one.eml")]) == 0
    assert (tmp_path / "var" / "zxjyck.db").exists()
    assert any((tmp_path / "var" / "archive").rglob("*.eml"))


def test_secrets_from_environment_override_the_file(tmp_path: Path) -> None:
    from ingest.config import load_settings

    cfg = write_config(tmp_path, "sqlite:///var/a.db", extra='[imap]\nhost="127.0.0.1"\nusername="u"\npassword="file"\n')
    s = load_settings(cfg, environ={"ZXJYCK_IMAP_PASSWORD": "env-secret", "ZXJYCK_STORE_URL": "sqlite:///x.db"})
    assert s.imap.password.get_secret_value() == "env-secret"
    assert s.store_url == f"sqlite:///{tmp_path / 'x.db'}"
    assert "env-secret" not in repr(s)


def test_replay_is_audited_and_show_explains_the_message(cfg: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "one.eml").write_bytes(MAIL)
    assert main(["--config", str(cfg), "ingest", str(tmp_path / "one.eml")]) == 0
    assert main(["--config", str(cfg), "replay", "1"]) == 0
    assert main(["--config", str(cfg), "replay", "--status", "needs_review"]) == 0  # no form attached: held
    capsys.readouterr()
    assert main(["--config", str(cfg), "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "审计 Audit" in shown
    assert shown.count(" replay ") == 2
    assert "分类依据 Classification reasons" in shown and "发件人是登记的地市邮箱（广州市）" in shown


def test_ingest_shows_progress_on_a_terminal(cfg: Path, tmp_path: Path) -> None:
    import os
    import pty

    (tmp_path / "in").mkdir()
    for n in range(30):
        (tmp_path / "in" / f"{n}.eml").write_bytes(MAIL.replace(b"cli-1@", f"cli-{n}-p@".encode()))
    leader, follower = pty.openpty()
    exe = shutil.which("zxjyck")
    cmd = ([exe] if exe else [sys.executable, "-m", "ingest.cli"]) + ["--config", str(cfg), "ingest",
                                                                      str(tmp_path / "in")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, env={**os.environ, "TERM": "xterm"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    assert "导入 ingesting" in seen.decode("utf-8", "replace")


def squash(table: str) -> str:
    """A rich table's text without borders and wrapping."""
    import re

    return re.sub(r"[\s│┃┌┐└┘├┤─┬┴┼]+", "", table)


def test_status_exits_1_when_pickup_stalled_or_notices_failed(cfg: Path, capsys) -> None:
    from datetime import UTC, datetime, timedelta

    from ingest.app import open_app
    from ingest.config import load_settings
    from store.db import session_scope
    from store.models import Outbox, PollRun

    assert main(["--config", str(cfg), "status"]) == 0  # nothing has ever run: not unhealthy
    app = open_app(load_settings(cfg, environ={}))
    try:
        old = datetime.now(UTC) - timedelta(hours=1)
        with session_scope(app.engine) as s:
            s.add(PollRun(source="maildir:x", started_at=old, finished_at=old, ok=True, trigger="manual"))
    finally:
        app.close()
    assert main(["--config", str(cfg), "status"]) == 0  # an old manual poll: nothing is supposed to be running
    app = open_app(load_settings(cfg, environ={}))
    try:
        with session_scope(app.engine) as s:
            later = old + timedelta(seconds=1)
            s.add(PollRun(source="maildir:x", started_at=later, finished_at=later, ok=True, trigger="daemon"))
    finally:
        app.close()
    capsys.readouterr()
    assert main(["--config", str(cfg), "status"]) == 1  # the daemon has been silent for three intervals
    assert "nosuccessfulpollfor3intervals" in squash(capsys.readouterr().out)
    app = open_app(load_settings(cfg, environ={}))
    try:
        now = datetime.now(UTC)
        with session_scope(app.engine) as s:
            s.add(PollRun(source="maildir:x", started_at=now, finished_at=now, ok=True, trigger="daemon"))
            s.add(Outbox(dedupe_key="k", kind="receipt", to=["a@b.c"], message_id="<m@163.com>", status="failed",
                         created_at=now))
    finally:
        app.close()
    assert main(["--config", str(cfg), "status"]) == 1
    assert "outboxfailures" in squash(capsys.readouterr().out)


@pytest.mark.parametrize(("args", "valid"), [
    (("messages", "--status", "bogus"), "received, processed, needs_review, failed"),
    (("messages", "--kind", "weekly"), "application, weekly_report, bounce, auto_reply, status_query, other"),
    (("replay", "--status", "done"), "received, processed, needs_review, failed"),
])
def test_unknown_filter_value_is_a_usage_error_listing_the_valid_ones(cfg: Path, args, valid: str) -> None:
    run = zxjyck(*args, config=cfg)
    assert run.returncode == 2
    assert run.stdout == ""  # no empty table
    assert valid in run.stderr and "可选" in run.stderr
    assert repr(args[-1]) in run.stderr and "Traceback" not in run.stderr


def test_known_filter_values_still_list(cfg: Path) -> None:
    run = zxjyck("messages", "--status", "needs_review", "--kind", "weekly_report", config=cfg)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(("toml", "typo", "near"), [
    ('[staff]\ndigst_to = ["a@example.org"]\n', "staff.digst_to", "staff.digest_to"),
    ('[notify]\nreply_window_dayz = 3\n', "notify.reply_window_dayz", "notify.reply_window_days"),
    ('[imap]\nhost = "h"\nusername = "u"\ntimeout_second = 3\n', "imap.timeout_second", "imap.timeout_seconds"),
    ('[[mailboxes]]\nhost = "h"\nusername = "u"\nfoldr = "X"\n', "mailboxes.0.foldr", "mailboxes.0.folder"),
    ('[stafff]\ndigest_to = []\n', "stafff", "staff"),
])
def test_config_typo_suggests_the_nearest_valid_key(tmp_path: Path, toml: str, typo: str, near: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml, encoding="utf-8")
    run = zxjyck("status", config=cfg)
    assert run.returncode == 78
    assert f"unknown key '{typo}', did you mean '{near}'?" in run.stderr
    assert f"是否应为 '{near}'" in run.stderr
    assert run.stderr.strip().count("\n") == 0


def test_config_key_far_from_any_lists_the_section_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[staff]\nzzzz = 1\n', encoding="utf-8")
    run = zxjyck("status", config=cfg)
    assert run.returncode == 78
    assert "did you mean" not in run.stderr
    assert "staff.zzzz" in run.stderr and "digest_to, digest_time" in run.stderr


def test_export_xlsx_without_out_is_a_usage_error_in_both_languages(cfg: Path) -> None:
    run = zxjyck("export", "--format", "xlsx", "--week", "2020-02-17", config=cfg)
    assert run.returncode == 2
    assert "needs --out FILE" in run.stderr and "需要 --out" in run.stderr
