"""Sending as smtp.163.com behaves: implicit TLS on a loopback port, 535 with the 授权码 hint,
554 DT:SPM / 550 kept and not retried, 421 / 451 retried with backoff, the send-rate cap,
and copies of sent notices in the IMAP sent folder ("已发送", against Dovecot)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from imapclient import SEEN

from ingest.config import load_settings
from ingest.outbound import outbox_settings
from ingest.workflows.reminders import deliver
from notify.compose import LateReminderContext
from notify.errors import SmtpLoginError
from notify.outbox import enqueue
from notify.transport import SmtpTransport
from store.db import session_scope
from store.models import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT
from tests.conftest import write_config
from tests.outbox_support import as_utc, outbox_rows
from tests.smtp_server import (
    NETEASE_AUTH_FAILED,
    NETEASE_BUSY,
    NETEASE_LOCAL_ERROR,
    NETEASE_NO_PERMISSION,
    NETEASE_SPAM,
    certificate,  # noqa: F401 (fixture)
    running_smtp_server,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, CODE = "zxjyck@163.com", "ABCDEFGHIJKLMNOP"  # a 授权码 is 16 letters


def _config(tmp_path, smtp, *, smtp_extra: str = "", imap: str = "", security: str = "none"):
    extra = (f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "{security}"\nsender = "{USER}"\n'
             f"timeout_seconds = 10\n{smtp_extra}\n{imap}")
    return load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra), environ={})


def _queue(app, n: int, *, start: int = 0) -> None:
    cfg = outbox_settings(app.settings)
    week = date(2020, 2, 17)
    with session_scope(app.engine) as session:
        for i in range(start, start + n):
            context = LateReminderContext(city="广州市", week_start=week, week_end=week + timedelta(days=6),
                                          deadline=datetime(2020, 2, 24, 8, tzinfo=UTC), submit_address=USER)
            enqueue(session, cfg, kind="late_reminder", context=context, to=[f"city{i:03d}@example.gov.cn"],
                    dedupe_key=f"test:{i}", now=app.now())


# --------------------------------------------------------------------------- login


def test_implicit_tls_login_with_the_authorization_code(certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE)) as smtp:
        transport = SmtpTransport(smtp.host, smtp.port, security="tls", username=USER, password=CODE,
                                  ca_file=certificate.cert_file)
        assert transport.verify()
        assert smtp.authenticator.attempts == [USER]
        assert smtp.handler.received == []  # verify sends nothing


def test_a_535_login_failure_says_to_use_the_authorization_code_in_one_line(certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE),
                             auth_failure_reply=NETEASE_AUTH_FAILED) as smtp:
        transport = SmtpTransport(smtp.host, smtp.port, security="tls", username=USER, password="web-password",
                                  ca_file=certificate.cert_file)
        with pytest.raises(SmtpLoginError) as caught:
            transport.verify()
    text = str(caught.value)
    assert "535 Error: authentication failed" in text and "授权码" in text and "\n" not in text
    assert "web-password" not in text


def test_a_535_while_delivering_keeps_the_notice_queued_with_the_hint(tmp_path, make_app):
    with running_smtp_server(auth=(USER, CODE), auth_failure_reply=NETEASE_AUTH_FAILED) as smtp:
        app = make_app(_config(tmp_path, smtp, smtp_extra=f'username = "{USER}"\npassword = "wrong"'))
        _queue(app, 2)
        report = deliver(app)
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    first, second = outbox_rows(app)
    assert first.status == OUTBOX_PENDING and "授权码" in first.reason and second.attempts == 0


# --------------------------------------------------------------------------- NetEase's refusals


@pytest.mark.parametrize(("hook", "reply"), [("data_reply", NETEASE_SPAM), ("mail_reply", NETEASE_NO_PERMISSION)])
def test_permanent_refusals_fail_with_their_text_and_are_not_retried(tmp_path, make_app, clock, hook, reply):
    with running_smtp_server() as smtp:
        setattr(smtp.handler, hook, reply)
        app = make_app(_config(tmp_path, smtp))
        _queue(app, 1)
        assert deliver(app).failed == 1
        clock.advance(hours=5)
        setattr(smtp.handler, hook, None)
        assert deliver(app).sent == 0  # never tried again, even once the server would take it
    [row] = outbox_rows(app)
    assert row.status == OUTBOX_FAILED and row.attempts == 1
    assert reply.split(" ", 1)[1][:40] in row.reason, row.reason  # the server's words kept


@pytest.mark.parametrize("reply", [NETEASE_BUSY, NETEASE_LOCAL_ERROR])
def test_421_and_451_are_retried_with_backoff_then_sent(tmp_path, make_app, clock, reply):
    with running_smtp_server() as smtp:
        smtp.handler.data_reply = reply
        app = make_app(_config(tmp_path, smtp))
        _queue(app, 1)
        assert deliver(app).retried == 1
        [row] = outbox_rows(app)
        assert row.status == OUTBOX_PENDING and as_utc(row.next_attempt_at) == app.now() + timedelta(minutes=2)
        assert reply[4:] in row.reason
        clock.advance(minutes=1)
        assert deliver(app).sent == 0  # not due yet
        clock.advance(minutes=1, seconds=1)
        smtp.handler.data_reply = None
        assert deliver(app).sent == 1
        assert len(smtp.handler.received) == 1
    [row] = outbox_rows(app)
    assert row.status == OUTBOX_SENT and row.attempts == 2


# --------------------------------------------------------------------------- the send-rate cap


def test_a_burst_is_spread_by_max_per_minute_and_drains_in_order(tmp_path, make_app, clock):
    with running_smtp_server() as smtp:
        app = make_app(_config(tmp_path, smtp, smtp_extra="max_per_minute = 4"))
        _queue(app, 10)
        first = deliver(app)
        assert (first.sent, first.deferred) == (4, True)
        assert deliver(app).sent == 0  # the same minute: nothing more
        clock.advance(seconds=61)
        assert deliver(app).sent == 4
        clock.advance(seconds=61)
        last = deliver(app)
        assert (last.sent, last.deferred) == (2, False)
        order = [r.rcpt_tos[0] for r in smtp.handler.received]
    assert order == [f"city{i:03d}@example.gov.cn" for i in range(10)]
    assert {r.status for r in outbox_rows(app)} == {OUTBOX_SENT}


def test_the_default_cap_is_conservative(tmp_path):
    with running_smtp_server() as smtp:
        settings = _config(tmp_path, smtp)
    assert 1 <= settings.smtp.max_per_minute <= 20


# --------------------------------------------------------------------------- sent copies (Dovecot)


def _imap_section(account, **more: str) -> str:
    lines = ['host = "127.0.0.1"', f"port = {account.port}", 'security = "none"',
             f'username = "{account.username}"', f'password = "{account.password}"',
             *(f'{k} = "{v}"' for k, v in more.items())]
    return "[imap]\n" + "\n".join(lines) + "\n"


def test_every_sent_notice_is_appended_once_to_the_sent_folder_seen(tmp_path, make_app, clock, imap_account):
    with running_smtp_server() as smtp:
        app = make_app(_config(tmp_path, smtp, imap=_imap_section(imap_account, sent_folder="已发送")))
        _queue(app, 3)
        smtp.handler.data_reply = NETEASE_BUSY  # not accepted: no copy
        deliver(app)
        assert imap_account.count("已发送") == 0
        smtp.handler.data_reply = None
        clock.advance(minutes=3)
        report = deliver(app)
        assert (report.sent, report.copies_saved) == (3, 3)
        clock.advance(hours=1)
        deliver(app)
    bodies = imap_account.bodies("已发送")
    assert len(bodies) == 3
    ids = sorted(r.message_id for r in outbox_rows(app))
    assert sorted(b.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode() for b in bodies.values()) == ids
    assert all(SEEN in flags for flags in imap_account.flags("已发送").values())
    assert {r.sent_copy for r in outbox_rows(app)} == {"saved 已发送"}


def test_a_failed_append_never_resends_the_mail(tmp_path, make_app, clock, imap_account):
    with running_smtp_server() as smtp:
        imap = _imap_section(imap_account, sent_folder="已发送").replace(
            f'password = "{imap_account.password}"', 'password = "wrong"')
        app = make_app(_config(tmp_path, smtp, imap=imap))
        _queue(app, 2)
        report = deliver(app)
        assert (report.sent, report.copies_failed) == (2, 2)
        clock.advance(hours=5)
        deliver(app)
        assert len(smtp.handler.received) == 2
    rows = outbox_rows(app)
    assert {r.status for r in rows} == {OUTBOX_SENT}
    assert all(r.sent_copy.startswith("failed: ") and "login" in r.sent_copy.lower() for r in rows)
    assert imap_account.count("已发送") == 0


# --------------------------------------------------------------------------- a sender killed mid-send


def test_a_notice_claimed_by_a_killed_sender_is_due_again_at_once(tmp_path, make_app):
    import os
    import socket
    import subprocess
    import sys

    from notify.outbox import claim_next

    with running_smtp_server() as smtp:
        app = make_app(_config(tmp_path, smtp))
        _queue(app, 2)
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        assert claim_next(app.engine, app.now(), f"{socket.gethostname()}:{child.pid}") is not None  # then killed
        assert claim_next(app.engine, app.now(), f"{socket.gethostname()}:{os.getppid()}") is not None  # alive
        report = deliver(app)
        assert report.sent == 1  # the dead one's notice, not the live sender's
        [got] = smtp.handler.received
    first, second = outbox_rows(app)
    assert got.rcpt_tos == first.to and first.status == OUTBOX_SENT and first.claimed_by is None
    assert second.status == OUTBOX_PENDING and second.claimed_by.endswith(f":{os.getppid()}")


def test_answers_to_senders_go_out_before_bulk_notices_under_the_cap(tmp_path, make_app, clock):
    """15 late reminders and a digest are queued when a city's report comes in: under a cap of 10 a minute,
    the city's receipt leaves in the first round, and the reminders take what the cap leaves, in order."""
    from notify.compose import WeeklyReceiptContext

    with running_smtp_server() as smtp:
        app = make_app(_config(tmp_path, smtp, smtp_extra="max_per_minute = 10"))
        _queue(app, 15)
        week = date(2020, 2, 17)
        with session_scope(app.engine) as session:
            receipt = WeeklyReceiptContext(city="深圳市", week_start=week, week_end=week + timedelta(days=6),
                                           received_at=app.now(), enterprise_count=2, total_headcount=450)
            enqueue(session, outbox_settings(app.settings), kind="receipt", context=receipt,
                    to=["szrsj@example.gov.cn"], dedupe_key="receipt:test", now=app.now())
        first = deliver(app)
        assert (first.sent, first.deferred) == (10, True)
        order = [r.rcpt_tos[0] for r in smtp.handler.received]
        assert order[0] == "szrsj@example.gov.cn"
        assert order[1:] == [f"city{i:03d}@example.gov.cn" for i in range(9)]
        clock.advance(seconds=61)
        assert deliver(app).sent == 6
    assert {r.status for r in outbox_rows(app)} == {OUTBOX_SENT}
