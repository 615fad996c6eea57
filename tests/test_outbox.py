"""The outbox end to end: sample mail through the real pipeline, out over SMTP to aiosmtpd on 127.0.0.1.

The service builds its transport from the configuration (``notify.outbox.build_transport``):
an ``[smtp]`` section pointing at the test listener, or none at all (``.eml`` files).
Nothing here injects a ``MemoryTransport``.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from ingest.app import App, open_app
from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outbound import transport_settings
from ingest.outputs.digest import build_digest
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.workflows.reminders import ReminderError, deliver, queue_reminders, send_reminders
from ingest.workflows.staff import replay
from notify.compose import DigestOutboxRow, staff_text
from notify.outbox import CLAIM_LEASE, DeliveryReport, build_transport, mark_bounced
from notify.transport import FileTransport, SmtpTransport
from parsers.bounce import parse_bounce
from store.db import session_scope
from store.models import Message
from tests.outbox_support import (
    APPLICATION,
    MAIL,
    OUR_ADDRESS,
    PROCESSED_AT,
    WEEKLY,
    DeliversFromAnotherProcessMidSend,
    DiesAfterTheServerAccepts,
    ProcessDied,
    as_utc,
    bodies,
    dsn_for,
    ingest,
    outbox_config,
    outbox_rows,
    received_by,
    sample,
    variant,
)
from tests.smtp_server import SmtpServer, free_port, make_certificate, running_smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def service(tmp_path: Path, store_url: str, make_app, clock, smtp: SmtpServer) -> Callable[..., App]:
    """Open the service on the test config (as many times as a test needs: one per "process")."""
    clock.value = PROCESSED_AT

    def open_service(notify: str = "", port: int | None = None, **smtp_settings: str) -> App:
        cfg = outbox_config(tmp_path, store_url, smtp_port=port or smtp.port, notify=notify, **smtp_settings)
        app = make_app(load_settings(cfg, environ={}))
        app.analyzer = InProcessAnalyzer()
        return app

    return open_service


# --------------------------------------------------------------------------- 1. what arrives


def test_notices_arrive_over_smtp_threaded_marked_and_in_both_parts(service, smtp, tmp_path) -> None:
    app = service()
    weekly = variant("01-guangzhou-weekly.eml", References="<root@example.gov.cn> <prev@example.gov.cn>")
    mails = {"gz.eml": weekly, **sample("03-zhuhai-weekly-bad-row.eml", "06-application-missing-items.eml")}
    doc = ingest(app, tmp_path / "in", mails)
    rows = {o["to"][0]: o for o in doc["outbox"]}
    assert {k: (o["kind"], o["status"]) for k, o in rows.items()} == {
        "gzrsj@example.gov.cn": ("receipt", "sent"),
        "zhrsj@example.gov.cn": ("correction_request", "sent"),
        "apply@nyzp.example.com": ("missing_items", "sent"),
    }
    assert sorted((r.mail_from, r.rcpt_tos) for r in smtp.handler.received) == [
        (OUR_ADDRESS, ["apply@nyzp.example.com"]),
        (OUR_ADDRESS, ["gzrsj@example.gov.cn"]),
        (OUR_ADDRESS, ["zhrsj@example.gov.cn"]),
    ]
    got = received_by(smtp)
    gz = got["gzrsj@example.gov.cn"]
    assert gz["From"].addresses[0].addr_spec == OUR_ADDRESS
    assert gz["From"].addresses[0].display_name == "广东省职业训练局"
    assert str(gz["To"]) == "gzrsj@example.gov.cn"
    assert str(gz["Subject"]) == "回执：广州市 2020年2月17日—2月23日 周报已收到"
    assert gz["Message-ID"] == rows["gzrsj@example.gov.cn"]["message_id"]
    assert gz["Message-ID"].endswith("@163.com>") and gz["Message-ID"].startswith("<")
    assert gz["In-Reply-To"] == "<gz-0224@example.gov.cn>"
    assert gz["References"].split() == ["<root@example.gov.cn>", "<prev@example.gov.cn>", "<gz-0224@example.gov.cn>"]
    assert gz["Auto-Submitted"] == "auto-replied"
    assert parsedate_to_datetime(gz["Date"]) == PROCESSED_AT
    assert gz.get_content_type() == "multipart/alternative"
    assert [(part.get_content_type(), part.get_content_charset()) for part in gz.iter_parts()] == [
        ("text/plain", "utf-8"),
        ("text/html", "utf-8"),
    ]
    text, html = bodies(gz)
    for body in (text, html):
        assert "广州市人力资源社会保障局" in body
        assert "2020年2月17日—2月23日" in body
        assert "广东省职业训练局" in body
    assert "备案人数合计245人" in text
    assert re.search(r"<th[^>]*>备案人数合计</th><td[^>]*>245人</td>", html)
    assert html.lstrip().startswith("<!DOCTYPE html>") and "<html" not in text
    zh_text, zh_html = bodies(got["zhrsj@example.gov.cn"])
    assert got["zhrsj@example.gov.cn"]["In-Reply-To"] == "<zh-0224@example.gov.cn>"
    assert "第5行" in zh_text and "备案人数" in zh_text and "第5行" in zh_html
    nyzp = got["apply@nyzp.example.com"]
    assert nyzp["In-Reply-To"] == "<app-2@nyzp.example.com>" and nyzp["Auto-Submitted"] == "auto-replied"
    assert "校验位" in bodies(nyzp)[0] and "平台建设材料" in bodies(nyzp)[0]
    assert len({m["Message-ID"] for m in got.values()}) == 3


def test_a_long_thread_keeps_its_root_and_the_latest_references(service, smtp, tmp_path) -> None:
    app = service()
    thread = [f"<t{n}@example.gov.cn>" for n in range(30)]
    ingest(app, tmp_path / "in", {"gz.eml": variant(WEEKLY, References=" ".join(thread))})
    [got] = smtp.handler.received
    references = got.message["References"].split()
    assert references == [thread[0], *thread[-18:], "<gz-0224@example.gov.cn>"]
    assert got.message["In-Reply-To"] == "<gz-0224@example.gov.cn>"


def test_reminders_are_auto_generated_and_thread_nothing(service, smtp, tmp_path) -> None:
    app = service()
    ingest(app, tmp_path / "in", sample("01-guangzhou-weekly.eml"))
    result = send_reminders(app, date(2020, 2, 17))
    assert sorted(result.queued) == ["深圳市", "珠海市"] and result.reported == ["广州市"]
    reminders = smtp.handler.received[1:]
    assert sorted(r.rcpt_tos for r in reminders) == [
        ["szrsj@example.gov.cn", "sz-backup@example.gov.cn"],
        ["zhrsj@example.gov.cn"],
    ]
    sz = received_by(smtp)["szrsj@example.gov.cn"]
    assert sz["Auto-Submitted"] == "auto-generated"
    assert sz["In-Reply-To"] is None and sz["References"] is None
    assert sz["Message-ID"].endswith("@163.com>")
    assert str(sz["Subject"]) == "催报提醒：深圳市 2020年2月17日—2月23日 周报尚未收到"
    assert [a.addr_spec for a in sz["To"].addresses] == ["szrsj@example.gov.cn", "sz-backup@example.gov.cn"]
    text, html = bodies(sz)
    assert "深圳市人力资源社会保障局" in text and "尚未收到" in text and "尚未收到" in html
    assert OUR_ADDRESS in text


# --------------------------------------------------------------------------- 2. loop rules

NO_NOTICE = None  # the message is not a kind that is answered at all: no outbox row

LOOP_CASES = [
    # (case, sample, headers to set, kind it is stored as, reason of the suppressed row or NO_NOTICE)
    ("mailer-daemon sender", APPLICATION, {"From": "MAILER-DAEMON@mx.ydt-edu.example.com"}, "bounce", NO_NOTICE),
    ("postmaster sender", APPLICATION, {"From": "postmaster@ydt-edu.example.com"}, "bounce", NO_NOTICE),
    ("noreply sender", APPLICATION, {"From": "noreply@ydt-edu.example.com"}, "application",
     "发件人 noreply@ydt-edu.example.com 为系统或不接收回复的地址"),
    ("no-reply sender with a name", APPLICATION, {"From": "平台 <no-reply@ydt-edu.example.com>"}, "application",
     "发件人 no-reply@ydt-edu.example.com 为系统或不接收回复的地址"),
    ("our own address", APPLICATION, {"From": OUR_ADDRESS}, "application",
     "发件人 zxjyck@163.com 是本系统自己的地址"),
    ("our own address in capitals", APPLICATION, {"From": "职训局 <ZXJYCK@163.com>"}, "application",
     "是本系统自己的地址"),
    ("Precedence: bulk", APPLICATION, {"Precedence": "bulk"}, "application", "Precedence: bulk"),
    ("Precedence: list", APPLICATION, {"Precedence": "list"}, "application", "Precedence: list"),
    ("Precedence: junk on a weekly report", WEEKLY, {"Precedence": "junk"}, "weekly_report", "Precedence: junk"),
    ("List-Id", APPLICATION, {"List-Id": "<platforms.example.com>"}, "application", "List-Id"),
    ("List-Unsubscribe on a weekly report", WEEKLY, {"List-Unsubscribe": "<mailto:u@example.gov.cn>"},
     "weekly_report", "List-Unsubscribe"),
    ("Auto-Submitted: auto-replied", APPLICATION, {"Auto-Submitted": "auto-replied"}, "auto_reply", NO_NOTICE),
    ("Auto-Submitted: auto-generated", WEEKLY, {"Auto-Submitted": "auto-generated"}, "weekly_report",
     "Auto-Submitted: auto-generated"),
    ("null Return-Path", APPLICATION, {"Return-Path": "<>"}, "application", "Return-Path 为空"),
    ("X-Loop with our address", WEEKLY, {"X-Loop": OUR_ADDRESS}, "weekly_report", "X-Loop"),
]


def _set_headers(name: str, headers: dict[str, str]) -> bytes:
    msg = email.message_from_bytes(variant(name, message_id="<loop-case@example.org>"), policy=email.policy.default)
    for header, value in headers.items():
        del msg[header]
        msg[header] = value
    return msg.as_bytes()


@pytest.mark.parametrize(("case", "name", "headers", "kind", "reason"), LOOP_CASES, ids=[c[0] for c in LOOP_CASES])
def test_loop_rules_send_nothing(service, smtp, tmp_path, case, name, headers, kind, reason) -> None:
    app = service()
    doc = ingest(app, tmp_path / "in", {"m.eml": _set_headers(name, headers)})
    [message] = doc["messages"]
    assert message["kind"] == kind
    assert smtp.handler.received == []
    if reason is NO_NOTICE:
        assert doc["outbox"] == []
    else:
        [row] = doc["outbox"]
        assert row["status"] == "suppressed" and row["attempts"] == 0
        assert row["reason"].startswith("不自动回复：") and reason in row["reason"]


def test_the_same_mail_without_a_loop_marker_is_answered(service, smtp, tmp_path) -> None:
    """The control for the table above: the samples it alters do get their notice."""
    app = service()
    doc = ingest(app, tmp_path / "in", {"a.eml": _set_headers(APPLICATION, {}),
                                        "w.eml": variant(WEEKLY, message_id="<w@example.gov.cn>")})
    assert sorted((o["kind"], o["status"]) for o in doc["outbox"]) == [("receipt", "sent"), ("receipt", "sent")]
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == ["apply@ydt-edu.example.com",
                                                                    "gzrsj@example.gov.cn"]


def test_robots_questions_and_foreign_bounces_get_no_row_and_no_mail(service, smtp, tmp_path) -> None:
    app = service()
    foreign_dsn = dsn_for("<not-ours@elsewhere.example>", "gzrsj@example.gov.cn", "5.1.1", "failed")
    doc = ingest(app, tmp_path / "in", {**sample("07-auto-reply.eml", "08-question.eml"), "dsn.eml": foreign_dsn})
    assert sorted(m["kind"] for m in doc["messages"]) == ["auto_reply", "bounce", "other"]
    assert doc["outbox"] == []
    assert smtp.handler.received == []


EMPTY_SENDER = "不自动回复：发件人地址为空或无效“（空）”"
UNUSABLE_SENDERS = [
    # (case, change to the sample, From as stored, row status, row reason)
    ("no From header", {"drop": ("From",)}, "", "suppressed", EMPTY_SENDER),
    ("From without an address", {"From": "not an address"}, "", "suppressed", EMPTY_SENDER),
    ("From with a non-ASCII local part", {"From": "用户@例子.中国"}, "用户@例子.中国", "failed",
     "收件人地址无效，无法发送 / unusable recipient address: not a usable e-mail address: '用户@例子.中国': "
     "local-part contains non-ASCII characters)"),
]


@pytest.mark.parametrize(("case", "change", "sender", "status", "reason"), UNUSABLE_SENDERS,
                         ids=[c[0] for c in UNUSABLE_SENDERS])
def test_an_unusable_sender_address_is_recorded_not_a_processing_failure(
    service, smtp, tmp_path, case, change, sender, status, reason
) -> None:
    """Before, composing the notice raised InvalidAddressError inside the processing transaction:
    the message was marked failed and its application material was lost."""
    app = service()
    doc = ingest(app, tmp_path / "in", {"m.eml": variant(APPLICATION, message_id="<u@ydt-edu.example.com>", **change)})
    [message] = doc["messages"]
    assert (message["kind"], message["status"], message["from"]) == ("application", "processed", sender)
    [application] = doc["applications"]
    assert application["complete"] is True  # the material was kept
    [row] = doc["outbox"]
    assert (row["status"], row["attempts"], row["reason"]) == (status, 0, reason)
    assert smtp.handler.received == []
    deliver(app)
    assert smtp.handler.received == []


def _weekly_from_guangzhou(n: int, when: datetime) -> bytes:
    return variant(WEEKLY, message_id=f"<gz-{n}@example.gov.cn>", date=when)


def test_at_most_n_notices_per_sender_per_day(service, smtp, tmp_path, clock) -> None:
    app = service(notify="max_per_sender_per_day = 2")
    base = datetime(2020, 2, 24, 2, 0, tzinfo=UTC)
    mails = {f"gz{n}.eml": _weekly_from_guangzhou(n, base + timedelta(minutes=n)) for n in range(3)}
    mails["sz.eml"] = sample("02-shenzhen-weekly-late.eml")["02-shenzhen-weekly-late.eml"]
    doc = ingest(app, tmp_path / "day1", mails)
    by_about = {o["about_message_id"]: o for o in doc["outbox"]}
    assert [by_about[f"<gz-{n}@example.gov.cn>"]["status"] for n in range(3)] == ["sent", "sent", "suppressed"]
    assert by_about["<gz-2@example.gov.cn>"]["reason"] == (
        "不自动回复：今天已向 gzrsj@example.gov.cn 自动发送 2 封，达到每日上限 2 封")
    assert by_about["<sz-0224@example.gov.cn>"]["status"] == "sent"  # another sender is not limited
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == [
        "gzrsj@example.gov.cn", "gzrsj@example.gov.cn", "szrsj@example.gov.cn"]
    clock.advance(days=1, minutes=1)
    doc = ingest(app, tmp_path / "day2", {"gz3.eml": _weekly_from_guangzhou(3, clock.value - timedelta(hours=1))})
    assert next(o for o in doc["outbox"] if o["about_message_id"] == "<gz-3@example.gov.cn>")["status"] == "sent"
    assert len(smtp.handler.received) == 4


@pytest.mark.parametrize(("age", "status"), [(timedelta(days=6, hours=23), "sent"),
                                             (timedelta(days=7, hours=1), "suppressed")])
def test_reply_window(service, smtp, tmp_path, clock, age, status) -> None:
    received = datetime(2020, 2, 24, 2, 2, 20, tzinfo=UTC)  # the sample's Received stamp, 10:02:20 +0800
    clock.value = received + age
    app = service()
    [row] = ingest(app, tmp_path / "in", sample(WEEKLY))["outbox"]
    assert row["status"] == status
    assert len(smtp.handler.received) == (status == "sent")
    if status == "suppressed":
        assert row["reason"] == "不自动回复：邮件收于 2020-02-24 02:02 +0000，已超过 7 天的自动回复期限"


def test_a_first_run_over_an_old_mailbox_sends_nothing(service, smtp, tmp_path, clock) -> None:
    clock.value = datetime(2021, 1, 4, 2, 0, tzinfo=UTC)
    app = service()
    doc = ingest(app, tmp_path / "in", sample(*sorted(p.name for p in MAIL.glob("*.eml"))))
    assert len(doc["messages"]) == 8
    assert doc["outbox"] and {o["status"] for o in doc["outbox"]} == {"suppressed"}
    assert all("已超过 7 天" in o["reason"] for o in doc["outbox"])
    assert smtp.handler.received == []


# --------------------------------------------------------------------------- 3. dedupe: replay and crashes


def test_replay_sends_nothing_again(service, smtp, tmp_path) -> None:
    app = service()
    doc = ingest(app, tmp_path / "in", sample(WEEKLY, APPLICATION))
    ids = [m["id"] for m in doc["messages"]]
    assert len(smtp.handler.received) == 2
    for _ in range(2):
        assert set(replay(app, ids).values()) == {"processed"}
        deliver(app)
    doc = export_state(app.engine)
    assert sorted((o["kind"], o["status"]) for o in doc["outbox"]) == [("receipt", "sent"), ("receipt", "sent")]
    assert len(smtp.handler.received) == 2


def test_a_second_copy_of_the_same_mail_gets_no_second_notice(service, smtp, tmp_path) -> None:
    """A relay that adds a Received line makes other bytes (another sha256, another dedupe key)
    for the same Message-ID: the sender still gets one receipt."""
    app = service()
    raw = (MAIL / WEEKLY).read_bytes()
    ingest(app, tmp_path / "first", {"a.eml": raw})
    relayed = b"Received: from relay2.example by mx.163.com; Mon, 24 Feb 2020 10:02:21 +0800\r\n" + raw
    doc = ingest(app, tmp_path / "second", {"b.eml": relayed})
    assert len(doc["messages"]) == 2
    first, second = doc["outbox"]
    assert (first["status"], second["status"]) == ("sent", "suppressed")
    assert second["reason"] == (
        f"不自动回复：同一封邮件（<gz-0224@example.gov.cn>）的另一份副本已有通知 #{outbox_rows(app)[0].id}，不重复发送")
    assert len(smtp.handler.received) == 1


def test_crash_between_commit_and_send_delivers_once_after_restart(
    service, smtp, tmp_path, monkeypatch
) -> None:
    """Processing committed the message and its outbox row; the process died before delivering."""
    app = service()

    def die(_app):
        raise ProcessDied

    monkeypatch.setattr("ingest.workflows.reminders.deliver", die)
    with pytest.raises(ProcessDied):
        ingest(app, tmp_path / "in", sample(WEEKLY))
    monkeypatch.undo()
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("pending", 0)
    assert smtp.handler.received == []
    restarted = service()
    assert deliver(restarted).sent == 1
    assert deliver(restarted).sent == 0
    replay(restarted, [row.about_message_pk])
    deliver(restarted)
    [row_after] = outbox_rows(restarted)
    assert (row_after.status, row_after.attempts) == ("sent", 1)
    [got] = smtp.handler.received
    assert got.message["Message-ID"] == row.message_id


def test_crash_after_the_server_accepted_sends_the_same_message_again(
    service, smtp, tmp_path, clock, monkeypatch
) -> None:
    """The one duplicate window, documented. ``deliver_due`` claims a notice first (attempt counted,
    leased for ``CLAIM_LEASE``, committed), then talks to the server with no transaction open, then
    marks it sent. If the process dies after the server accepted the message and before it is marked
    sent, the row stays ``pending`` and leased: nobody retries it before the lease runs out (10 min),
    then the next run sends it again. The second copy is byte-for-byte the stored message, with the
    same Message-ID, so clients that thread or deduplicate by Message-ID show it once. The other
    choice (mark sent first, send after) would lose notices instead of repeating one.
    """
    app = service()
    monkeypatch.setattr("ingest.workflows.reminders.deliver", lambda _app: None)
    ingest(app, tmp_path / "in", sample(WEEKLY))
    monkeypatch.undo()
    app.transport = DiesAfterTheServerAccepts(build_transport(transport_settings(app.settings)))
    assert isinstance(app.transport.real, SmtpTransport)
    with pytest.raises(ProcessDied):
        deliver(app)
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, len(smtp.handler.received)) == ("pending", 1, 1)
    assert as_utc(row.next_attempt_at) == PROCESSED_AT + CLAIM_LEASE
    restarted = service()
    assert deliver(restarted) == DeliveryReport()  # leased: not retried at once
    clock.advance(minutes=10)
    assert deliver(restarted) == DeliveryReport(sent=1)
    assert deliver(restarted) == DeliveryReport()
    first, second = smtp.handler.received
    assert first.data == second.data
    assert first.message["Message-ID"] == second.message["Message-ID"] == row.message_id
    [row] = outbox_rows(restarted)
    assert (row.status, row.attempts) == ("sent", 2)


def test_two_processes_never_send_one_notice_twice(service, smtp, tmp_path, monkeypatch) -> None:
    app = service()
    monkeypatch.setattr("ingest.workflows.reminders.deliver", lambda _app: None)
    ingest(app, tmp_path / "in", sample(WEEKLY, "02-shenzhen-weekly-late.eml"))
    monkeypatch.undo()
    other = service()
    app.transport = DeliversFromAnotherProcessMidSend(build_transport(transport_settings(app.settings)), other)
    assert deliver(app) == DeliveryReport(sent=1)
    # while the first process sent notice 1, the other one took notice 2 (and only that)
    assert app.transport.other_reports == [DeliveryReport(sent=1)]
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == ["gzrsj@example.gov.cn", "szrsj@example.gov.cn"]
    assert [(r.status, r.attempts) for r in outbox_rows(app)] == [("sent", 1), ("sent", 1)]


# --------------------------------------------------------------------------- 4. retries and failures


def test_a_4xx_is_retried_after_the_backoff_and_sent_once(service, smtp, tmp_path, clock) -> None:
    app = service()
    smtp.handler.data_reply = "451 4.3.0 Mailbox temporarily unavailable"
    ingest(app, tmp_path / "in", sample(WEEKLY))
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("pending", 1)
    assert as_utc(row.next_attempt_at) == PROCESSED_AT + timedelta(minutes=2)
    assert "451 4.3.0 Mailbox temporarily unavailable" in row.reason
    assert smtp.handler.received == []
    smtp.handler.data_reply = None
    clock.advance(minutes=1)
    assert deliver(app) == DeliveryReport()  # not due yet: no attempt
    assert outbox_rows(app)[0].attempts == 1
    clock.advance(minutes=1)
    assert deliver(app) == DeliveryReport(sent=1)
    assert deliver(app) == DeliveryReport()
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.reason) == ("sent", 2, "")
    assert as_utc(row.sent_at) == PROCESSED_AT + timedelta(minutes=2)
    assert len(smtp.handler.received) == 1


PERMANENT_CASES = [
    ("data", "550 5.7.1 Message rejected as spam"),
    ("rcpt", "550 5.1.1 No such user here"),
    ("mail", "553 5.7.1 Sender address rejected"),
]


@pytest.mark.parametrize(("stage", "answer"), PERMANENT_CASES, ids=[c[0] for c in PERMANENT_CASES])
def test_a_5xx_fails_for_good_with_the_server_text(service, smtp, tmp_path, clock, stage, answer) -> None:
    app = service()
    if stage == "data":
        smtp.handler.data_reply = answer
    elif stage == "rcpt":
        smtp.handler.rcpt_replies["gzrsj@example.gov.cn"] = answer
    else:
        smtp.handler.mail_reply = answer
    ingest(app, tmp_path / "in", sample(WEEKLY))
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.reason.startswith("发送失败 / delivery failed: ") and answer in row.reason
    smtp.handler.data_reply = smtp.handler.mail_reply = None
    smtp.handler.rcpt_replies.clear()
    clock.advance(days=1)
    assert deliver(app) == DeliveryReport()
    assert outbox_rows(app)[0].attempts == 1 and smtp.handler.received == []


def test_a_4xx_is_given_up_after_max_attempts(service, smtp, tmp_path, clock) -> None:
    app = service(notify="max_attempts = 3")
    smtp.handler.data_reply = "452 4.2.2 Mailbox full"
    ingest(app, tmp_path / "in", sample(WEEKLY))
    for minutes, attempts in ((2, 2), (4, 3)):
        clock.advance(minutes=minutes)
        deliver(app)
        assert outbox_rows(app)[0].attempts == attempts
    [row] = outbox_rows(app)
    assert row.status == "failed" and "452 4.2.2 Mailbox full" in row.reason
    clock.advance(days=2)
    assert deliver(app) == DeliveryReport()
    assert outbox_rows(app)[0].attempts == 3 and smtp.handler.received == []


def test_an_unreachable_server_stops_the_round_after_one_try(service, smtp, tmp_path, clock) -> None:
    app = service(port=free_port())  # nothing listens there
    ingest(app, tmp_path / "in", sample(WEEKLY, "02-shenzhen-weekly-late.eml"))
    first, second = outbox_rows(app)
    assert (first.status, first.attempts) == ("pending", 1) and "unreachable" in first.reason
    assert (second.status, second.attempts) == ("pending", 0)  # not tried against the dead server


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_refused_login_keeps_the_notices_and_stops_the_round(service, tmp_path) -> None:
    with running_smtp_server(auth=(OUR_ADDRESS, "the-right-one")) as server:
        app = service(port=server.port, smtp_extra=f'username = "{OUR_ADDRESS}"\npassword = "a-wrong-one"')
        ingest(app, tmp_path / "in", sample(WEEKLY, "02-shenzhen-weekly-late.eml"))
        first, second = outbox_rows(app)
        assert (first.status, first.attempts, second.status, second.attempts) == ("pending", 1, "pending", 0)
        assert "refused the login of zxjyck@163.com: 535" in first.reason
        assert "a-wrong-one" not in first.reason
        assert set(server.authenticator.attempts) == {OUR_ADDRESS} and server.handler.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_login_from_the_config(service, tmp_path, security) -> None:
    """[smtp] security, username, password and ca_file (a self-signed certificate) reach the transport."""
    cert = make_certificate(tmp_path)
    tls = {"implicit_tls" if security == "tls" else "starttls": cert.server_context()}
    with running_smtp_server(auth=(OUR_ADDRESS, "s3cret"), **tls) as server:
        extra = f'username = "{OUR_ADDRESS}"\npassword = "s3cret"\nca_file = "{cert.cert_file}"'
        app = service(port=server.port, security=security, smtp_extra=extra)
        ingest(app, tmp_path / "in", sample(WEEKLY))
        [got] = server.handler.received
    assert (got.login, got.rcpt_tos) == (OUR_ADDRESS, ["gzrsj@example.gov.cn"])
    assert got.message["In-Reply-To"] == "<gz-0224@example.gov.cn>"
    assert outbox_rows(app)[0].status == "sent"


def test_a_4xx_for_one_message_does_not_stop_the_round(service, smtp, tmp_path) -> None:
    app = service()
    smtp.handler.data_reply = "451 4.3.0 Mailbox temporarily unavailable"
    ingest(app, tmp_path / "in", sample(WEEKLY, "02-shenzhen-weekly-late.eml"))
    assert [(r.status, r.attempts) for r in outbox_rows(app)] == [("pending", 1), ("pending", 1)]


def test_a_recipient_refused_among_several_is_recorded_on_the_sent_row(service, smtp, tmp_path) -> None:
    app = service()
    smtp.handler.rcpt_replies["sz-backup@example.gov.cn"] = "550 5.1.1 User unknown"
    send_reminders(app, date(2020, 2, 17))
    sz = next(r for r in outbox_rows(app) if r.to[0] == "szrsj@example.gov.cn")
    assert sz.status == "sent"
    assert sz.reason == "部分收件人被拒收 / refused for some recipients: sz-backup@example.gov.cn: 550 5.1.1 User unknown"
    assert sorted(r.rcpt_tos for r in smtp.handler.received) == [
        ["gzrsj@example.gov.cn"], ["szrsj@example.gov.cn"], ["zhrsj@example.gov.cn"]]
    assert {r.status for r in outbox_rows(app)} == {"sent"}


# --------------------------------------------------------------------------- 5. bounces


def test_a_bounce_marks_its_row_and_shows_in_the_digest(service, smtp, tmp_path, clock) -> None:
    app = service()
    ingest(app, tmp_path / "in", sample(WEEKLY, "02-shenzhen-weekly-late.eml"))
    sent = received_by(smtp)["gzrsj@example.gov.cn"]
    clock.advance(minutes=30)
    doc = ingest(app, tmp_path / "dsn", {"dsn.eml": dsn_for(sent["Message-ID"], "gzrsj@example.gov.cn", "5.2.2",
                                                            "failed")})
    bounce = next(m for m in doc["messages"] if m["kind"] == "bounce")
    gz, sz = outbox_rows(app)
    assert (gz.status, gz.bounced, gz.bounce_message_pk) == ("failed", True, bounce["id"])
    assert gz.reason.startswith(f"退信 / bounced (message #{bounce['id']}): ")
    assert (sz.status, sz.bounced) == ("sent", False)
    assert len(smtp.handler.received) == 2  # nothing was sent to the MTA
    problems = build_digest(app, date(2020, 2, 26)).outbox_problems
    assert problems == [DigestOutboxRow(to=["gzrsj@example.gov.cn"], subject="回执：广州市 2020年2月17日—2月23日 周报已收到",
                                        status="bounced", detail=staff_text(gz.reason), attempts=1)]


def test_mark_bounced_with_the_parsed_report(service, smtp, tmp_path) -> None:
    """With ``parse_bounce``'s report the reason names recipient and status; a delay is not a bounce."""
    app = service()
    ingest(app, tmp_path / "in", sample(WEEKLY))
    [row] = outbox_rows(app)
    with session_scope(app.engine) as session:
        bounce = session.exec(select(Message)).first()  # any stored message stands for the DSN's row
        delayed = parse_bounce(email.message_from_bytes(dsn_for(row.message_id, "gzrsj@example.gov.cn", "4.4.7",
                                                                "delayed")))
        assert mark_bounced(session, [row.message_id], bounce, delayed) == []
    [row] = outbox_rows(app)
    assert (row.status, row.bounced) == ("sent", False)
    assert row.reason.startswith("延迟投递通知 / delivery delayed") and "4.4.7" in row.reason
    with session_scope(app.engine) as session:
        bounce = session.exec(select(Message)).first()
        failed = parse_bounce(email.message_from_bytes(dsn_for(row.message_id, "gzrsj@example.gov.cn", "5.2.2",
                                                               "failed")))
        assert [r.id for r in mark_bounced(session, [row.message_id], bounce, failed)] == [row.id]
    [row] = outbox_rows(app)
    assert (row.status, row.bounced) == ("failed", True)
    assert row.reason == (f"退信 / bounced (message #{bounce.id}): gzrsj@example.gov.cn failed 5.2.2 "
                          "smtp; 552 5.2.2 Mailbox full")


