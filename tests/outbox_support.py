"""Helpers for tests/test_outbox.py: a config with an [smtp] section, altered sample mail, DSNs,
transports that stand for a crash or a second process, and readers of what was stored and received."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlmodel import select

from ingest.app import App
from ingest.outputs.export import export_state
from ingest.runtime.poll import ingest_paths
from ingest.workflows.reminders import deliver
from notify.outbox import DeliveryReport
from notify.transport import Transport
from store.db import session_scope
from store.models import Outbox
from tests.conftest import FIXTURES, write_config
from tests.smtp_server import SmtpServer

MAIL = FIXTURES / "mail"
OUR_ADDRESS = "zxjyck@163.com"
PROCESSED_AT = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)  # Tue 09:00 in Guangzhou: the sample mail is 1-2 days old


def outbox_config(
    folder: Path, store_url: str, *, smtp_port: int | None, notify: str = "", security: str = "none",
    smtp_extra: str = "",
) -> Path:
    """A config like the conftest's, with an [smtp] section for the listener (none when ``smtp_port``
    is None), extra [notify] keys and extra [smtp] keys (username, password, ca_file)."""
    smtp = (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "{security}"\nsender = "{OUR_ADDRESS}"\n'
        f"timeout_seconds = 10\n{smtp_extra}\n"
        if smtp_port is not None
        else ""
    )
    # the sample application is a Word form only: these tests of sending predate the stamped-form rule
    stamp_rule = "[applications]\nrequire_stamped_form = false\n"
    return write_config(folder, store_url, extra=smtp + stamp_rule, notify=notify)


APPLICATION = "05-application-complete.eml"
WEEKLY = "01-guangzhou-weekly.eml"


def variant(
    name: str, *, message_id: str | None = None, date: datetime | None = None, drop: tuple[str, ...] = (),
    **headers: str,
) -> bytes:
    """A sample message with some headers replaced (``List_Id`` -> ``List-Id``); Received is always dropped,
    so the received time is the Date header."""
    msg = email.message_from_bytes((MAIL / name).read_bytes(), policy=email.policy.default)
    for header in ("Received", *drop):
        del msg[header]
    if message_id is not None:
        del msg["Message-ID"]
        msg["Message-ID"] = message_id
    if date is not None:
        del msg["Date"]
        msg["Date"] = format_datetime(date)
    for key, value in headers.items():
        header = key.replace("_", "-")
        del msg[header]
        msg[header] = value
    return msg.as_bytes()


def ingest(app: App, folder: Path, mails: dict[str, bytes]) -> dict:
    """Write the mails into a fresh folder, run `ingest` over it (store, process, deliver), export the state."""
    folder.mkdir(parents=True)
    for name, raw in mails.items():
        (folder / name).write_bytes(raw)
    ingest_paths(app, [folder])
    return export_state(app.engine)


def as_utc(moment: datetime | None) -> datetime | None:
    """Database times back as aware UTC (SQLite hands them back naive)."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def sample(*names: str) -> dict[str, bytes]:
    return {name: (MAIL / name).read_bytes() for name in names}


def outbox_rows(app: App) -> list[Outbox]:
    with session_scope(app.engine) as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.id)))
        for row in rows:
            session.expunge(row)
    return rows


def received_by(smtp: SmtpServer) -> dict[str, EmailMessage]:
    """The messages the listener accepted, by their first envelope recipient."""
    return {r.rcpt_tos[0]: r.message for r in smtp.handler.received}


def bodies(msg: EmailMessage) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def dsn_for(message_id: str, recipient: str, status: str, action: str) -> bytes:
    """A standard DSN (RFC 3464) as Postfix writes it, returning the headers of ``message_id``."""
    return (
        "From: MAILER-DAEMON@mx.example.gov.cn\r\nTo: zxjyck@163.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.gov.cn>\r\n"
        "Date: Tue, 25 Feb 2020 09:30:00 +0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n"
        "--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be "
        "delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.gov.cn\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 552 {status} Mailbox full\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: zxjyck@163.com\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\nSubject: x\r\n\r\n--R--\r\n"
    ).encode()


class ProcessDied(BaseException):
    """Stands for a kill -9: nothing after it runs, no except clause catches it."""


class DiesAfterTheServerAccepts:
    """The configured SMTP transport, and a crash right after the server said 250 to DATA."""

    def __init__(self, real: Transport) -> None:
        self.real = real

    def send(self, msg: EmailMessage):
        self.real.send(msg)
        raise ProcessDied


class DeliversFromAnotherProcessMidSend:
    """The configured SMTP transport; while it talks to the server, a second service on the same
    store runs its own delivery round (as `zxjyck poll` beside the daemon would)."""

    def __init__(self, real: Transport, other: App) -> None:
        self.real = real
        self.other = other
        self.other_reports: list[DeliveryReport] = []

    def send(self, msg: EmailMessage):
        self.other_reports.append(deliver(self.other))
        return self.real.send(msg)
