"""Who holds a lease or a claim: ``host:pid``, and whether that process is gone.

Leases (the IMAP poller's) and outbox claims record their holder as
``<hostname>:<pid>``. A process on THIS host that no longer runs can be judged
gone at once (a ``kill -9`` leaves its lease behind); a holder on another host,
or one not in that form, never is: its lease is honoured until it expires.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def holder_is_gone(holder: str, hostname: str | None = None) -> bool:
    """True when ``holder`` ("host:pid") names a process of this host that no longer runs
    (or has exited and waits to be reaped)."""
    host, _, pid_text = (holder or "").rpartition(":")
    if not host or not pid_text.isdigit() or host != (hostname or socket.gethostname()):
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    try:  # killed but not yet reaped by its parent: gone all the same
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
