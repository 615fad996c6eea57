"""The real mailbox is NetEase's: ID before SELECT, capabilities missing, Chinese folders, stale leases.

Everything here goes through tests/netease_front.py (a NetEase-like front relaying to the
test Dovecot) in each stripped variant, or to Dovecot directly for what Dovecot alone shows.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient, imap_utf7
from sqlmodel import Session, select

from ingest.app import open_app
from ingest.cli.main import main
from ingest.config import load_settings
from ingest.runtime.health import health
from ingest.sources.imap import MarkingStrategy, choose_strategy, holder_is_gone, lease_name, poll_once
from store import repo
from store.models import Message
from tests.conftest import FIXTURES, SERVICE_START, write_config
from tests.imap_helpers import MemorySink
from tests.netease_front import UNSAFE_LOGIN, VARIANTS, NetEaseFront, netease_front_fixture  # noqa: F401
from tests.smtp_server import running_smtp_server
from tests.test_daemon import start_daemon, stop, wait_for, zxjyck_cmd
from zxjyck.clock import CLOCK_VARIABLE, StartedClock

ROOT = Path(__file__).resolve().parent.parent
SENDERS = ("01-guangzhou-weekly.eml", "02-shenzhen-weekly-late.eml", "03-zhuhai-weekly-bad-row.eml",
           "08-question.eml")

EXPECTED_STRATEGY = {  # with processed_folder set
    "netease": MarkingStrategy(True, "copy-expunge", "已处理"),
    "no-idle": MarkingStrategy(True, "move", "已处理"),
    "no-move": MarkingStrategy(True, "copy-expunge", "已处理"),
    "no-uidplus": MarkingStrategy(True, "copy", "已处理"),
    "no-keywords": MarkingStrategy(False, "move", "已处理"),
    "bare": MarkingStrategy(False, "copy", "已处理"),
}


@pytest.fixture(autouse=True)
def service_time(monkeypatch: pytest.MonkeyPatch, timeline: StartedClock) -> StartedClock:
    """Every zxjyck this module runs, in this process or as a child, starts its clock at the timeline's
    Monday 2020-02-24 10:00 Shanghai, whatever the host's clock says."""
    monkeypatch.setenv(CLOCK_VARIABLE, timeline().isoformat())
    return timeline


def fresh(name: str, n: int = 0, sent: datetime = SERVICE_START) -> bytes:
    """A fixture mail as if sent at ``sent`` (inside the reply window), with its own Message-ID."""
    raw = (FIXTURES / "mail" / name).read_bytes()
    head, sep, body = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    lines = [line for line in head.splitlines() if not line.lower().startswith((b"date:", b"message-id:"))]
    lines.insert(0, f"Date: {format_datetime(sent)}".encode())
    lines.insert(0, f"Message-ID: <netease-{n}-{name}@example.gov.cn>".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def config(tmp_path: Path, port: int, account, smtp=None, **imap: object) -> Path:
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nusername = "{account.username}"\n'
             f'password = "{account.password}"\ntimeout_seconds = 10\n'
             + "".join(f"{k} = {_toml(v)}\n" for k, v in imap.items()))
    if smtp is not None:
        extra += f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n'
    return write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra, notify="max_per_sender_per_day = 100")


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def stored(cfg: Path) -> list[Message]:
    app = open_app(load_settings(cfg, environ={}))
    try:
        with Session(app.engine) as session:
            return list(session.exec(select(Message)))
    finally:
        app.close()


def receipts_per_message(smtp) -> Counter:
    return Counter(str(got.message["In-Reply-To"]) for got in smtp.handler.received)


# --------------------------------------------------------------------------- the front itself


