"""`zxjyck run` as a real process: signals, IDLE pickup, crash and restart, two daemons on one PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, service_env, write_config
from tests.smtp_server import running_smtp_server
from zxjyck.clock import StartedClock

GZ = (FIXTURES / "mail" / "01-guangzhou-weekly.eml").read_bytes()


def fresh_report(n: int, now: datetime) -> bytes:
    """The Guangzhou weekly report as if received at ``now`` (inside the reply window), with its own bytes."""
    head, body = GZ.split(b"\n", 2)[:2], GZ.split(b"\n", 2)[2]
    body = body.replace(b"Message-ID: <gz-0224@example.gov.cn>", f"Message-ID: <gz-run-{n}@example.gov.cn>".encode())
    stamp = f"Received: from mail.example by mx.163.com; {format_datetime(now)}".encode()
    return stamp + b"\n" + head[1] + b"\n" + body


def deliver(folder: Path, name: str, raw: bytes, at: datetime) -> None:
    """Deliver a message into the Maildir at ``folder`` as a mail server does at ``at``: written in tmp/,
    its mtime (the delivery time the service reads) set, then moved into new/."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    staged = folder / "tmp" / name
    staged.write_bytes(raw)
    os.utime(staged, (at.timestamp(), at.timestamp()))
    os.replace(staged, folder / "new" / name)


def zxjyck_cmd(cfg: Path, *args: str) -> list[str]:
    exe = shutil.which("zxjyck")
    return ([exe] if exe else [sys.executable, "-m", "ingest.cli"]) + ["--config", str(cfg), *args]


def start_daemon(cfg: Path, log: Path, timeline: StartedClock, *, init: bool = True) -> subprocess.Popen:
    """`zxjyck run` on ``cfg``; ``init``: the store made first by `zxjyck init`, as an operator does (the
    daemon would make it too, but the reading commands the tests poll with refuse a store not there yet)."""
    if init:
        subprocess.run(zxjyck_cmd(cfg, "init"), check=True, capture_output=True, timeout=120,
                       env=service_env(timeline))
    return subprocess.Popen(zxjyck_cmd(cfg, "run"), stdout=subprocess.DEVNULL, stderr=log.open("wb"),
                            start_new_session=True, env=service_env(timeline))


def store_made(cfg: Path, timeline: StartedClock) -> bool:
    """Whether the store is there at the newest schema (a reading command accepts it)."""
    return subprocess.run(zxjyck_cmd(cfg, "messages", "--json"), capture_output=True, timeout=120,
                          env=service_env(timeline)).returncode == 0


def export(cfg: Path, timeline: StartedClock) -> dict:
    out = subprocess.run(zxjyck_cmd(cfg, "export", "--format", "json"), capture_output=True, text=True, timeout=120,
                         env=service_env(timeline))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{detail}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def test_local_daemon_picks_up_and_stops_cleanly_on_sigterm(tmp_path: Path, timeline: StartedClock) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log, timeline, init=False)  # `run` makes the store itself
    try:
        wait_for(lambda: store_made(cfg, timeline), 60, "the daemon to create the store", log)
        deliver(tmp_path / "mailbox", "1.eml", fresh_report(1, timeline()), timeline())
        wait_for(lambda: any(m["status"] == "processed" for m in export(cfg, timeline)["messages"]), 60, "processing", log)
    finally:
        code = stop(proc)
    assert code == 0
    text = log.read_text()
    assert "zxjyck stopped" in text and "Traceback" not in text
    doc = export(cfg, timeline)
    [receipt] = doc["outbox"]
    assert receipt["status"] == "sent"  # no [smtp]: written as .eml
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 1


def _service_config(tmp_path: Path, store_url: str, account, smtp) -> Path:
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {account.port}\nsecurity = "none"\nusername = "{account.username}"\n'
             f'password = "{account.password}"\npoll_interval_seconds = 600\n'
             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n')
    return write_config(tmp_path, store_url, extra=extra, notify="max_per_sender_per_day = 100")


