"""A real SMTP listener for tests: aiosmtpd on 127.0.0.1, recording what it receives.

``RecordingHandler`` keeps every accepted message and can be told to answer
RCPT, MAIL or DATA with any reply ("451 4.3.0 try later", "550 5.1.1 no such
user"). ``running_smtp_server`` starts it plain, with implicit TLS or with
STARTTLS, optionally requiring AUTH. ``make_certificate`` writes a throwaway
self-signed certificate for 127.0.0.1 and returns server and client SSL contexts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # lower-case address -> reply
    mail_reply: str | None = None
    data_reply: str | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd hook)
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply:
            return self.data_reply
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                login=login,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


NETEASE_AUTH_FAILED = "535 Error: authentication failed"  # what smtp.163.com answers a wrong password
NETEASE_SPAM = "554 DT:SPM 163 smtp14,EsCowAC3 1582510000, please see http://mail.163.com/help/help_spam_16.htm?ip="
NETEASE_NO_PERMISSION = "550 User has no permission"
NETEASE_BUSY = "421 Too many connections, try later"
NETEASE_LOCAL_ERROR = "451 Requested action aborted: local error in processing"


class PasswordAuthenticator:
    """Accepts exactly one login/password pair; remembers every attempt's login name.

    ``failure_reply``: what a wrong password gets (aiosmtpd's own 535 line when None)."""

    def __init__(self, login: str, password: str, failure_reply: str | None = None) -> None:
        self.login = login.encode()
        self.password = password.encode()
        self.failure_reply = failure_reply
        self.attempts: list[str] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.attempts.append(auth_data.login.decode())
        ok = auth_data.login == self.login and auth_data.password == self.password
        if not ok and self.failure_reply:
            return AuthResult(success=False, handled=False, message=self.failure_reply)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    authenticator: PasswordAuthenticator | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def running_smtp_server(
    *,
    implicit_tls: ssl.SSLContext | None = None,
    starttls: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
    auth_failure_reply: str | None = None,
) -> Iterator[SmtpServer]:
    """Start aiosmtpd on a free port of 127.0.0.1 for the duration of the block."""
    handler = RecordingHandler()
    authenticator = PasswordAuthenticator(*auth, failure_reply=auth_failure_reply) if auth else None
    params: dict[str, object] = {}
    if starttls is not None:
        params.update(tls_context=starttls, require_starttls=True)
    if authenticator is not None:
        # plain AUTH without TLS is fine on 127.0.0.1; test modules filter aiosmtpd's warning about it
        params.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    controller = None
    for _attempt in range(5):  # the free port may be taken between probe and bind
        candidate = Controller(
            handler, hostname=HOST, port=free_port(), ssl_context=implicit_tls, ready_timeout=10, **params
        )
        try:
            candidate.start()
        except (OSError, RuntimeError):
            continue
        controller = candidate
        break
    if controller is None:
        raise RuntimeError("could not start the aiosmtpd test server")
    try:
        yield SmtpServer(HOST, controller.port, handler, authenticator)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert_file))


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 / localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "smtp-cert.pem"
    key_file = folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(cert_file, key_file)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))
