"""Alerts from real processes: `zxjyck run` against Dovecot with a wrong password and a disk "too full", and
`zxjyck status --alert` (the timer's command) noticing a killed daemon; every mail lands in a real aiosmtpd sink.

The daemons and commands run on the service clock of the test (``timeline``, ZXJYCK_NOW); "an hour later" is a
command started with a clock an hour on: no test waits for minutes.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from store.db import make_engine, session_scope
from store.models import Heartbeat
from tests.conftest import service_env, write_config
from tests.smtp_server import running_smtp_server
from tests.test_daemon import start_daemon, stop, wait_for, zxjyck_cmd
from zxjyck.clock import StartedClock

ADMIN = "ops@example.org"


def alerts(smtp) -> list:
    return [r for r in smtp.handler.received if "zxjyck" in str(r.message["Subject"])]


def subjects(smtp) -> list[str]:
    return sorted(str(r.message["Subject"]) for r in alerts(smtp))


def beats(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return {b.holder: b.beat_at for b in session.exec(select(Heartbeat))}
    except OperationalError:  # the daemon has not created the tables yet
        return {}
    finally:
        engine.dispose()


def wait_for_two_beats(url: str, holders_before: set[str], log: Path) -> None:
    """A new daemon has beaten twice: its first alert check (and the mail it queued) is complete."""
    seen: dict[str, object] = {}

    def twice() -> bool:
        now = {h: t for h, t in beats(url).items() if h not in holders_before}
        for holder, at in now.items():
            if holder in seen and seen[holder] != at:
                return True
            seen.setdefault(holder, at)
        return False

    wait_for(twice, 60, "two heartbeats of the new daemon", log)


def test_the_daemon_mails_a_refused_login_and_a_full_disk_once_and_their_end_once(tmp_path: Path, imap_account,
                                                                                 timeline: StartedClock) -> None:
    url = f"sqlite:///{tmp_path}/var/zxjyck.db"

    def config(password: str, min_free_mb: int) -> Path:
        return write_config(tmp_path, url, extra=(
            f'[imap]\nhost = "127.0.0.1"\nport = {imap_account.port}\nsecurity = "none"\n'
            f'username = "{imap_account.username}"\npassword = "{password}"\npoll_interval_seconds = 2\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n'
            f'[alerts]\nto = ["{ADMIN}"]\nmin_free_mb = {min_free_mb}\n'))

    with running_smtp_server() as smtp:
        cfg = config("a revoked code", 10**9)
        log = tmp_path / "first.log"
        proc = start_daemon(cfg, log, timeline)
        try:
            wait_for(lambda: len(alerts(smtp)) >= 2, 60, "the two alerts", log)
            holders = set(beats(url))
        finally:
            assert stop(proc) == 0
        assert subjects(smtp) == ["【zxjyck 告警】收信登录被拒绝（IMAP，授权码可能已失效）", "【zxjyck 告警】磁盘剩余空间不足"]
        assert all(r.rcpt_tos == [ADMIN] for r in alerts(smtp))  # never a sender, never the digest list
        body = alerts(smtp)[0].message.get_body(("plain",)).get_content()
        assert "开始时间" in body and "恢复后将另发一封恢复通知" in body

        log = tmp_path / "second.log"  # the same faults after a restart: nothing is mailed again
        proc = start_daemon(cfg, log, timeline)
        try:
            wait_for_two_beats(url, holders, log)
            holders = set(beats(url))
        finally:
            assert stop(proc) == 0
        assert len(alerts(smtp)) == 2

        cfg = config(imap_account.password, 0)  # the new code is configured and space was freed
        log = tmp_path / "third.log"
        proc = start_daemon(cfg, log, timeline)
        try:
            wait_for(lambda: len(alerts(smtp)) >= 4, 60, "the two clears", log)
            wait_for_two_beats(url, holders, log)
        finally:
            assert stop(proc) == 0
        assert len(alerts(smtp)) == 4
        assert sorted(str(r.message["Subject"]) for r in alerts(smtp)[2:]) == [
            "【zxjyck 恢复】收信登录被拒绝（IMAP，授权码可能已失效）", "【zxjyck 恢复】磁盘剩余空间不足"]


def test_status_alert_mails_a_killed_daemon_once_directly_and_its_return_once(tmp_path: Path,
                                                                             timeline: StartedClock) -> None:
    url = f"sqlite:///{tmp_path}/var/zxjyck.db"
    later = StartedClock(timeline() + timedelta(hours=1))  # the service's time an hour on (no test waits for it)
    with running_smtp_server() as smtp:
        cfg = write_config(tmp_path, url, extra=(
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n'
            f'[alerts]\nto = ["{ADMIN}"]\n'))
        (tmp_path / "mailbox").mkdir()

        def status_alert(clock: StartedClock) -> subprocess.CompletedProcess:
            return subprocess.run(zxjyck_cmd(cfg, "status", "--alert"), capture_output=True, text=True, timeout=120,
                                  env=service_env(clock))

        log = tmp_path / "daemon.log"
        proc = start_daemon(cfg, log, timeline)
        wait_for(lambda: bool(beats(url)), 60, "the first heartbeat", log)
        assert status_alert(timeline).returncode == 0 and alerts(smtp) == []
        proc.send_signal(signal.SIGKILL)  # died without a word: nobody else can tell
        proc.wait(timeout=30)

        first = status_alert(later)  # the timer's run an hour later
        assert first.returncode == 1, first.stdout + first.stderr
        assert "daemon: 开始 started" in first.stdout and "alert mail sent: 1" in first.stdout
        [mail] = alerts(smtp)
        assert mail.rcpt_tos == [ADMIN]
        assert str(mail.message["Subject"]) == "【zxjyck 告警】常驻服务（zxjyck run）已停止：没有心跳"
        assert "最后一次心跳" in mail.message.get_body(("plain",)).get_content()
        second = status_alert(later)  # the next run, still dead: the same incident, no second mail
        assert second.returncode == 1 and len(alerts(smtp)) == 1

        holders = set(beats(url))
        proc = start_daemon(cfg, log, later)
        try:
            wait_for_two_beats(url, holders, log)
            back = status_alert(later)
        finally:
            assert stop(proc) == 0
        assert back.returncode == 0, back.stdout + back.stderr
        assert [str(r.message["Subject"]) for r in alerts(smtp)][1] == "【zxjyck 恢复】常驻服务（zxjyck run）已停止：没有心跳"
        assert len(alerts(smtp)) == 2


def test_the_alert_timer_and_its_service_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The shipped units, with the program path and user of this machine (verify checks that both exist)."""
    import shutil

    deploy = Path(__file__).resolve().parent.parent / "deploy"
    exe = shutil.which("zxjyck")
    assert exe, "the zxjyck console script is installed (scripts/install.sh)"
    service = (deploy / "zxjyck-alert.service").read_text()
    assert "status --alert" in service and "SuccessExitStatus=1" in service
    (tmp_path / "zxjyck-alert.service").write_text(
        service.replace("/srv/zxjyck/venv/bin/zxjyck", exe).replace("User=zxjyck", "User=root")
        .replace("Group=zxjyck", "Group=root"))
    timer = (deploy / "zxjyck-alert.timer").read_text()
    assert "OnUnitActiveSec=5min" in timer
    (tmp_path / "zxjyck-alert.timer").write_text(timer)
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "zxjyck-alert.service"),
                           str(tmp_path / "zxjyck-alert.timer")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_real_ocr_worker_failing_three_times_in_a_row_is_an_incident_and_a_good_scan_ends_it(
        tmp_path: Path, make_app, clock) -> None:
    from dataclasses import replace
    from datetime import date

    from ingest.config import load_settings
    from ingest.runtime.alerts import Monitor
    from notify.transport import MemoryTransport
    from parsers.formats.limits import Limits
    from parsers.sandbox import Sandbox
    from tests.conftest import FIXTURES

    app = make_app(load_settings(write_config(tmp_path, "sqlite:///var/z.db",
                                              extra=f'[alerts]\nto = ["{ADMIN}"]\nmin_free_mb = 0\n'), environ={}))
    app.transport = MemoryTransport()
    photo = (FIXTURES / "attachments" / "scans" / "weekly_photo.jpg").read_bytes()
    monitor = Monitor(app, clock())
    with Sandbox(replace(Limits(), ocr_wall_timeout_s=0.1)) as sandbox:  # cannot even load its models in time
        app.analyzer = sandbox
        for n in range(3):
            result = sandbox.analyze(photo, f"photo-{n}.jpg", date(2020, 2, 24))
            assert result.scanned and result.ocr_seconds is not None
        assert sandbox.stats.ocr_failures_in_row == 3
        assert ("ocr", "start") in monitor()
    with Sandbox() as sandbox:
        app.analyzer = sandbox
        result = sandbox.analyze(photo, "photo.jpg", date(2020, 2, 24))
        assert result.weekly is not None and result.ocr_seconds > 0
        assert sandbox.stats.ocr_failures_in_row == 0
        assert ("ocr", "clear") in monitor()
    assert [str(m["Subject"]) for m in app.transport.sent] == ["【zxjyck 告警】OCR 识别进程反复异常终止",
                                                               "【zxjyck 恢复】OCR 识别进程反复异常终止"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_refused_smtp_login_is_an_incident_whose_mail_leaves_once_the_code_is_fixed(tmp_path: Path, make_app,
                                                                                     clock) -> None:
    """The alert about SMTP can only travel by SMTP: it waits in the outbox and goes out, with its all-clear,
    as soon as the new code is configured."""
    from dataclasses import replace

    from pydantic import SecretStr

    from ingest.config import AlertsSettings, load_settings
    from ingest.runtime.alerts import Monitor
    from tests.smtp_server import NETEASE_AUTH_FAILED

    with running_smtp_server(auth=("zxjyck@163.com", "the new code"), auth_failure_reply=NETEASE_AUTH_FAILED) as smtp:
        app = make_app(load_settings(write_config(tmp_path, "sqlite:///var/z.db", extra=(
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "zxjyck@163.com"\n'
            'username = "zxjyck@163.com"\npassword = "a revoked code"\ntimeout_seconds = 10\n'
            f'[alerts]\nto = ["{ADMIN}"]\nmin_free_mb = 999999999\nstalled_minutes = 10000\n')), environ={}))
        monitor = Monitor(app, clock())
        assert monitor() == [("disk", "start")]  # its mail meets the refused login
        assert "535" in app.observed["smtp_login"]
        clock.advance(minutes=1)
        assert monitor() == [("smtp_login", "start")]
        assert alerts(smtp) == []

        app.settings = replace(app.settings, smtp=app.settings.smtp.model_copy(
            update={"password": SecretStr("the new code")}),
            alerts=AlertsSettings(to=[ADMIN], min_free_mb=0, stalled_minutes=10000))
        app.transport = None  # made again from the settings, as a restarted daemon would
        clock.advance(hours=1)  # past the retry backoff of the waiting alerts
        assert monitor() == [("disk", "clear")]
        assert app.observed["smtp_login"] is None
        assert monitor() == [("smtp_login", "clear")]
        assert len(alerts(smtp)) == 4 and all(r.rcpt_tos == [ADMIN] for r in alerts(smtp))
        assert subjects(smtp) == sorted(["【zxjyck 告警】磁盘剩余空间不足", "【zxjyck 告警】发信登录被拒绝（SMTP，授权码可能已失效）",
                                         "【zxjyck 恢复】磁盘剩余空间不足", "【zxjyck 恢复】发信登录被拒绝（SMTP，授权码可能已失效）"])
