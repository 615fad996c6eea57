"""Exceptions of the notify package."""


class NotifyError(Exception):
    """Base of every error raised while composing or sending mail."""
