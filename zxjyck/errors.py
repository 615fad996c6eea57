"""The one root of every error zxjyck raises on purpose.

Each package keeps its own family under it (``parsers.errors.ParserError``, ``store.errors.StoreError``,
``notify.errors.NotifyError``, ``ingest.errors.IngestError``, ``web``'s request errors), so a caller that
only wants to know "did zxjyck refuse this, with a reason for people?" catches ``ZxjyckError``; anything
else is a bug and keeps its traceback (shown with ``--debug``).
"""


class ZxjyckError(Exception):
    """A failure with a reason meant for people (staff, an administrator, a sender).

    ``exit_code`` is what the CLI exits with when this error ends a command (1 unless a subclass says
    otherwise: 2 for usage, 3 for a mailbox held by another live poller).
    """

    exit_code: int = 1
