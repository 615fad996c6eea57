"""The version of the installed zxjyck (package metadata: pyproject.toml's ``version`` when installed)."""

from __future__ import annotations


def our_version() -> str:
    """``zxjyck --version``, the IMAP ID's version field; "unknown" when run from a checkout never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zxjyck")
    except PackageNotFoundError:
        return "unknown"