def test_idle_daemon_answers_within_seconds_and_survives_sigkill(tmp_path: Path, store_url: str, imap_account, timeline: StartedClock) -> None:
    """Polling every 600 s: only IDLE can make the receipt arrive quickly."""
    with running_smtp_server() as smtp:
        cfg = _service_config(tmp_path, store_url, imap_account, smtp)
        log = tmp_path / "d.log"
        proc = start_daemon(cfg, log, timeline)
        try:
            wait_for(lambda: "IMAP" in log.read_text() or "started" in log.read_text(), 30, "start", log)
            time.sleep(1.0)  # let the watcher enter IDLE
            imap_account.append("INBOX", fresh_report(1, timeline()), timeline())
            wait_for(lambda: len(smtp.handler.received) == 1, 60, "the receipt at the SMTP listener", log)
        finally:
            code = stop(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL
        [got] = smtp.handler.received
        assert got.message["In-Reply-To"] == "<gz-run-1@example.gov.cn>"
        # a restart after the kill does nothing twice
        imap_account.append("INBOX", fresh_report(2, timeline()), timeline())
        proc = start_daemon(cfg, log, timeline)
        try:
            wait_for(lambda: len(smtp.handler.received) == 2, 60, "the second receipt", log)
        finally:
            assert stop(proc) == 0
        doc = export(cfg, timeline)
        assert len(doc["messages"]) == 2 and {m["status"] for m in doc["messages"]} == {"processed"}
        assert [o["status"] for o in doc["outbox"]] == ["sent", "sent"]


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_daemons_on_one_postgres_share_the_work(tmp_path: Path, store_url: str, imap_account, timeline: StartedClock) -> None:
    with running_smtp_server() as smtp:
        count = 12
        for n in range(count):
            imap_account.append("INBOX", fresh_report(100 + n, timeline()), timeline() - timedelta(minutes=1))
        # Two processes, one configuration: one database and one archive folder (shared storage across hosts).
        cfg = _service_config(tmp_path, store_url, imap_account, smtp)
        procs = [start_daemon(cfg, tmp_path / "a.log", timeline), start_daemon(cfg, tmp_path / "b.log", timeline)]
        try:
            wait_for(lambda: len(smtp.handler.received) >= count, 120, "every receipt", tmp_path / "a.log")
            time.sleep(2)  # anything sent twice would arrive now
        finally:
            codes = [stop(p) for p in procs]
        assert codes == [0, 0]
        in_reply = sorted(r.message["In-Reply-To"] for r in smtp.handler.received)
        assert in_reply == sorted(f"<gz-run-{100 + n}@example.gov.cn>" for n in range(count))
        doc = export(cfg, timeline)
        assert len(doc["messages"]) == count
        assert {m["status"] for m in doc["messages"]} == {"processed"}
        assert len(doc["outbox"]) == count and {o["status"] for o in doc["outbox"]} == {"sent"}
        logs = [(tmp_path / name).read_text() for name in ("a.log", "b.log")]
        processed = [line for text in logs for line in text.splitlines() if "processed message id=" in line]
        assert len(processed) == count  # each message processed by exactly one of the two daemons


def test_sigkill_while_processing_and_sending_then_restart_reaches_the_same_end(tmp_path: Path, timeline: StartedClock) -> None:
    """Killed mid-backlog (some messages processed, some notices sent): a restart finishes the rest,
    processing no message twice and sending no notice twice."""
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", notify="max_per_sender_per_day = 100")
    count = 30
    for n in range(count):
        deliver(tmp_path / "mailbox", f"{n}.eml", fresh_report(500 + n, timeline()), timeline())
    log = tmp_path / "d.log"
    proc = start_daemon(cfg, log, timeline)
    wait_for(lambda: log.exists() and "processed message id=" in log.read_text(), 120, "the first message", log)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = log.read_text().count("processed message id=")
    assert done_before < count, "the kill came too late to test anything"
    log2 = tmp_path / "d2.log"
    proc = start_daemon(cfg, log2, timeline)
    try:
        wait_for(lambda: {m["status"] for m in export(cfg, timeline)["messages"]} == {"processed"}
                 and len(export(cfg, timeline)["messages"]) == count
                 and {o["status"] for o in export(cfg, timeline)["outbox"]} == {"sent"}, 180, "the rest", log2)
    finally:
        assert stop(proc) == 0
    doc = export(cfg, timeline)
    assert len(doc["outbox"]) == count
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == count  # one file per notice, none twice
    processed_lines = done_before + log2.read_text().count("processed message id=")
    # each message is logged once, after its commit (one line may be lost if the kill fell between the two)
    assert count - 1 <= processed_lines <= count


def _reminded(doc: dict) -> list[str]:
    return sorted(o["to"][0] for o in doc["outbox"] if o["kind"] == "late_reminder")


def test_reminders_go_out_when_the_service_clock_reaches_the_deadline(tmp_path: Path) -> None:
    """Monday 15:59:40 Shanghai: a report received at 15:59:35 is on time and answered; at 16:00 of the
    service's clock (not the host's) the two cities that have not reported are reminded, once."""
    timeline = StartedClock(datetime(2020, 2, 24, 7, 59, 40, tzinfo=UTC))
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    deliver(tmp_path / "mailbox", "gz.eml", fresh_report(1, timeline() - timedelta(seconds=5)),
            timeline() - timedelta(seconds=5))
    log = tmp_path / "d.log"
    proc = start_daemon(cfg, log, timeline)
    try:
        wait_for(lambda: len(_reminded(export(cfg, timeline))) == 2, 90, "the reminders at 16:00", log)
    finally:
        assert stop(proc) == 0
    doc = export(cfg, timeline)
    assert _reminded(doc) == ["szrsj@example.gov.cn", "zhrsj@example.gov.cn"]
    [report] = doc["weekly_reports"]
    assert (report["city"], report["week_start"], report["late"], report["status"]) == (
        "广州市", "2020-02-17", False, "accepted")
    assert [o["kind"] for o in doc["outbox"]].count("receipt") == 1
    assert all(o["created_at"] >= "2020-02-24T16:00:00+08:00" for o in doc["outbox"] if o["kind"] == "late_reminder")


def test_a_daemon_started_just_after_the_deadline_catches_up_and_a_report_then_is_late(tmp_path: Path) -> None:
    """Monday 16:01 Shanghai: the reminders the deadline should have sent go out at start; a report received
    at 16:01 counts as late."""
    timeline = StartedClock(datetime(2020, 2, 24, 8, 1, tzinfo=UTC))
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    (tmp_path / "mailbox" / "new").mkdir(parents=True)
    log = tmp_path / "d.log"
    proc = start_daemon(cfg, log, timeline)
    try:
        wait_for(lambda: len(_reminded(export(cfg, timeline))) == 3, 60, "the catch-up reminders", log)
        deliver(tmp_path / "mailbox", "gz.eml", fresh_report(2, timeline()), timeline())
        wait_for(lambda: export(cfg, timeline)["weekly_reports"], 60, "the late report", log)
    finally:
        assert stop(proc) == 0
    doc = export(cfg, timeline)
    [report] = doc["weekly_reports"]
    assert (report["week_start"], report["late"], report["status"]) == ("2020-02-17", True, "accepted")
    assert _reminded(doc) == ["gzrsj@example.gov.cn", "szrsj@example.gov.cn", "zhrsj@example.gov.cn"]