def test_the_front_refuses_select_examine_status_before_id_with_netease_words(dovecot, imap_account):
    with NetEaseFront(dovecot.port) as front:
        client = IMAPClient("127.0.0.1", front.port, ssl=False, timeout=10)
        client.login(imap_account.username, imap_account.password)
        for command, attempt in (("SELECT", lambda: client.select_folder("INBOX")),
                                 ("EXAMINE", lambda: client.select_folder("INBOX", readonly=True)),
                                 ("STATUS", lambda: client.folder_status("INBOX"))):
            with pytest.raises(Exception, match=f"{command} Unsafe Login. Please contact kefu@188.com for help"):
                attempt()
        client.id_({"name": "test"})
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        client.logout()
    assert front.refused == ["SELECT", "EXAMINE", "STATUS"]
    assert UNSAFE_LOGIN.format(command="SELECT") == "NO SELECT Unsafe Login. Please contact kefu@188.com for help"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_front_strips_capabilities_and_refuses_their_commands(dovecot, imap_account, variant):
    strip = VARIANTS[variant]
    with NetEaseFront(dovecot.port, strip) as front:
        client = IMAPClient("127.0.0.1", front.port, ssl=False, timeout=10)
        client.login(imap_account.username, imap_account.password)
        client.id_({"name": "test"})
        caps = set(client.capabilities())
        for cap in ("IDLE", "MOVE", "UIDPLUS"):
            assert (cap.encode() in caps) is (cap not in strip), (cap, caps)
        flags = client.select_folder("INBOX")[b"PERMANENTFLAGS"]
        assert (b"\\*" in flags) is ("KEYWORDS" not in strip)
        client.logout()


def test_a_client_that_never_sends_id_polls_nothing(dovecot, imap_account):
    """What 163.com does: without ID the poll fails on the first SELECT, with the server's words."""
    imap_account.append("INBOX", fresh("08-question.eml"))
    with NetEaseFront(dovecot.port) as front:
        settings = imap_account.settings(port=front.port)
        with pytest.raises(Exception, match="Unsafe Login"):
            poll_once(settings, MemorySink(), holder="t",
                      connector=_login_without_id)


def _login_without_id(settings) -> IMAPClient:
    client = IMAPClient(settings.host, settings.port, ssl=False, timeout=10)
    client.login(settings.username, settings.password)
    return client


# --------------------------------------------------------------------------- polls through the front


def test_poll_through_the_front_stores_every_message_and_answers_every_sender_once(
        tmp_path, imap_account, netease_front, capsys, service_time):
    raws = [fresh(name) for name in SENDERS]
    for raw in raws:
        imap_account.append("INBOX", raw, service_time())
    with running_smtp_server() as smtp:
        cfg = config(tmp_path, netease_front.port, imap_account, smtp, processed_folder="已处理",
                     id={"name": "zxjyck-test", "version": "9.9"})
        assert main(["--config", str(cfg), "poll"]) == 0
        assert main(["--config", str(cfg), "poll"]) == 0  # nothing twice
        assert len(stored(cfg)) == len(raws)
        counts = receipts_per_message(smtp)
        assert len(smtp.handler.received) >= 3 and set(counts.values()) == {1}, counts
    commands = netease_front.commands
    assert commands.index("ID") < commands.index("SELECT") and not netease_front.refused
    strategy = EXPECTED_STRATEGY[netease_front.variant]
    inbox_left = imap_account.count("INBOX")
    assert imap_account.count("已处理") == len(raws)
    assert inbox_left == (len(raws) if strategy.folder == "copy" else 0)
    flags = imap_account.flags("已处理")
    assert all((b"$ZxjyckIngested" in f) is strategy.keyword for f in flags.values())
    assert all(b"\\Seen" not in f for f in flags.values())
    capsys.readouterr()
    main(["--config", str(cfg), "status"])
    assert "标记方式 Marking" in capsys.readouterr().out
    app = open_app(load_settings(cfg, environ={}))
    try:
        assert list(health(app).markings.values()) == [strategy.describe()]
    finally:
        app.close()


def test_the_configured_id_fields_are_what_the_server_gets(dovecot, imap_account, tmp_path):
    seen: list[bytes] = []

    class Spy(NetEaseFront):
        def _refusal(self, command, rest, state):
            if command == "ID":
                seen.append(rest)
            return super()._refusal(command, rest, state)

    with Spy(dovecot.port) as front:
        settings = load_settings(config(tmp_path, front.port, imap_account,
                                        id={"name": "zxjyck", "version": "2.0", "vendor": "GDZXJ"}), environ={})
        poll_once(settings.imap, MemorySink(), holder="t")
    assert seen == [b'("name" "zxjyck" "version" "2.0" "vendor" "GDZXJ")']


@pytest.mark.parametrize(("caps", "flags", "folder", "expected"), [
    ({"MOVE", "UIDPLUS"}, [b"\\*"], "done", "keyword $ZxjyckIngested + MOVE to done + cursor"),
    ({"UIDPLUS"}, [b"\\Seen"], "done", "COPY+UID EXPUNGE to done + cursor"),
    (set(), [b"$ZxjyckIngested"], "done", "keyword $ZxjyckIngested + COPY to done (originals stay) + cursor"),
    (set(), [], None, "cursor"),
])
def test_the_marking_strategy_follows_what_the_server_offers(caps, flags, folder, expected):
    assert choose_strategy(lambda cap: cap in caps, flags, folder).describe() == expected


