"""Exceptions of the parsers package. Every one names the file it is about."""

from zxjyck.errors import ZxjyckError


class ParserError(ZxjyckError):
    """Base of every error raised while reading an attachment."""

    def __init__(self, message: str, filename: str | None = None):
        self.filename = filename
        super().__init__(f"{filename}: {message}" if filename else message)
