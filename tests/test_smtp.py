"""Transports against a real aiosmtpd listener on 127.0.0.1, FileTransport, retry policy."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta, timezone
from email import message_from_string, policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from notify.compose import WeeklyReceiptContext, compose
from notify.errors import (
    OutboxWriteError,
    PermanentDeliveryError,
    SmtpConnectionError,
    SmtpLoginError,
    TemporaryDeliveryError,
)
from notify.transport import (
    FileTransport,
    MemoryTransport,
    RetryPolicy,
    SmtpTransport,
    next_attempt_delay,
)
from tests.smtp_server import HOST, certificate, running_smtp_server, smtp_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

CST = timezone(timedelta(hours=8))
NOW = datetime(2020, 2, 24, 10, 5, tzinfo=CST)
CITY_ADDR = "gzrsj@example.gov.cn"
SENDER = "zxjyck@163.com"
PASSWORD = "s3cret-Pa55"


def receipt_message(to: list[str] | None = None, **overrides) -> EmailMessage:
    context = WeeklyReceiptContext(
        city="广州市",
        week_start=date(2020, 2, 17),
        week_end=date(2020, 2, 23),
        enterprise_count=12,
        total_headcount=3456,
        received_at=datetime(2020, 2, 24, 9, 30, tzinfo=CST),
        contact_line="联系电话：020-12345678；邮箱：zxjyck@163.com",
    )
    values = dict(
        to=to or [CITY_ADDR],
        sender=SENDER,
        in_reply_to="<report-1@example.gov.cn>",
        references=["<root@example.gov.cn>"],
        msgid_domain="zxjyck.example.org",
        now=NOW,
    )
    values.update(overrides)
    return compose("receipt", context, **values)


def plain_transport(server, **kwargs) -> SmtpTransport:
    return SmtpTransport(server.host, server.port, security="none", timeout=10, **kwargs)


def test_smtp_delivers_a_receipt_that_decodes_back(smtp_server):  # noqa: F811
    msg = receipt_message()
    result = plain_transport(smtp_server).send(msg)

    assert result.accepted == [CITY_ADDR]
    assert result.refused == {}
    assert result.message_id == msg["Message-ID"]
    [got] = smtp_server.handler.received
    assert got.mail_from == SENDER
    assert got.rcpt_tos == [CITY_ADDR]
    assert got.login is None
    assert max(got.data) < 128, "headers and bodies travel 7-bit (RFC 2047, base64/QP)"
    assert b"=?utf-8?" in got.data.split(b"\r\n\r\n", 1)[0]
    parsed = got.message
    assert parsed["Subject"] == "回执：广州市 2020年2月17日—2月23日 周报已收到"
    assert parsed["From"].addresses[0].display_name == "广东省职业训练局"
    assert parsed["From"].addresses[0].addr_spec == SENDER
    assert parsed["Message-ID"] == msg["Message-ID"]
    assert parsed["Message-ID"].endswith("@zxjyck.example.org>")
    assert parsed["In-Reply-To"] == "<report-1@example.gov.cn>"
    assert parsed["References"] == "<root@example.gov.cn> <report-1@example.gov.cn>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed["Precedence"] is None
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "备案人数合计3,456人" in text
    assert "<td" in html and "3,456人" in html
    assert "联系电话：020-12345678" in text


def test_smtp_sends_a_message_stored_as_text_and_parsed_back(smtp_server):  # noqa: F811
    """The outbox keeps msg.as_string(policy=SMTP) and parses it again before sending."""
    original = receipt_message()
    stored = original.as_string(policy=policy.SMTP)
    reloaded = message_from_string(stored, _class=EmailMessage, policy=policy.SMTP)
    plain_transport(smtp_server).send(reloaded)
    [got] = smtp_server.handler.received
    parsed = got.message
    assert parsed["Message-ID"] == original["Message-ID"]
    assert parsed["Subject"] == "回执：广州市 2020年2月17日—2月23日 周报已收到"
    assert "备案人数合计3,456人" in parsed.get_body(("plain",)).get_content()
    assert got.rcpt_tos == [CITY_ADDR]


@pytest.mark.parametrize("missing", ["From", "To"])
def test_smtp_refuses_a_message_without_sender_or_recipient(smtp_server, missing):  # noqa: F811
    msg = receipt_message()
    del msg[missing]
    with pytest.raises(
        PermanentDeliveryError, match=f"no {'From address' if missing == 'From' else 'recipient'}"
    ):
        plain_transport(smtp_server).send(msg)
    assert smtp_server.handler.received == []


def test_smtp_bcc_is_delivered_but_not_transmitted(smtp_server):  # noqa: F811
    msg = receipt_message()
    msg["Bcc"] = "archive@example.org"
    plain_transport(smtp_server).send(msg)
    [got] = smtp_server.handler.received
    assert got.rcpt_tos == [CITY_ADDR, "archive@example.org"]
    assert got.message["Bcc"] is None


@pytest.mark.parametrize(
    ("hook", "reply", "error", "code"),
    [
        ("rcpt", "451 4.3.0 Mailbox temporarily unavailable", TemporaryDeliveryError, 451),
        ("rcpt", "550 5.1.1 用户不存在 no such user", PermanentDeliveryError, 550),
        ("data", "451 4.7.1 Greylisted, try again later", TemporaryDeliveryError, 451),
        ("data", "554 5.7.1 Message rejected as spam", PermanentDeliveryError, 554),
        ("mail", "452 4.3.1 Insufficient system storage", TemporaryDeliveryError, 452),
        ("mail", "553 5.7.1 Sender address rejected", PermanentDeliveryError, 553),
    ],
)
def test_smtp_reply_codes_map_to_temporary_or_permanent(smtp_server, hook, reply, error, code):  # noqa: F811
    handler = smtp_server.handler
    if hook == "rcpt":
        handler.rcpt_replies[CITY_ADDR] = reply
    elif hook == "data":
        handler.data_reply = reply
    else:
        handler.mail_reply = reply
    msg = receipt_message()

    with pytest.raises(error) as caught:
        plain_transport(smtp_server).send(msg)

    assert caught.value.code == code
    server_words = reply.split(" ", 2)[2]
    assert server_words in str(caught.value)
    assert msg["Message-ID"] in str(caught.value)
    if error is TemporaryDeliveryError:
        assert not isinstance(caught.value, PermanentDeliveryError)
    assert handler.received == []


def test_smtp_some_recipients_refused_is_reported_not_raised(smtp_server):  # noqa: F811
    smtp_server.handler.rcpt_replies["gone@example.gov.cn"] = "550 5.1.1 no such user"
    result = plain_transport(smtp_server).send(receipt_message(to=[CITY_ADDR, "gone@example.gov.cn"]))

    assert result.accepted == [CITY_ADDR]
    assert result.refused == {"gone@example.gov.cn": "550 5.1.1 no such user"}
    [got] = smtp_server.handler.received
    assert got.rcpt_tos == [CITY_ADDR]


def test_smtp_all_refused_with_mixed_codes_is_temporary(smtp_server):  # noqa: F811
    smtp_server.handler.rcpt_replies[CITY_ADDR] = "450 4.2.1 mailbox busy"
    smtp_server.handler.rcpt_replies["gone@example.gov.cn"] = "550 5.1.1 no such user"
    with pytest.raises(TemporaryDeliveryError) as caught:
        plain_transport(smtp_server).send(receipt_message(to=[CITY_ADDR, "gone@example.gov.cn"]))
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert "450 4.2.1 mailbox busy" in str(caught.value)
    assert "550 5.1.1 no such user" in str(caught.value)


def test_smtp_login_with_username_and_password():
    with running_smtp_server(auth=("zxjyck@163.com", PASSWORD)) as server:
        plain_transport(server, username="zxjyck@163.com", password=PASSWORD).send(receipt_message())
        [got] = server.handler.received
        assert got.login == "zxjyck@163.com"
        assert server.authenticator.attempts == ["zxjyck@163.com"]


def test_smtp_wrong_password_is_a_login_error_without_the_password():
    with running_smtp_server(auth=("zxjyck@163.com", "the-right-one")) as server:
        transport = plain_transport(server, username="zxjyck@163.com", password=PASSWORD)
        with pytest.raises(SmtpLoginError) as caught:
            transport.send(receipt_message())
        assert caught.value.code == 535
        assert isinstance(caught.value, TemporaryDeliveryError)
        for text in (str(caught.value), repr(caught.value), repr(transport)):
            assert PASSWORD not in text
        assert server.handler.received == []


def test_smtp_without_username_does_not_log_in_and_server_demanding_auth_is_a_login_error():
    with running_smtp_server(auth=("zxjyck@163.com", PASSWORD)) as server:
        with pytest.raises(SmtpLoginError) as caught:
            plain_transport(server).send(receipt_message())
        assert caught.value.code == 530
        assert server.authenticator.attempts == []


def test_smtp_connection_refused_is_temporary():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(SmtpConnectionError) as caught:
        SmtpTransport(HOST, port, security="none", timeout=5).send(receipt_message())
    assert f"{HOST}:{port}" in str(caught.value)
    assert isinstance(caught.value, TemporaryDeliveryError)


def test_smtp_silent_server_times_out_as_temporary():
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(1)  # accepts in the backlog but never greets
        transport = SmtpTransport(HOST, silent.getsockname()[1], security="none", timeout=0.5)
        with pytest.raises(SmtpConnectionError):
            transport.send(receipt_message())


def test_smtp_implicit_tls_with_trusted_certificate(certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context()) as server:
        transport = SmtpTransport(
            HOST, server.port, security="tls", timeout=10, ssl_context=certificate.client_context()
        )
        transport.send(receipt_message())
        assert len(server.handler.received) == 1


def test_smtp_implicit_tls_rejects_an_untrusted_certificate_by_default(certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context()) as server:
        with pytest.raises(SmtpConnectionError) as caught:
            SmtpTransport(HOST, server.port, security="tls", timeout=10).send(receipt_message())
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        assert server.handler.received == []


def test_smtp_ca_file_adds_a_trusted_certificate(certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context()) as server:
        transport = SmtpTransport(
            HOST, server.port, security="tls", timeout=10, ca_file=certificate.cert_file
        )
        transport.send(receipt_message())
        assert len(server.handler.received) == 1


def test_smtp_starttls_with_login(certificate):  # noqa: F811
    with running_smtp_server(
        starttls=certificate.server_context(), auth=("u@example.org", PASSWORD)
    ) as server:
        transport = SmtpTransport(
            HOST,
            server.port,
            security="starttls",
            username="u@example.org",
            password=PASSWORD,
            timeout=10,
            ssl_context=certificate.client_context(),
        )
        transport.send(receipt_message())
        [got] = server.handler.received
        assert got.login == "u@example.org"


def test_smtp_plain_against_a_server_requiring_starttls_is_a_configuration_error(certificate):  # noqa: F811
    with running_smtp_server(starttls=certificate.server_context()) as server:
        with pytest.raises(SmtpLoginError) as caught:
            plain_transport(server).send(receipt_message())
        assert caught.value.code == 530


def test_smtp_transport_rejects_unknown_security():
    with pytest.raises(ValueError, match="security"):
        SmtpTransport(HOST, 25, security="ssl")


# ---------------------------------------------------------------- FileTransport


def fixed_clock() -> datetime:
    return datetime(2020, 2, 24, 2, 5, 6, 789, tzinfo=UTC)


def test_file_transport_writes_a_parsable_eml(tmp_path: Path):
    outbox = tmp_path / "var" / "outbox"
    msg = receipt_message()
    result = FileTransport(outbox, clock=fixed_clock).send(msg)

    [written] = list(outbox.iterdir())
    assert written.name == f"20200224T020506000789Z-{FileTransport.id_hash(msg['Message-ID'])}.eml"
    assert result.location == str(written)
    assert result.accepted == [CITY_ADDR]
    parsed = BytesParser(policy=policy.default).parsebytes(written.read_bytes())
    assert parsed["Message-ID"] == msg["Message-ID"]
    assert parsed["Subject"] == "回执：广州市 2020年2月17日—2月23日 周报已收到"
    assert "备案人数合计3,456人" in parsed.get_body(("plain",)).get_content()
    assert parsed.get_body(("html",)) is not None


def test_file_transport_does_not_write_the_same_message_twice(tmp_path: Path):
    msg = receipt_message()
    transport = FileTransport(tmp_path)
    first = transport.send(msg)
    second = transport.send(msg)
    other = transport.send(receipt_message())

    assert first.location == second.location
    assert other.location != first.location
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [Path(first.location).name, Path(other.location).name]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_file_transport_unwritable_folder_is_a_temporary_error(tmp_path: Path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutboxWriteError) as caught:
        FileTransport(blocker).send(receipt_message())
    assert str(blocker) in str(caught.value)
    assert isinstance(caught.value, TemporaryDeliveryError)


def test_memory_transport_records_and_fails_on_demand():
    failure = TemporaryDeliveryError("451 later", code=451)
    transport = MemoryTransport(fail_with=[failure])
    msg = receipt_message()
    with pytest.raises(TemporaryDeliveryError):
        transport.send(msg)
    assert transport.send(msg).accepted == [CITY_ADDR]
    assert transport.sent == [msg]


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize(
    ("attempt", "minutes"),
    [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 64), (7, 128), (8, 240), (50, 240), (10_000, 240)],
)
def test_default_backoff_doubles_from_two_minutes_up_to_four_hours(attempt, minutes):
    assert next_attempt_delay(attempt) == timedelta(minutes=minutes)


def test_retry_policy_gives_up_after_max_attempts_and_on_permanent_errors():
    retry = RetryPolicy(base=timedelta(seconds=30), factor=3, cap=timedelta(minutes=10), max_attempts=3)
    temporary = TemporaryDeliveryError("451")
    assert [retry.next_attempt_delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=30),
        timedelta(seconds=90),
        timedelta(seconds=270),
        timedelta(minutes=10),
    ]
    assert retry.should_retry(1, temporary) is True
    assert retry.should_retry(2, temporary) is True
    assert retry.should_retry(3, temporary) is False
    assert retry.should_retry(1, PermanentDeliveryError("550")) is False
    assert retry.next_attempt_at(2, NOW) == NOW + timedelta(seconds=90)
    with pytest.raises(ValueError):
        retry.next_attempt_delay(0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_a_non_ascii_address_the_server_cannot_take_is_permanent() -> None:
    from email.message import EmailMessage

    from aiosmtpd.controller import Controller

    from notify.errors import PermanentDeliveryError
    from notify.transport import SmtpTransport
    from tests.smtp_server import RecordingHandler, free_port

    handler = RecordingHandler()
    controller = Controller(handler, hostname=HOST, port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "zxjyck@163.com", "张三@例子.中国", "x"
        msg["Message-ID"] = "<x@163.com>"
        msg.set_content("正文")
        transport = SmtpTransport(HOST, controller.port, security="none")
        with pytest.raises(PermanentDeliveryError, match="non-ASCII"):
            transport.send(msg)
    finally:
        controller.stop()
    assert handler.received == []
