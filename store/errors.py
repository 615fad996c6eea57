"""Exceptions of the store package."""


class StoreError(Exception):
    """Base of every error raised by the database or the raw archive."""
