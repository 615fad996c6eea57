"""Connecting to IMAP: settings shape, clock, TLS/STARTTLS login, backoff.

Split out of ingest.sources.imap (which re-exports what callers need) to keep each
module small.
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from ingest.sources.imap_errors import ImapAuthError, ImapTlsError

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0

# Failures of the line, not of the request: reconnect and carry on from the cursor.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.abort, EOFError)


class ImapSettings(Protocol):
    """The [imap] configuration section (ingest.config builds the real one)."""

    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    username: str
    password: Any  # str, or anything with get_secret_value() (pydantic SecretStr)
    folder: str
    processed_folder: str | None
    batch_size: int
    timeout_seconds: float
    idle_seconds: float
    # Optional, read with getattr: ca_file (extra CA bundle), poll_interval_seconds (NOOP polling),
    # sent_folder (copies of sent notices), id (the RFC 2971 ID fields; DEFAULT_ID when absent).


DEFAULT_ID = {"name": "zxjyck", "version": "0", "vendor": "zxjyck"}


def id_fields(settings: ImapSettings) -> dict[str, str]:
    """The ID fields to send: ``settings.id`` when it has them, else DEFAULT_ID."""
    fields = getattr(settings, "id", None)
    return dict(fields) if fields else dict(DEFAULT_ID)


def password_of(settings: ImapSettings) -> str:
    """The password as text, whether configuration holds a str or a pydantic SecretStr."""
    reveal = getattr(settings.password, "get_secret_value", None)
    return reveal() if callable(reveal) else str(settings.password)


def default_ssl_context(settings: ImapSettings) -> ssl.SSLContext:
    """Verifying context: the system's CAs plus ``settings.ca_file`` when it has one."""
    context = ssl.create_default_context()
    ca_file = getattr(settings, "ca_file", None)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock. Tests inject their own to record sleeps."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()

Connector = Callable[[ImapSettings], IMAPClient]


def account_name(settings: ImapSettings) -> str:
    return f"{settings.username}@{settings.host}"


def backoff_delay(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Capped exponential backoff: base, 2*base, 4*base ... never above cap."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def connect(
    settings: ImapSettings,
    *,
    ssl_context: ssl.SSLContext | None = None,
    client_class: type[IMAPClient] = IMAPClient,
) -> IMAPClient:
    """Open, secure and log in. Certificates are verified unless the caller passes
    a context that does otherwise. Raises ImapAuthError / ImapTlsError (permanent)
    or a transient OSError / IMAP abort (retried by the callers)."""
    where = f"{settings.username}@{settings.host}:{settings.port}"
    if settings.security not in ("tls", "starttls", "none"):
        raise ImapTlsError(f"unknown IMAP security {settings.security!r} for {where}")
    if settings.security == "none" and not _is_loopback(settings.host):
        log.warning("IMAP %s without TLS: the password travels in clear", where)
    context = ssl_context or default_ssl_context(settings)
    try:
        client = client_class(
            settings.host,
            settings.port,
            ssl=settings.security == "tls",
            ssl_context=context,
            timeout=settings.timeout_seconds,
        )
    except ssl.SSLCertVerificationError as exc:
        raise ImapTlsError(f"TLS certificate of {where} not trusted: {exc.verify_message}") from exc
    client.normalise_times = False  # INTERNALDATE as an aware datetime
    try:
        if settings.security == "starttls":
            _starttls(client, context, where)
        client.login(settings.username, password_of(settings))
        send_id(client, settings, where)
    except imap_exc.LoginError as exc:
        logout_quietly(client)
        raise ImapAuthError(f"IMAP login refused for {where}: {exc}") from exc
    except BaseException:
        logout_quietly(client)
        raise
    log.debug("IMAP logged in to %s", where)
    return client


def send_id(client: IMAPClient, settings: ImapSettings, where: str) -> None:
    """RFC 2971 ID after LOGIN, when the server offers it.

    NetEase (163.com, 126.com, yeah.net) answers SELECT, EXAMINE and STATUS with
    "NO ... Unsafe Login" until the client has identified itself. What the server
    says about itself is kept on the client as ``zxjyck_server_id`` (None: no ID).
    """
    client.zxjyck_server_id = None  # type: ignore[attr-defined]
    if not client.has_capability("ID"):
        log.debug("IMAP %s offers no ID; not identifying", where)
        return
    try:
        answer = client.id_(id_fields(settings))
    except imap_exc.IMAPClientAbortError:
        raise
    except imap_exc.IMAPClientError as exc:  # some servers refuse ID; SELECT will tell whether that matters
        log.warning("IMAP %s refused ID: %s", where, exc)
        return
    client.zxjyck_server_id = _id_dict(answer)  # type: ignore[attr-defined]
    log.debug("IMAP %s identified itself as %s", where, client.zxjyck_server_id)


def _id_dict(answer: object) -> dict[str, str]:
    """imapclient gives the server's ID as a flat tuple (k1, v1, k2, v2 ...) inside a tuple, or NIL."""
    items = answer
    while isinstance(items, tuple) and len(items) == 1 and isinstance(items[0], tuple):
        items = items[0]
    if not isinstance(items, tuple):
        return {}
    texts = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in items]
    return dict(zip(texts[0::2], texts[1::2], strict=False))


def _starttls(client: IMAPClient, context: ssl.SSLContext, where: str) -> None:
    try:
        client.starttls(context)
    except imap_exc.CapabilityError as exc:
        raise ImapTlsError(f"IMAP server {where} does not offer STARTTLS") from exc
    except ssl.SSLCertVerificationError as exc:
        raise ImapTlsError(f"TLS certificate of {where} not trusted: {exc.verify_message}") from exc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def logout_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the line may already be gone; nothing to do
        try:
            client.shutdown()
        except Exception:
            pass

