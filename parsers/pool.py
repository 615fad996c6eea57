"""Several sandboxes side by side: attachments of several messages parsed at once, one per core.

A ``parsers.sandbox.Sandbox`` serves one thread at a time. ``SandboxPool`` holds
``size`` of them (``[source] parse_workers``, at most one per core) and lends one to
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


class SandboxPool:
    """Thread-safe attachment analyser made of ``size`` sandboxes (``parallel`` says how many calls overlap)."""

    def __init__(self, size: int = 1, factory: Callable[[], Any] | None = None):
        if factory is None:
            from parsers.sandbox import Sandbox

            factory = Sandbox
        self.parallel = max(1, min(size, os.cpu_count() or 1))
        self._all = [factory() for _ in range(self.parallel)]
        self.limits = getattr(self._all[0], "limits", None)  # the same for every sandbox of the pool
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

    def release_idle_ocr(self, idle_seconds: float) -> int:
        """Stop the OCR workers of the sandboxes not lent out that have read nothing for ``idle_seconds``;
        how many were stopped. A sandbox in use is left alone (it is reading now)."""
        idle = []
        while True:
            try:
                idle.append(self._free.get_nowait())
            except queue.Empty:
                break
        try:
            return sum(bool(getattr(sandbox, "release_idle_ocr", lambda _s: False)(idle_seconds)) for sandbox in idle)
        finally:
            for sandbox in idle:
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
