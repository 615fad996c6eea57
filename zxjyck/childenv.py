"""Child processes that read untrusted files start without the service's secrets in their environment.

The parse sandboxes, the OCR worker and the large-message decoder are forked from one ``forkserver``
process (multiprocessing), which inherits the environment of the moment it starts; its children inherit
its environment block (what ``/proc/<pid>/environ`` shows). ``forkserver_context()`` starts that server
(and multiprocessing's resource tracker) with the secrets taken out of ``os.environ`` for that moment, so
no child ever holds ``ZXJYCK_*PASSWORD*``, a ``*_FILE`` path, the store URL or ``CREDENTIALS_DIRECTORY``.
Every start of such a child goes through it (a forkserver that died is started again the same way).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.context import BaseContext

_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL")
_lock = threading.Lock()


def is_secret(name: str) -> bool:
    """Whether an environment variable may carry a secret (or lead to one) and must not reach a child."""
    upper = name.upper()
    return (any(marker in upper for marker in _MARKERS) or upper.endswith("_FILE") and upper.startswith("ZXJYCK_")
            or upper in ("ZXJYCK_STORE_URL", "CREDENTIALS_DIRECTORY", "DATABASE_URL"))


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the secret-bearing variables left out (for a subprocess's ``env=``)."""
    return {name: value for name, value in env.items() if not is_secret(name)}


@contextmanager
def _scrubbed_environ() -> Iterator[None]:
    """``os.environ`` without its secrets for the duration (a process-wide change: kept as short as a start)."""
    with _lock:
        saved = {name: os.environ.pop(name) for name in list(os.environ) if is_secret(name)}
        try:
            yield
        finally:
            os.environ.update(saved)


def forkserver_context() -> BaseContext:
    """The ``forkserver`` multiprocessing context, its server running with an environment free of secrets."""
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    if any(is_secret(name) for name in os.environ):
        with _scrubbed_environ():
            forkserver.ensure_running()
    return ctx
