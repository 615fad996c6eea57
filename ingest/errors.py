"""Exceptions of the ingest package (sources, pipeline, configuration)."""

from zxjyck.errors import ZxjyckError


class IngestError(ZxjyckError):
    """Base of every error raised by sources, the pipeline and the CLI layer."""


class TransientError(IngestError):
    """The machine, not the message, failed (disk full while reading an attachment...): process it again later."""


class UnknownMessage(IngestError):
    """A message id given on the command line does not exist."""
