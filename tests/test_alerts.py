"""Alerts to the administrators and health that reflects now, on both stores, with an injected clock.

Each condition starts an incident mailed once, clears it mailed once, and a restart in between (a new App and
Monitor on the same store) mails nothing again. The daemon and `zxjyck status --alert` as real processes:
tests/test_alerts_live.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from ingest.config import AlertsSettings, ConfigError, load_settings
from ingest.runtime.alerts import OCR_FAILURES, Monitor, watchdog
from ingest.runtime.health import health
from ingest.workflows import staff as actions
from notify.transport import MemoryTransport
from parsers.sandbox import SandboxStats
from store import alerts as incidents
from store.db import session_scope
from store.models import AlertState, AuditEntry, Outbox, PollRun
from tests.conftest import write_config

ADMIN = "admin@example.org"
ALERTS = f'[alerts]\nto = ["{ADMIN}"]\nmin_free_mb = 0\n'


@pytest.fixture
def settings(tmp_path: Path, store_url: str):
    return load_settings(write_config(tmp_path, store_url, extra=ALERTS), environ={})


@pytest.fixture
def app(settings, make_app):
    app = make_app(settings)
    app.transport = MemoryTransport()
    return app


def alert_rows(app) -> list[Outbox]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "alert").order_by(Outbox.id)))


def mails(app) -> list[tuple[str, str]]:
    """(To, Subject) of every alert the transport was given."""
    return [(str(m["To"]), str(m["Subject"])) for m in app.transport.sent if "zxjyck" in str(m["Subject"])]


def good_poll(app, at) -> None:
    with session_scope(app.engine) as session:
        session.add(PollRun(source="maildir:test", started_at=at, finished_at=at, ok=True, trigger="daemon"))


def failed_notice(app, *, bounced: bool = False) -> int:
    with session_scope(app.engine) as session:
        row = Outbox(dedupe_key=f"receipt:test-{bounced}", kind="receipt", to=["someone@example.org"], subject="回执",
                     message_id=f"<t-{bounced}@163.com>", raw="", status="failed", reason="554 拒收", attempts=8,
                     created_at=app.now(), bounced=bounced)
        session.add(row)
        session.flush()
        return row.id


def test_a_condition_is_mailed_once_when_it_starts_and_once_when_it_clears_across_restarts(app, make_app, clock):
    app.settings = replace(app.settings, alerts=AlertsSettings(to=[ADMIN], min_free_mb=10**9))
    monitor = Monitor(app, clock())
    good_poll(app, clock())
    assert ("disk", "start") in monitor()
    assert monitor() == []  # still low: nothing new
    [start] = [r for r in alert_rows(app) if ":disk:" in r.dedupe_key]
    assert start.status == "sent" and start.to == [ADMIN] and start.dedupe_key.endswith(":start")
    assert [to for to, subject in mails(app)] == [ADMIN]
    assert "告警" in mails(app)[0][1] and "磁盘" in mails(app)[0][1]

    restarted = make_app(replace(app.settings))  # a new process on the same store: the incident is known
    restarted.transport = MemoryTransport()
    clock.advance(minutes=5)
    assert Monitor(restarted, clock())() == []
    assert restarted.transport.sent == []

    restarted.settings = replace(restarted.settings, alerts=AlertsSettings(to=[ADMIN], min_free_mb=0))
    clock.advance(minutes=5)
    good_poll(restarted, clock())
    assert Monitor(restarted, clock())() == [("disk", "clear")]
    [(to, subject)] = mails(restarted)
    assert to == ADMIN and "恢复" in subject
    assert Monitor(restarted, clock())() == []
    assert len(alert_rows(app)) == 2
    with session_scope(app.engine) as session:
        row = session.get(AlertState, "disk")
        assert row.mailed_start and row.mailed_clear and row.cleared_at - row.started_at == timedelta(minutes=10)


def test_no_successful_poll_for_stalled_minutes_starts_an_incident_and_a_good_poll_ends_it(app, clock) -> None:
    app.settings = replace(app.settings, alerts=AlertsSettings(to=[ADMIN], stalled_minutes=30, min_free_mb=0))
    monitor = Monitor(app, clock())
    good_poll(app, clock())
    clock.advance(minutes=29)
    assert monitor() == []
    clock.advance(minutes=2)
    assert monitor() == [("stalled", "start")]
    good_poll(app, clock())
    assert monitor() == [("stalled", "clear")]
    assert [s for _, s in mails(app)] == ["【zxjyck 告警】长时间没有成功收取邮件", "【zxjyck 恢复】长时间没有成功收取邮件"]


def test_login_refusals_follow_what_the_process_saw_and_unknown_changes_nothing(app, clock) -> None:
    monitor = Monitor(app, clock())
    good_poll(app, clock())
    app.observed["imap_login"] = "IMAP login refused for zxjyck@163.com@imap.163.com: [AUTHENTICATIONFAILED]"
    app.observed["smtp_login"] = "SMTP refused the login of zxjyck@163.com: 535 Error: authentication failed"
    assert sorted(monitor()) == [("imap_login", "start"), ("smtp_login", "start")]
    app.observed.clear()  # a restarted process has not tried yet: the incidents stay open, nothing is mailed
    assert monitor() == []
    app.observed["imap_login"] = None
    assert monitor() == [("imap_login", "clear")]
    with session_scope(app.engine) as session:
        assert [r.key for r in incidents.open_incidents(session)] == ["smtp_login"]
    # the smtp_login alert itself cannot go out while the login is refused: MemoryTransport stands for a
    # server that takes it once the password is fixed; every alert went to the administrators only
    assert {to for to, _ in mails(app)} == {ADMIN}


def test_the_ocr_worker_failing_again_and_again_is_an_incident(app, clock) -> None:
    class Analyzer:
        stats = SandboxStats(scans=5, ocr_failures_in_row=OCR_FAILURES - 1)

    app.analyzer = Analyzer()
    monitor = Monitor(app, clock())
    good_poll(app, clock())
    assert monitor() == []
    Analyzer.stats.ocr_failures_in_row = OCR_FAILURES
    assert monitor() == [("ocr", "start")]
    Analyzer.stats.ocr_failures_in_row = 0
    assert monitor() == [("ocr", "clear")]


def test_health_counts_notices_failing_now_not_bounces_and_not_dismissed_ones(app, clock) -> None:
    bounced = failed_notice(app, bounced=True)
    found = health(app)
    assert found.healthy and found.unresolved == 1 and not found.checks["notices"]
    failed = failed_notice(app)
    found = health(app)
    assert not found.healthy and found.notices_failing == 1 and found.checks["notices"]
    monitor = Monitor(app, clock())
    good_poll(app, clock())
    assert monitor() == [("notices", "start")]

    actions.dismiss_notice(app, "clerk", failed, "已电话告知")
    with pytest.raises(actions.NotAllowed):
        actions.dismiss_notice(app, "clerk", failed)
    found = health(app)
    assert found.healthy and found.unresolved == 1
    assert monitor() == [("notices", "clear")]
    actions.dismiss_notice(app, "clerk", bounced)
    assert health(app).unresolved == 0
    assert actions.list_notice_problems(app) == []
    with session_scope(app.engine) as session:
        entries = list(session.exec(select(AuditEntry).where(AuditEntry.action == "dismiss")))
        assert [e.actor for e in entries] == ["clerk", "clerk"] and "已电话告知" in entries[0].detail
        assert session.get(Outbox, failed).dismissed_by == "clerk"
    # a resend makes a dismissed notice pending again, no longer dismissed
    actions.resend_notice(app, "root", failed)
    with session_scope(app.engine) as session:
        row = session.get(Outbox, failed)
        assert (row.status, row.dismissed_at) == ("pending", None)
    with pytest.raises(actions.NotAllowed):
        actions.dismiss_notice(app, "clerk", failed)  # pending: nothing to dismiss


def test_the_watchdog_mails_a_stopped_daemon_once_and_its_return_once(app, make_app, clock) -> None:
    monitor = Monitor(app, clock())
    monitor()  # the daemon beats
    first = watchdog(app)
    assert not first.stale and first.changes == [] and first.sent == 0
    clock.advance(seconds=16)  # no [imap]: a 5 s poll interval, stale after three
    second = watchdog(app)
    assert second.stale and second.changes == [("daemon", "start")] and second.sent == 1
    assert not second.health.healthy and second.health.checks["daemon"]
    [row] = [r for r in alert_rows(app) if ":daemon:" in r.dedupe_key]
    assert row.status == "sent" and row.to == [ADMIN]
    [(to, subject)] = mails(app)
    assert to == ADMIN and subject == "【zxjyck 告警】常驻服务（zxjyck run）已停止：没有心跳"
    clock.advance(minutes=5)
    assert watchdog(app).changes == [] and len(app.transport.sent) == 1  # the next timer run: nothing again

    Monitor(app, clock())()  # the daemon is back
    back = watchdog(app)
    assert not back.stale and back.changes == [("daemon", "clear")] and back.sent == 1
    assert str(app.transport.sent[-1]["Subject"]) == "【zxjyck 恢复】常驻服务（zxjyck run）已停止：没有心跳"


def test_an_alert_the_server_refuses_stays_queued_for_the_next_timer_run(app, clock) -> None:
    from notify.errors import SmtpLoginError

    Monitor(app, clock())()
    clock.advance(minutes=1)
    app.transport = MemoryTransport(fail_with=[SmtpLoginError("535 Error: authentication failed")])
    result = watchdog(app)
    assert result.stale and result.sent == 0 and "535" in result.unsent[0]
    clock.advance(minutes=5)
    again = watchdog(app)
    assert again.sent == 1 and again.changes == []


def test_without_alert_addresses_nothing_is_mailed_but_incidents_are_kept(tmp_path: Path, make_app, clock) -> None:
    app = make_app(load_settings(write_config(tmp_path, "sqlite:///var/z.db",
                                              extra="[alerts]\nmin_free_mb = 999999999\n"), environ={}))
    app.transport = MemoryTransport()
    assert ("disk", "start") in Monitor(app, clock())()
    assert alert_rows(app) == [] and app.transport.sent == []
    assert not health(app).healthy and health(app).checks["disk"]


@pytest.mark.parametrize(("section", "message"), [
    ("[alerts]\nstalled_minutes = 0\n", "alerts.stalled_minutes"),
    ("[alerts]\nto = [\"not an address\"]\n", "alerts.to"),
    ("[alerts]\nmin_free_mb = -1\n", "alerts.min_free_mb"),
    ("[web]\nmetrics_allow = [\"10.0.0.0/33\"]\n", "web.metrics_allow"),
    ("[log]\nformat = \"xml\"\n", "log.format"),
])
def test_monitoring_settings_are_validated(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(write_config(tmp_path, "sqlite:///var/z.db", extra=section), environ={})