# --------------------------------------------------------------------------- Chinese folders (Dovecot)


def test_chinese_folder_names_travel_as_modified_utf7(dovecot, imap_account, tmp_path, service_time):
    imap_account.create_folder("城市周报")
    raws = [fresh(name) for name in SENDERS[:2]]
    for raw in raws:
        imap_account.append("城市周报", raw, service_time())
    with NetEaseFront(dovecot.port, {"MOVE"}) as front:
        cfg = config(tmp_path, front.port, imap_account, folder="城市周报", processed_folder="已处理")
        assert main(["--config", str(cfg), "poll"]) == 0
    assert len(stored(cfg)) == 2
    assert imap_account.count("已处理") == 2 and imap_account.count("城市周报") == 0
    on_disk = {p.name for p in dovecot.maildir(imap_account.username).iterdir()}
    assert "." + imap_utf7.encode("已处理").decode() in on_disk, on_disk  # "&XfJT0ZAB-": what went on the wire
    assert "已处理" not in " ".join(on_disk)
    refs = {m.source_ref for m in stored(cfg)}
    assert all("%E5%9F%8E%E5%B8%82%E5%91%A8%E6%8A%A5" in ref for ref in refs), refs  # the folder, URL-encoded


# --------------------------------------------------------------------------- the daemon through the front


def test_the_daemon_picks_up_through_the_front(tmp_path, imap_account, netease_front, service_time):
    with running_smtp_server() as smtp:
        cfg = config(tmp_path, netease_front.port, imap_account, smtp, processed_folder="已处理",
                     poll_interval_seconds=2)
        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, service_time)
        try:
            wait_for(lambda: "started" in log.read_text(), 30, "start", log)
            imap_account.append("INBOX", fresh("01-guangzhou-weekly.eml", 1), service_time())
            wait_for(lambda: len(smtp.handler.received) == 1, 60, "the receipt", log)
            imap_account.append("INBOX", fresh("02-shenzhen-weekly-late.eml", 2), service_time())
            wait_for(lambda: len(smtp.handler.received) == 2, 60, "the second receipt", log)
        finally:
            assert stop(proc) == 0
        assert set(receipts_per_message(smtp).values()) == {1}
    text = log.read_text()
    assert "Traceback" not in text and "Unsafe Login" not in text, text[-4000:]
    assert len(stored(cfg)) == 2


# --------------------------------------------------------------------------- kill -9 and leases


def test_a_poll_killed_mid_run_is_taken_over_at_once_by_the_next_manual_poll(
        tmp_path, imap_account, netease_front, caplog, service_time):
    raws = [fresh(name, n) for n in range(3) for name in SENDERS]
    imap_account.append_many("INBOX", raws, service_time())
    with running_smtp_server() as smtp:
        cfg = config(tmp_path, netease_front.port, imap_account, smtp, processed_folder="已处理", batch_size=2)
        settings = imap_account.settings(port=netease_front.port, processed_folder="已处理", batch_size=2)
        import dataclasses

        command = [sys.executable, "-m", "tests.imap_helpers", "--config", str(cfg), "--holder", "auto",
                   "--store-delay", "0.3", "--settings", json.dumps(dataclasses.asdict(settings))]
        worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_for(lambda: len(stored(cfg)) >= 2, 60, "the worker's first messages")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        assert 0 < len(stored(cfg)) < len(raws), "the kill came too late to test anything"
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="ingest.sources.imap"):
            assert main(["--config", str(cfg), "poll"]) == 0
        assert time.monotonic() - started < 60  # not the 300 s the dead worker's lease had left
        assert f":{worker.pid} is gone" in caplog.text
        assert sorted(m.sha256 for m in stored(cfg)) == sorted({m.sha256 for m in stored(cfg)})
        assert len(stored(cfg)) == len(raws)
        assert set(receipts_per_message(smtp).values()) == {1}
    assert imap_account.count("已处理") == len(raws)


