"""Ways out for a composed message: SMTP, a folder of .eml files, memory (tests).

Every transport has ``send(msg) -> DeliveryResult`` and raises only
``TemporaryDeliveryError`` (retry later) or ``PermanentDeliveryError`` (give up),
both ``NotifyError``s carrying the SMTP code and the server's words. The
password is never put into an error or a log line.

``RetryPolicy`` says when to try again after a temporary failure.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

from notify.errors import (
    DeliveryError,
    OutboxWriteError,
    PermanentDeliveryError,
    SmtpConnectionError,
    SmtpLoginError,
    TemporaryDeliveryError,
)
from store.files import write_atomically

log = logging.getLogger(__name__)

SECURITY_MODES = ("tls", "starttls", "none")
# 163.com / 126.com / yeah.net accept only the account's client authorization code over SMTP and IMAP.
LOGIN_HINT = (" (wrong password? NetEase mail wants the client authorization code 授权码 from the web "
              "settings, not the web login password / 网易邮箱须使用网页设置中生成的客户端授权码，而非网页登录密码)")


@dataclass
class DeliveryResult:
    """What happened to one message. ``refused``: recipients the server refused while
    accepting the message for the others (address -> "550 text"); empty when all went through."""

    message_id: str
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    location: str = ""  # where it went: "smtp.163.com:465" or the .eml path


class Transport(Protocol):
    def send(self, msg: EmailMessage) -> DeliveryResult: ...


def envelope_recipients(msg: EmailMessage) -> list[str]:
    """Every address in To, Cc and Bcc, in order, without repeats."""
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in (msg.get_all(name) or [])]
    seen: list[str] = []
    for _name, addr in getaddresses(fields):
        if addr and addr.lower() not in (a.lower() for a in seen):
            seen.append(addr)
    return seen


def envelope_sender(msg: EmailMessage) -> str:
    pairs = getaddresses([str(v) for v in (msg.get_all("From") or [])])
    return pairs[0][1] if pairs else ""


# ---------------------------------------------------------------- SMTP


def _decode(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text


def _error_for_code(code: int, message: str, server_text: str) -> DeliveryError:
    if 500 <= code <= 599:
        return PermanentDeliveryError(message, code=code, server_text=server_text)
    return TemporaryDeliveryError(message, code=code, server_text=server_text)


class SmtpTransport:
    """One SMTP connection per ``send``; login only when a username is configured.

    ``security``: "tls" (implicit TLS, port 465), "starttls" (port 587/25, STARTTLS
    required) or "none" (plain; for a local relay or tests). Certificates are verified
    with the system store (plus ``ca_file``, for a self-hosted server) unless
    ``ssl_context`` is given.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "tls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"smtp security must be one of {SECURITY_MODES}, not {security!r}")
        if username and password is None:
            raise ValueError("smtp username given without a password")
        self.host = host
        self.port = port
        self.security = security
        self.username = username or None
        self._password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.ca_file = str(ca_file) if ca_file else None
        self.local_hostname = local_hostname

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpTransport({self.host}:{self.port}, security={self.security}, username={self.username!r})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        """The injected context, else a verifying one (system store, plus ``ca_file`` when given)."""
        if self.ssl_context is not None:
            return self.ssl_context
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self._context(),
                local_hostname=self.local_hostname,
            )
        else:
            client = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if self.username:
                client.login(self.username, self._password or "")
        except BaseException:
            _close_quietly(client)
            raise
        return client

    def verify(self) -> str:
        """Connect, secure, log in and quit without sending: what ``zxjyck check`` proves.

        Returns the server's greeting name; raises SmtpLoginError / SmtpConnectionError
        with one line, like ``send``."""
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            text = _decode(exc.smtp_error)
            raise SmtpLoginError(f"SMTP {self.where} refused the login of {self.username}: {exc.smtp_code} {text}"
                                 f"{LOGIN_HINT if exc.smtp_code == 535 else ''}",
                                 code=exc.smtp_code, server_text=text) from exc
        except smtplib.SMTPResponseException as exc:
            text = _decode(exc.smtp_error)
            raise SmtpConnectionError(f"SMTP {self.where} refused the session: {exc.smtp_code} {text}",
                                      code=exc.smtp_code, server_text=text) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise SmtpConnectionError(f"SMTP {self.where} ({self.security}) unreachable: {exc}") from exc
        try:
            return _decode(client.ehlo_resp or b"").split("\n", 1)[0]
        finally:
            _close_quietly(client)

    def send(self, msg: EmailMessage) -> DeliveryResult:
        """Deliver ``msg`` to every To/Cc/Bcc address; Bcc is not transmitted in the headers."""
        message_id = str(msg.get("Message-ID", ""))
        sender = envelope_sender(msg)
        recipients = envelope_recipients(msg)
        if not recipients:
            raise PermanentDeliveryError(f"message {message_id} has no recipient")
        if not sender:  # we want bounces back (parsers.bounce reads them, the outbox links them), and 163 wants MAIL FROM = login
            raise PermanentDeliveryError(f"message {message_id} has no From address")
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            text = _decode(exc.smtp_error)
            raise SmtpLoginError(
                f"SMTP {self.where} refused the login of {self.username}: {exc.smtp_code} {text}"
                f"{LOGIN_HINT if exc.smtp_code == 535 else ''}",
                code=exc.smtp_code,
                server_text=text,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpConnectionError(f"SMTP {self.where} ({self.security}): {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            text = _decode(exc.smtp_error)
            raise TemporaryDeliveryError(
                f"SMTP {self.where} refused the session: {exc.smtp_code} {text}",
                code=exc.smtp_code,
                server_text=text,
            ) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise SmtpConnectionError(f"SMTP {self.where} ({self.security}) unreachable: {exc}") from exc
        try:
            refused = self._transmit(client, msg, sender, recipients, message_id)
        finally:
            _close_quietly(client)
        accepted = [r for r in recipients if r not in refused]
        if refused:
            log.warning(
                "smtp %s accepted %s for %d, refused %d", self.where, message_id, len(accepted), len(refused)
            )
        else:
            log.info("smtp %s accepted %s for %d recipient(s)", self.where, message_id, len(accepted))
        return DeliveryResult(message_id=message_id, accepted=accepted, refused=refused, location=self.where)

    def _transmit(
        self, client: smtplib.SMTP, msg: EmailMessage, sender: str, recipients: list[str], message_id: str
    ) -> dict[str, str]:
        try:
            refused = client.send_message(msg, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _all_refused_error(self.where, message_id, exc.recipients) from exc
        except smtplib.SMTPSenderRefused as exc:
            text = _decode(exc.smtp_error)
            if exc.smtp_code == 530:  # "authentication required" / "STARTTLS first": our configuration
                raise SmtpLoginError(
                    f"SMTP {self.where} wants authentication or STARTTLS before MAIL "
                    f"(security={self.security}, username={self.username}): {exc.smtp_code} {text}",
                    code=exc.smtp_code,
                    server_text=text,
                ) from exc
            message = f"SMTP {self.where} refused sender {sender} of {message_id}: {exc.smtp_code} {text}"
            raise _error_for_code(exc.smtp_code, message, text) from exc
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and the rest
            text = _decode(exc.smtp_error)
            message = f"SMTP {self.where} refused {message_id}: {exc.smtp_code} {text}"
            raise _error_for_code(exc.smtp_code, message, text) from exc
        except (smtplib.SMTPNotSupportedError, UnicodeEncodeError) as exc:
            # a non-ASCII address the server cannot take (no SMTPUTF8): retrying cannot help
            raise PermanentDeliveryError(
                f"SMTP {self.where} cannot carry {message_id} to a non-ASCII address: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts
            raise SmtpConnectionError(f"SMTP {self.where} failed while sending {message_id}: {exc}") from exc
        return {addr: f"{code} {_decode(text)}" for addr, (code, text) in refused.items()}


def _all_refused_error(where: str, message_id: str, refusals: dict[str, tuple[int, bytes]]) -> DeliveryError:
    """Every recipient refused: permanent only if every refusal was a 5xx."""
    details = "; ".join(f"{addr}: {code} {_decode(text)}" for addr, (code, text) in refusals.items())
    codes = [code for code, _text in refusals.values()]
    first_code = codes[0] if codes else None
    message = f"SMTP {where} refused every recipient of {message_id}: {details}"
    if codes and all(500 <= code <= 599 for code in codes):
        return PermanentDeliveryError(message, code=first_code, server_text=details)
    return TemporaryDeliveryError(message, code=first_code, server_text=details)


def _close_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


# ---------------------------------------------------------------- files


class FileTransport:
    """Writes each message to ``outbox_dir/<UTC timestamp>-<hash of Message-ID>.eml``.

    The write is atomic (temporary file in the same folder, fsync, rename), and a
    message whose Message-ID was written before is not written again, so a retry
    after a crash makes no duplicate.
    """

    def __init__(
        self, outbox_dir: str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.outbox_dir = Path(outbox_dir)
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"FileTransport({str(self.outbox_dir)!r})"

    @staticmethod
    def id_hash(message_id: str) -> str:
        return hashlib.sha256(message_id.strip().encode("utf-8")).hexdigest()[:16]

    def existing_file(self, message_id: str) -> Path | None:
        matches = sorted(self.outbox_dir.glob(f"*-{self.id_hash(message_id)}.eml"))
        return matches[0] if matches else None

    def send(self, msg: EmailMessage) -> DeliveryResult:
        message_id = str(msg.get("Message-ID", "")).strip()
        if not message_id:
            raise PermanentDeliveryError("FileTransport: message has no Message-ID")
        recipients = envelope_recipients(msg)
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            done = self.existing_file(message_id)
            if done is not None:
                log.info("outbox file for %s exists already: %s", message_id, done.name)
                return DeliveryResult(message_id=message_id, accepted=recipients, location=str(done))
            path = self._write(msg, message_id)
        except OSError as exc:
            raise OutboxWriteError(f"cannot write {message_id} to {self.outbox_dir}: {exc}") from exc
        log.info("wrote %s to %s", message_id, path)
        return DeliveryResult(message_id=message_id, accepted=recipients, location=str(path))

    def _write(self, msg: EmailMessage, message_id: str) -> Path:
        moment = self._clock().astimezone(UTC)
        name = f"{moment:%Y%m%dT%H%M%S}{moment.microsecond:06d}Z-{self.id_hash(message_id)}.eml"
        final = self.outbox_dir / name
        write_atomically(final, msg.as_bytes(policy=policy.SMTP))
        return final


# ---------------------------------------------------------------- memory (for tests of callers)


class MemoryTransport:
    """Keeps sent messages in ``sent``; ``fail_with`` errors are raised first, one per send."""

    def __init__(self, fail_with: Iterable[DeliveryError] = ()) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_with: list[DeliveryError] = list(fail_with)

    def send(self, msg: EmailMessage) -> DeliveryResult:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(msg)
        return DeliveryResult(
            message_id=str(msg.get("Message-ID", "")), accepted=envelope_recipients(msg), location="memory"
        )


# ---------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff: first retry after ``base``, then x``factor`` up to ``cap``.

    ``attempt`` counts the attempts made so far (1 after the first failure).
    After ``max_attempts`` attempts the message is given up (status failed).
    """

    base: timedelta = timedelta(minutes=2)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=4)
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base or self.factor < 1 or self.max_attempts < 1:
            raise ValueError(f"unusable retry policy: {self}")

    def next_attempt_delay(self, attempt: int) -> timedelta:
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        cap = self.cap.total_seconds()
        seconds = self.base.total_seconds()
        for _ in range(attempt - 1):  # stops as soon as the cap is reached: no float overflow
            if seconds >= cap:
                break
            seconds *= self.factor
        return timedelta(seconds=min(seconds, cap))

    def should_retry(self, attempt: int, error: Exception) -> bool:
        """True when a message that failed its ``attempt``-th try with ``error`` deserves another."""
        return isinstance(error, TemporaryDeliveryError) and attempt < self.max_attempts

    def next_attempt_at(self, attempt: int, failed_at: datetime) -> datetime:
        return failed_at + self.next_attempt_delay(attempt)


DEFAULT_RETRY_POLICY = RetryPolicy()
max_attempts = DEFAULT_RETRY_POLICY.max_attempts


def next_attempt_delay(attempt: int, retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY) -> timedelta:
    """Delay before the next try after ``attempt`` failed attempts (default policy: 2 min, 4, 8 ... 4 h)."""
    return retry_policy.next_attempt_delay(attempt)
