"""Exceptions of the notify package."""

from zxjyck.errors import ZxjyckError


class NotifyError(ZxjyckError):
    """Base of every error raised while composing or sending mail."""


class UnknownNoticeKindError(NotifyError):
    """A notice kind with no templates (not receipt, missing_items, correction_request, ...)."""


class TemplateContextError(NotifyError):
    """The context given to a template is of the wrong type or lacks a value the template needs."""


class InvalidAddressError(NotifyError):
    """An address given for From/To cannot be written into a message header."""


class DeliveryError(NotifyError):
    """Sending one message failed. ``code`` is the SMTP reply code when the server gave one."""

    def __init__(self, message: str, *, code: int | None = None, server_text: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.server_text = server_text


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: a 4xx reply, a refused or broken connection, a timeout."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help: a 5xx reply for the sender, the data, or every recipient."""


class SmtpConnectionError(TemporaryDeliveryError):
    """The SMTP server could not be reached, the TLS handshake failed, or the connection broke."""


class SmtpLoginError(TemporaryDeliveryError):
    """The server refused our login. A configuration problem, not the message's fault: keep it queued."""


class OutboxWriteError(TemporaryDeliveryError):
    """A message could not be written to the outbox folder (FileTransport)."""