def test_a_live_holder_makes_a_manual_poll_exit_3_with_one_line(tmp_path, imap_account, service_time):
    cfg = config(tmp_path, imap_account.port, imap_account)
    settings = load_settings(cfg, environ={})
    app = open_app(settings)
    holder = f"{socket.gethostname()}:{os.getppid()}"  # alive: our parent
    try:
        assert repo.acquire_lease(app.engine, lease_name(settings.imap), holder, 300, service_time())
    finally:
        app.close()
    out = subprocess.run(zxjyck_cmd(cfg, "poll"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 3
    err = out.stderr.strip()
    assert len(err.splitlines()) == 1 and holder in err and "lease until" in err, err


def test_a_lease_on_another_host_is_honoured(tmp_path, imap_account, service_time):
    cfg = config(tmp_path, imap_account.port, imap_account)
    settings = load_settings(cfg, environ={})
    app = open_app(settings)
    try:
        repo.acquire_lease(app.engine, lease_name(settings.imap), "other-host:1", 300, service_time())
    finally:
        app.close()
    assert main(["--config", str(cfg), "poll"]) == 3


def test_holder_is_gone_only_for_a_dead_process_of_this_host():
    here = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert holder_is_gone(f"{here}:{child.pid}")
    assert not holder_is_gone(f"{here}:{os.getppid()}")
    assert not holder_is_gone(f"{here}:{os.getpid()}")
    assert not holder_is_gone(f"elsewhere:{child.pid}")
    assert not holder_is_gone("kill-test")
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not holder_is_gone(f"{here}:{zombie.pid}"):
        time.sleep(0.05)
    assert holder_is_gone(f"{here}:{zombie.pid}")  # exited, not yet reaped
    zombie.wait()


# --------------------------------------------------------------------------- a manual poll fails in one line


def test_a_manual_poll_of_an_unreachable_server_fails_in_one_line(tmp_path, imap_account):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = config(tmp_path, port, imap_account)
    started = time.monotonic()
    out = subprocess.run(zxjyck_cmd(cfg, "poll"), capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 20  # one attempt: the retries are the daemon's
    assert out.returncode == 1
    err = out.stderr.strip()
    assert len(err.splitlines()) == 1 and "unreachable" in err and "Traceback" not in err, err


def test_a_manual_poll_of_a_server_that_never_answers_fails_within_the_timeout(tmp_path, imap_account):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts the connection (the kernel does) but never says a word
    try:
        cfg = config(tmp_path, silent.getsockname()[1], imap_account)
        text = cfg.read_text().replace("timeout_seconds = 10", "timeout_seconds = 2")
        cfg.write_text(text)
        started = time.monotonic()
        out = subprocess.run(zxjyck_cmd(cfg, "poll"), capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert time.monotonic() - started < 2 + 10  # the 2 s timeout, plus the start of a Python process
    finally:
        silent.close()
    err = out.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_a_dead_holders_lease_is_taken_over_once_on_both_backends(store_url, tmp_path, make_app):
    from ingest.runtime.imap_sink import DbSink

    app = make_app(load_settings(write_config(tmp_path, store_url), environ={}))
    sink = DbSink(app)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}"
    assert sink.acquire_lease("imap:x/INBOX", dead, 300)
    assert not sink.acquire_lease("imap:x/INBOX", "me:1", 300)
    assert sink.lease_info("imap:x/INBOX")[0] == dead
    assert sink.take_over_lease("imap:x/INBOX", dead, "me:1", 300)
    assert not sink.take_over_lease("imap:x/INBOX", dead, "me:2", 300)  # somebody was quicker
    assert sink.lease_info("imap:x/INBOX")[0] == "me:1"


def test_the_watcher_ends_quietly_when_mail_comes_as_the_daemon_stops(monkeypatch):
    """A wake-up just after SIGTERM finds the scheduler shut down: the watcher ends, no traceback."""
    import threading
    from types import SimpleNamespace

    from apscheduler.schedulers.background import BackgroundScheduler

    from ingest.runtime import daemon as daemon
    from ingest.sources import imap as imap

    scheduler = BackgroundScheduler()
    scheduler.add_job(lambda: None, "interval", seconds=60, id="poll")
    scheduler.start()
    scheduler.shutdown()
    monkeypatch.setattr(imap, "wait_for_new", lambda *args, **kwargs: imap.WakeReason.PENDING)
    from ingest.config import ScheduleSettings

    app = SimpleNamespace(settings=SimpleNamespace(schedule=ScheduleSettings(timezone="Asia/Shanghai")))
    done = threading.Event()
    watcher = threading.Thread(target=lambda: (daemon.watch_imap(app, SimpleNamespace(idle_seconds=60), scheduler, daemon.Cycle(app),
                                                                 threading.Event()), done.set()))
    watcher.start()
    watcher.join(10)
    assert done.is_set()
