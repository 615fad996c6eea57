"""Sinks, clocks and client wrappers for the IMAP tests (tests only).

``ingest_sink`` is the fixture every IMAP test stores through. It is an
in-memory sink here; the lead parametrises it with the database sink, so the
tests only use the IngestSink methods and the RecordingSink wrapper around it.

Run as a module it is the worker of the SIGKILL test:
``python -m tests.imap_helpers --db FILE --settings JSON --holder NAME``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from imapclient import IMAPClient

from ingest.sources.imap import SystemClock, connect, poll_once
from tests.dovecot import ImapTestSettings

# --------------------------------------------------------------------------- messages


def make_message(index: int, *, body_bytes: int = 0, date_header: str = "Mon, 01 Jan 2001 00:00:00 +0000",
                 seed: int = 0) -> bytes:
    """A CRLF message, unique per (index, seed); ``body_bytes`` of base64 random data attached."""
    lines = [
        f"From: city{index}@example.gov.cn",
        "To: zxjyck@163.com",
        f"Subject: =?utf-8?b?{base64.b64encode(f'周报 {index}'.encode()).decode()}?=",
        f"Date: {date_header}",
        f"Message-ID: <m{index}.s{seed}@example.gov.cn>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"message {index} seed {seed}",
    ]
    raw = "\r\n".join(lines).encode() + b"\r\n"
    if body_bytes:
        data = base64.encodebytes(random.Random(index * 7919 + seed).randbytes(body_bytes * 3 // 4))
        raw += data.replace(b"\n", b"\r\n")
    return raw


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- sinks


@dataclass
class MemorySink:
    """IngestSink in memory: dedupe by sha256 of the bytes, leases with a TTL."""

    messages: dict[str, tuple[bytes, datetime, str]] = field(default_factory=dict)
    cursors: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.cursors.get((account, folder))

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.cursors[(account, folder)] = (uidvalidity, last_uid)

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        with self.lock:
            key = sha256(raw)
            if key in self.messages:
                return False
            self.messages[key] = (raw, received_at, source_ref)
            return True

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        with self.lock:
            current = self.leases.get(name)
            now = time.monotonic()
            if current is not None and current[0] != holder and current[1] > now:
                return False
            self.leases[name] = (holder, now + ttl_seconds)
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.lock:
            if self.leases.get(name, ("", 0.0))[0] == holder:
                del self.leases[name]


class SqliteSink:
    """IngestSink in a SQLite file, shared by processes (the SIGKILL test)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript("""
            CREATE TABLE IF NOT EXISTS messages (sha256 TEXT PRIMARY KEY, raw BLOB, received_at TEXT,
                                                 source_ref TEXT);
            CREATE TABLE IF NOT EXISTS cursors (account TEXT, folder TEXT, uidvalidity INTEGER,
                                                last_uid INTEGER, PRIMARY KEY (account, folder));
            CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT, expires REAL);
        """)

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None:
        row = self.conn.execute("SELECT uidvalidity, last_uid FROM cursors WHERE account=? AND folder=?",
                                (account, folder)).fetchone()
        return None if row is None else (row[0], row[1])

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?, ?)",
                          (account, folder, uidvalidity, last_uid))

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        cursor = self.conn.execute("INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?)",
                                   (sha256(raw), raw, received_at.isoformat(), source_ref))
        return cursor.rowcount == 1

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT holder, expires FROM leases WHERE name=?", (name,)).fetchone()
            if row is not None and row[0] != holder and row[1] > now:
                return False
            self.conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (name, holder, now + ttl_seconds))
            return True
        finally:
            self.conn.execute("COMMIT")

    def release_lease(self, name: str, holder: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE name=? AND holder=?", (name, holder))

    def stored_hashes(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT sha256 FROM messages")]

    def close(self) -> None:
        self.conn.close()


@dataclass
class StoreCall:
    raw: bytes
    received_at: datetime
    source_ref: str
    new: bool | None  # None: store raised


class RecordingSink:
    """Wraps any sink: records store() calls, and can make store() raise."""

    def __init__(self, inner: object, fail: Callable[[bytes], BaseException | None] | None = None) -> None:
        self.inner = inner
        self.fail = fail
        self.calls: list[StoreCall] = []

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.inner.get_cursor(account, folder)  # type: ignore[attr-defined]

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.inner.set_cursor(account, folder, uidvalidity, last_uid)  # type: ignore[attr-defined]

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        return self._record(raw, received_at, source_ref,
                            lambda: self.inner.store(raw, received_at, source_ref))  # type: ignore[attr-defined]

    def _record(self, raw: bytes, received_at: datetime, source_ref: str, store: Callable[[], bool]) -> bool:
        error = self.fail(raw) if self.fail else None
        if error is not None:
            self.calls.append(StoreCall(raw, received_at, source_ref, None))
            raise error
        new = store()
        self.calls.append(StoreCall(raw, received_at, source_ref, new))
        return new

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        return self.inner.acquire_lease(name, holder, ttl_seconds)  # type: ignore[attr-defined]

    def release_lease(self, name: str, holder: str) -> None:
        self.inner.release_lease(name, holder)  # type: ignore[attr-defined]

    def store_spooled(self, spool, received_at: datetime, source_ref: str) -> bool:
        """A large message the poller streamed into the inner sink's spool: recorded with the spooled bytes."""
        spool._file.flush()
        return self._record(spool.path.read_bytes(), received_at, source_ref,
                            lambda: self.inner.store_spooled(spool, received_at, source_ref))  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:  # the inner sink's optional methods (lease_info, take_over_lease)
        # store_batch is left out: every store goes through store() above, so it is recorded (and can fail)
        if name in ("inner", "fail", "calls", "store_batch"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def new_raws(self) -> list[bytes]:
        return [call.raw for call in self.calls if call.new]


@pytest.fixture(params=["memory", "database"])
def ingest_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """The sink the IMAP tests store through: in memory, and the real database sink
    (ingest.imap_sink.DbSink on a SQLite App; the PostgreSQL run is the lead's to add)."""
    if request.param == "memory":
        yield MemorySink()
        return
    from ingest.app import open_app
    from ingest.config import load_settings
    from ingest.runtime.imap_sink import DbSink
    from tests.conftest import write_config

    app = open_app(load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db"), environ={}))
    try:
        yield DbSink(app)
    finally:
        app.close()


# --------------------------------------------------------------------------- clock, clients


class RecordingClock(SystemClock):
    """Real time, but sleeps are recorded and skipped."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@dataclass
class ClientLog:
    connections: int = 0
    idles: int = 0
    fetches: list[tuple[list[int], list[bytes]]] = field(default_factory=list)

    def body_fetches(self) -> list[list[int]]:
        return [uids for uids, items in self.fetches if any(b"BODY" in item for item in items)]


def logging_connector(log: ClientLog, *, hide: frozenset[str] = frozenset(),
                      before_fetch: Callable[[list[int]], None] | None = None,
                      no_keywords: bool = False,
                      **connect_kwargs: object) -> Callable[[ImapTestSettings], IMAPClient]:
    """A connector whose clients record FETCH commands and can hide capabilities,
    or (no_keywords) report a PERMANENTFLAGS without ``\\*`` as some servers do."""

    class LoggingClient(IMAPClient):
        def fetch(self, messages, data, modifiers=None):  # type: ignore[no-untyped-def]
            uids = list(messages)
            items = [d if isinstance(d, bytes) else d.encode() for d in data]
            log.fetches.append((uids, items))
            if before_fetch is not None and any(item.startswith(b"BODY") for item in items):
                before_fetch(uids)  # at a fetch of bodies (not of sizes or flags)
            return super().fetch(messages, data, modifiers)

        def select_folder(self, folder, readonly=False):  # type: ignore[no-untyped-def]
            info = super().select_folder(folder, readonly)
            if no_keywords:
                info[b"PERMANENTFLAGS"] = tuple(f for f in info.get(b"PERMANENTFLAGS", ()) if f != b"\\*")
            return info

        def idle(self):  # type: ignore[no-untyped-def]
            log.idles += 1
            return super().idle()

        def has_capability(self, capability):  # type: ignore[no-untyped-def]
            if capability.upper() in hide:
                return False
            return super().has_capability(capability)

    def connector(settings: ImapTestSettings) -> IMAPClient:
        log.connections += 1
        return connect(settings, client_class=LoggingClient, **connect_kwargs)  # type: ignore[arg-type]

    return connector


def chunks(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --------------------------------------------------------------------------- SIGKILL worker


class SlowSink(RecordingSink):
    """Any sink, with a pause before each store (stands in for a slow database)."""

    def __init__(self, inner: object, delay_seconds: float) -> None:
        super().__init__(inner)
        self.delay_seconds = delay_seconds
        if hasattr(inner, "store_batch"):  # the real sink stores a fetched batch at once: kill that path too
            self.store_batch = self._store_batch

    def _store_batch(self, items: list[tuple[bytes, datetime, str]]) -> list[bool]:
        time.sleep(self.delay_seconds * len(items))
        created = self.inner.store_batch(items)  # type: ignore[attr-defined]
        self.calls.extend(StoreCall(raw, received_at, ref, new) for (raw, received_at, ref), new in zip(
            items, created, strict=True))
        return created

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        time.sleep(self.delay_seconds)
        return super().store(raw, received_at, source_ref)


def _worker(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="a SqliteSink file")
    where.add_argument("--config", help="a zxjyck config.toml: store through ingest.runtime.imap_sink.DbSink")
    parser.add_argument("--settings", required=True, help="ImapTestSettings as JSON")
    parser.add_argument("--holder", default="kill-test", help='"auto": this host and PID, as zxjyck names itself')
    parser.add_argument("--store-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = ImapTestSettings(**json.loads(args.settings))
    if args.db:
        sink: object = SqliteSink(args.db)
    else:
        from ingest.app import open_app
        from ingest.config import load_settings
        from ingest.runtime.imap_sink import DbSink

        sink = DbSink(open_app(load_settings(Path(args.config), environ={})))
    slow = SlowSink(sink, args.store_delay)
    holder = f"{socket.gethostname()}:{os.getpid()}" if args.holder == "auto" else args.holder
    result = poll_once(settings, slow, holder=holder, connector=partial(connect))  # type: ignore[arg-type]
    print(json.dumps({"fetched": result.fetched, "new": result.new, "at": datetime.now(UTC).isoformat()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker())
