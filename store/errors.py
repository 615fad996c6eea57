"""Exceptions of the store package."""

from zxjyck.errors import ZxjyckError


class StoreError(ZxjyckError):
    """Base of every error raised by the database or the raw archive."""