# --------------------------------------------------------------------------- 6-7. the command line


def test_without_smtp_the_cli_writes_eml_files(tmp_path, store_url) -> None:
    """`zxjyck ingest` with no [smtp] section: the notice is an .eml file in notify.outbox_dir.

    The CLI runs on the real clock, so the sample application is re-dated to an hour ago (inside the
    reply window); the weekly samples name their week without a year and would be read as another one.
    """
    cfg = outbox_config(tmp_path, store_url, smtp_port=None)
    now = datetime.now(UTC).replace(microsecond=0)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "app.eml").write_bytes(variant(APPLICATION, date=now - timedelta(hours=1)))
    assert main(["--config", str(cfg), "ingest", str(tmp_path / "in")]) == 0
    assert main(["--config", str(cfg), "ingest", str(tmp_path / "in")]) == 0  # stored already: nothing new
    [written] = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    msg = BytesParser(policy=email.policy.default).parsebytes(written.read_bytes())
    app = open_app(load_settings(cfg, environ={}))
    try:
        [row] = outbox_rows(app)
    finally:
        app.close()
    assert (row.kind, row.status, row.attempts) == ("receipt", "sent", 1)
    assert written.name.endswith(f"-{FileTransport.id_hash(row.message_id)}.eml")
    assert msg["Message-ID"] == row.message_id and msg["Message-ID"].endswith("@163.com>")
    assert msg["From"].addresses[0].addr_spec == OUR_ADDRESS
    assert str(msg["To"]) == "apply@ydt-edu.example.com"
    assert msg["In-Reply-To"] == "<app-1@ydt-edu.example.com>"
    assert msg["References"].split() == ["<app-1@ydt-edu.example.com>"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert str(msg["Subject"]) == row.subject and "粤技通在线学习平台" in row.subject
    text, html = bodies(msg)
    for body in (text, html):
        assert "粤技通在线学习平台" in body and "材料齐全" in body and "平台培训内容材料" in body


def test_cli_remind_sends_one_reminder_per_missing_city_once(service, smtp, tmp_path) -> None:
    app = service()
    ingest(app, tmp_path / "in", sample(WEEKLY))
    assert len(smtp.handler.received) == 1
    cfg = str(app.settings.path)
    assert main(["--config", cfg, "remind", "--week", "2020-02-17"]) == 0
    reminders = smtp.handler.received[1:]
    assert sorted(r.rcpt_tos for r in reminders) == [["szrsj@example.gov.cn", "sz-backup@example.gov.cn"],
                                                     ["zhrsj@example.gov.cn"]]
    assert {r.message["Auto-Submitted"] for r in reminders} == {"auto-generated"}
    assert sorted(str(r.message["Subject"]).split()[0] for r in reminders) == ["催报提醒：深圳市", "催报提醒：珠海市"]
    assert main(["--config", cfg, "remind", "--week", "2020-02-17"]) == 0
    assert len(smtp.handler.received) == 3
    keys = sorted(r.dedupe_key for r in outbox_rows(app) if r.kind == "late_reminder")
    assert keys == ["late_reminder:深圳市:2020-02-17", "late_reminder:珠海市:2020-02-17"]


def test_reminders_before_the_deadline_are_refused(service, smtp, clock) -> None:
    app = service()
    clock.value = datetime(2020, 2, 24, 7, 59, tzinfo=UTC)  # 15:59 in Guangzhou, the deadline is 16:00
    with pytest.raises(ReminderError, match="not reached"):
        queue_reminders(app, date(2020, 2, 17))
    assert outbox_rows(app) == []
    clock.advance(minutes=1)
    assert sorted(queue_reminders(app, date(2020, 2, 17)).queued) == ["广州市", "深圳市", "珠海市"]


def test_cli_remind_for_the_running_week_is_a_handled_error(service, smtp, capsys) -> None:
    app = service()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    this_monday = today - timedelta(days=today.weekday())  # its deadline is next Monday 16:00
    assert main(["--config", str(app.settings.path), "remind", "--week", this_monday.isoformat()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zxjyck: error: ") and "不能催报" in err and "Traceback" not in err
    assert outbox_rows(app) == [] and smtp.handler.received == []
