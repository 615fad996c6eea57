"""Exceptions of the IMAP source, one per cause.

Each message names the account (``user@host``) and, where there is one, the
folder and UID, so an operator can act on the log line alone.
"""

from ingest.errors import IngestError


class ImapError(IngestError):
    """Base of every error raised by ingest.sources.imap."""


class ImapAuthError(ImapError):
    """The server refused the username/password. Never retried: retrying bad
    credentials only gets the account locked."""


class ImapTlsError(ImapError):
    """TLS could not be set up: certificate not trusted, hostname mismatch, or
    STARTTLS requested from a server that does not offer it. Not retried."""


class ImapConnectionError(ImapError):
    """The server could not be reached or kept dropping the connection after
    every retry allowed."""


class ImapFolderError(ImapError):
    """The server answered NO/BAD to a command on a folder (missing folder, no
    permission, unsupported command). Not retried."""


class ImapSinkError(ImapError):
    """The sink (archive + database) failed to store a message. The poll stops
    there; the message is neither marked nor skipped, so the next poll fetches it
    again."""


class MessageRejectedError(IngestError):
    """Raised BY A SINK from ``store()`` when these bytes can never be stored
    (a data problem, not an infrastructure one). The poller logs it, counts an
    error and moves past the message so one poison message cannot block the
    folder. Any other exception from ``store()`` is treated as an
    infrastructure failure (see ImapSinkError)."""


class ImapLeaseHeldError(ImapError):
    """A live poller holds the mailbox's lease: a manual poll stops at once with
    one line naming it (exit status EXIT_BUSY); the daemon just waits its turn."""

    exit_code = 3
