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

from tests.conftest import FIXTURES, write_config
from tests.smtp_server import running_smtp_server

GZ = (FIXTURES / "mail" / "01-guangzhou-weekly.eml").read_bytes()


def fresh_report(n: int) -> bytes:
    """The Guangzhou weekly report as if sent just now (inside the reply window), with its own bytes."""
    now = datetime.now(UTC)
    head, body = GZ.split(b"\n", 2)[:2], GZ.split(b"\n", 2)[2]
    body = body.replace(b"Message-ID: <gz-0224@example.gov.cn>", f"Message-ID: <gz-run-{n}@example.gov.cn>".encode())
    stamp = f"Received: from mail.example by mx.163.com; {format_datetime(now)}".encode()
    return stamp + b"\n" + head[1] + b"\n" + body


def zxjyck_cmd(cfg: Path, *args: str) -> list[str]:
    exe = shutil.which("zxjyck")
    return ([exe] if exe else [sys.executable, "-m", "ingest.cli"]) + ["--config", str(cfg), *args]


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(zxjyck_cmd(cfg, "run"), stdout=subprocess.DEVNULL, stderr=log.open("wb"),
                            start_new_session=True)


def export(cfg: Path) -> dict:
    out = subprocess.run(zxjyck_cmd(cfg, "export", "--format", "json"), capture_output=True, text=True, timeout=120)
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


def test_local_daemon_picks_up_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    try:
        (tmp_path / "mailbox" / "new").mkdir(parents=True, exist_ok=True)
        (tmp_path / "mailbox" / "tmp").mkdir(parents=True, exist_ok=True)
        (tmp_path / "mailbox" / "tmp" / "1.eml").write_bytes(fresh_report(1))
        os.replace(tmp_path / "mailbox" / "tmp" / "1.eml", tmp_path / "mailbox" / "new" / "1.eml")
        wait_for(lambda: any(m["status"] == "processed" for m in export(cfg)["messages"]), 60, "processing", log)
    finally:
        code = stop(proc)
    assert code == 0
    text = log.read_text()
    assert "zxjyck stopped" in text and "Traceback" not in text
    doc = export(cfg)
    [receipt] = doc["outbox"]
    assert receipt["status"] == "sent"  # no [smtp]: written as .eml
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 1


def _service_config(tmp_path: Path, store_url: str, account, smtp) -> Path:
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {account.port}\nsecurity = "none"\nusername = "{account.username}"\n'
             f'password = "{account.password}"\npoll_interval_seconds = 600\n'
             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n')
    return write_config(tmp_path, store_url, extra=extra, notify="max_per_sender_per_day = 100")


def test_idle_daemon_answers_within_seconds_and_survives_sigkill(tmp_path: Path, store_url: str, imap_account) -> None:
    """Polling every 600 s: only IDLE can make the receipt arrive quickly."""
    with running_smtp_server() as smtp:
        cfg = _service_config(tmp_path, store_url, imap_account, smtp)
        log = tmp_path / "d.log"
        proc = start_daemon(cfg, log)
        try:
            wait_for(lambda: "IMAP" in log.read_text() or "started" in log.read_text(), 30, "start", log)
            time.sleep(1.0)  # let the watcher enter IDLE
            imap_account.append("INBOX", fresh_report(1), datetime.now(UTC))
            wait_for(lambda: len(smtp.handler.received) == 1, 60, "the receipt at the SMTP listener", log)
        finally:
            code = stop(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL
        [got] = smtp.handler.received
        assert got.message["In-Reply-To"] == "<gz-run-1@example.gov.cn>"
        # a restart after the kill does nothing twice
        imap_account.append("INBOX", fresh_report(2), datetime.now(UTC))
        proc = start_daemon(cfg, log)
        try:
            wait_for(lambda: len(smtp.handler.received) == 2, 60, "the second receipt", log)
        finally:
            assert stop(proc) == 0
        doc = export(cfg)
        assert len(doc["messages"]) == 2 and {m["status"] for m in doc["messages"]} == {"processed"}
        assert [o["status"] for o in doc["outbox"]] == ["sent", "sent"]


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_daemons_on_one_postgres_share_the_work(tmp_path: Path, store_url: str, imap_account) -> None:
    with running_smtp_server() as smtp:
        count = 12
        for n in range(count):
            imap_account.append("INBOX", fresh_report(100 + n), datetime.now(UTC) - timedelta(minutes=1))
        # Two processes, one configuration: one database and one archive folder (shared storage across hosts).
        cfg = _service_config(tmp_path, store_url, imap_account, smtp)
        procs = [start_daemon(cfg, tmp_path / "a.log"), start_daemon(cfg, tmp_path / "b.log")]
        try:
            wait_for(lambda: len(smtp.handler.received) >= count, 120, "every receipt", tmp_path / "a.log")
            time.sleep(2)  # anything sent twice would arrive now
        finally:
            codes = [stop(p) for p in procs]
        assert codes == [0, 0]
        in_reply = sorted(r.message["In-Reply-To"] for r in smtp.handler.received)
        assert in_reply == sorted(f"<gz-run-{100 + n}@example.gov.cn>" for n in range(count))
        doc = export(cfg)
        assert len(doc["messages"]) == count
        assert {m["status"] for m in doc["messages"]} == {"processed"}
        assert len(doc["outbox"]) == count and {o["status"] for o in doc["outbox"]} == {"sent"}
        logs = [(tmp_path / name).read_text() for name in ("a.log", "b.log")]
        processed = [line for text in logs for line in text.splitlines() if "processed message id=" in line]
        assert len(processed) == count  # each message processed by exactly one of the two daemons


def test_sigkill_while_processing_and_sending_then_restart_reaches_the_same_end(tmp_path: Path) -> None:
    """Killed mid-backlog (some messages processed, some notices sent): a restart finishes the rest,
    processing no message twice and sending no notice twice."""
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", notify="max_per_sender_per_day = 100")
    new = tmp_path / "mailbox" / "new"
    new.mkdir(parents=True)
    (tmp_path / "mailbox" / "tmp").mkdir()
    count = 30
    for n in range(count):
        (new / f"{n}.eml").write_bytes(fresh_report(500 + n))
    log = tmp_path / "d.log"
    proc = start_daemon(cfg, log)
    wait_for(lambda: log.exists() and "processed message id=" in log.read_text(), 120, "the first message", log)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = log.read_text().count("processed message id=")
    assert done_before < count, "the kill came too late to test anything"
    log2 = tmp_path / "d2.log"
    proc = start_daemon(cfg, log2)
    try:
        wait_for(lambda: {m["status"] for m in export(cfg)["messages"]} == {"processed"}
                 and len(export(cfg)["messages"]) == count
                 and {o["status"] for o in export(cfg)["outbox"]} == {"sent"}, 180, "the rest", log2)
    finally:
        assert stop(proc) == 0
    doc = export(cfg)
    assert len(doc["outbox"]) == count
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == count  # one file per notice, none twice
    processed_lines = done_before + log2.read_text().count("processed message id=")
    # each message is logged once, after its commit (one line may be lost if the kill fell between the two)
    assert count - 1 <= processed_lines <= count
