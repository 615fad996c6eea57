"""Several sandboxes side by side: attachments of several messages parsed at once, one per core.

A ``parsers.sandbox.Sandbox`` serves one thread at a time. ``SandboxPool`` holds
``size`` of them (default: ``default_pool_size``, at most one per core) and lends one to
each ``analyze`` call, so ``process_pending`` can prepare several messages in
helper threads while the main thread writes. Memory stays bounded: at most
``size`` parsing workers exist, each under its own ``Limits.address_space_mb``
(and at most ``size`` OCR workers, each under the OCR limits). Sandboxes start
their worker on first use, so an idle pool costs nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
from collections.abc import Callable
from typing import Any


def default_pool_size() -> int:
    """How many messages are parsed at once: ``ZXJYCK_PARSE_WORKERS``, else 1.

    Measured (README, performance 1): on a backlog of weekly xlsx reports a second sandbox and its helper
    thread made the run slower (the main thread's writes are the bottleneck and the second thread competes with
    it for the GIL); on the mixed backlog they were even. Raise it where attachments dominate (PDFs, scans)."""
    configured = os.environ.get("ZXJYCK_PARSE_WORKERS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return min(int(configured), max(1, os.cpu_count() or 1))
    return 1


class SandboxPool:
    """Thread-safe attachment analyser made of ``size`` sandboxes (``parallel`` says how many calls overlap)."""

    def __init__(self, size: int | None = None, factory: Callable[[], Any] | None = None):
        if factory is None:
            from parsers.sandbox import Sandbox

            factory = Sandbox
        self.parallel = max(1, size or default_pool_size())
        self._all = [factory() for _ in range(self.parallel)]
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for sandbox in self._all:
            self._free.put(sandbox)
        self._closed = threading.Event()

    def analyze(self, data: bytes, filename: str, mail_date: dt.date):
        if self._closed.is_set():
            raise RuntimeError("the sandbox pool is closed")
        sandbox = self._free.get()
        try:
            return sandbox.analyze(data, filename, mail_date)
        finally:
            self._free.put(sandbox)

    @property
    def stats(self):
        """The sandboxes' counters summed (parsers.sandbox.SandboxStats)."""
        stats = [s.stats for s in self._all if hasattr(s, "stats")]
        if not stats:
            return None
        total = type(stats[0])()
        for one in stats:
            for name, value in vars(one).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def close(self) -> None:
        self._closed.set()
        for sandbox in self._all:
            closer = getattr(sandbox, "close", None)
            if closer is not None:
                closer()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
