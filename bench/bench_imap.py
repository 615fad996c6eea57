"""How fast ingest.sources.imap is against a real Dovecot on 127.0.0.1. Prints figures, asserts nothing.

  python bench/bench_imap.py [--messages 2000] [--body-bytes 20000] [--empty-sizes 1000,50000]

(a) backlog: poll_once into a minimal sink versus the floor, a bare imapclient
    UID FETCH of the same mailbox in batches of the same size (no sink, no marking);
(b) a poll that finds nothing new, in folders of each --empty-sizes messages
    (written straight into the Maildir, then indexed by Dovecot once before timing).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient import IMAPClient  # noqa: E402

from ingest.sources.imap import FETCH_ITEMS, account_name, poll_once
from tests.dovecot import DovecotServer, ImapAccount  # noqa: E402
from tests.imap_helpers import make_message  # noqa: E402


class MinimalSink:
    """Dedupe by sha256 in memory; no archive, no database: the cost of the poller alone."""

    def __init__(self) -> None:
        self.hashes: set[bytes] = set()
        self.cursors: dict[tuple[str, str], tuple[int, int]] = {}

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.cursors.get((account, folder))

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.cursors[(account, folder)] = (uidvalidity, last_uid)

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        digest = hashlib.sha256(raw).digest()
        if digest in self.hashes:
            return False
        self.hashes.add(digest)
        return True

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        return True

    def release_lease(self, name: str, holder: str) -> None:
        return None


def fill_maildir(server: DovecotServer, account: ImapAccount, count: int, body_bytes: int) -> float:
    """Write ``count`` messages straight into the account's Maildir; return seconds taken."""
    started = time.perf_counter()
    root = server.maildir(account.username)
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    stamp = int(time.time()) - 86400
    for i in range(count):
        raw = make_message(i, body_bytes=body_bytes, seed=count)
        path = root / "cur" / f"{stamp}.M{i}P{os.getpid()}.bench,S={len(raw)}:2,"
        path.write_bytes(raw)
        os.utime(path, (stamp + i, stamp + i))  # Dovecot's INTERNALDATE for Maildir is the mtime
    if os.geteuid() == 0:
        for directory, _, files in os.walk(root):
            shutil.chown(directory, "mail", "mail")
            for name in files:
                shutil.chown(os.path.join(directory, name), "mail", "mail")
    return time.perf_counter() - started


def index_folder(account: ImapAccount) -> tuple[float, int, int]:
    """First SELECT (Dovecot builds its index). Returns (seconds, messages, UIDVALIDITY)."""
    started = time.perf_counter()
    with account.client() as client:
        info = client.select_folder("INBOX", readonly=True)
    return time.perf_counter() - started, int(info[b"EXISTS"]), int(info[b"UIDVALIDITY"])


def bare_fetch_seconds(account: ImapAccount, batch_size: int) -> tuple[float, int]:
    """The floor: one connection, UID SEARCH, UID FETCH BODY.PEEK[] INTERNALDATE in batches."""
    started = time.perf_counter()
    total = 0
    client = IMAPClient(account.host, account.port, ssl=False, timeout=120)
    client.normalise_times = False
    client.login(account.username, account.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    for start in range(0, len(uids), batch_size):
        for data in client.fetch(uids[start:start + batch_size], list(FETCH_ITEMS)).values():
            total += len(data[b"BODY[]"])
    client.logout()
    return time.perf_counter() - started, total


def bench_backlog(server: DovecotServer, messages: int, body_bytes: int, batch_size: int) -> None:
    account = ImapAccount(server)
    fill_seconds = fill_maildir(server, account, messages, body_bytes)
    index_seconds, exists, _ = index_folder(account)
    print(f"(a) backlog of {exists} messages of ~{body_bytes // 1000} kB "
          f"(written in {fill_seconds:.1f}s, indexed by the first SELECT in {index_seconds:.2f}s)")
    bare_fetch_seconds(account, batch_size)  # warm the page cache for both runs alike
    floor, total_bytes = bare_fetch_seconds(account, batch_size)
    settings = account.settings(batch_size=batch_size, timeout_seconds=120)
    sink = MinimalSink()
    started = time.perf_counter()
    result = poll_once(settings, sink, holder="bench")
    polled = time.perf_counter() - started
    mb = total_bytes / 1e6
    print(f"    bare imapclient fetch (floor): {floor:7.2f}s  {exists / floor:8.0f} msg/s  {mb / floor:7.1f} MB/s")
    print(f"    poll_once, minimal sink:       {polled:7.2f}s  {result.new / polled:8.0f} msg/s  "
          f"{mb / polled:7.1f} MB/s  (new={result.new}, keyword set on each)")
    print(f"    poll_once / floor: {polled / floor:.2f}x")


def bench_empty_poll(server: DovecotServer, size: int, repeats: int) -> None:
    account = ImapAccount(server)
    fill_seconds = fill_maildir(server, account, size, 2_000)
    index_seconds, exists, uidvalidity = index_folder(account)
    settings = account.settings()
    sink = MinimalSink()
    sink.set_cursor(account_name(settings), "INBOX", uidvalidity, exists)  # everything already ingested
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = poll_once(settings, sink, holder="bench")
        timings.append(time.perf_counter() - started)
        fetched = result.fetched
    print(f"(b) poll finding nothing new in a folder of {exists} messages "
          f"(filled in {fill_seconds:.1f}s, first SELECT {index_seconds:.2f}s): "
          f"median {statistics.median(timings) * 1000:.1f} ms, min {min(timings) * 1000:.1f} ms "
          f"over {repeats} polls (fetched {fetched}), connect+login+SELECT+UID SEARCH included")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="backlog size for (a)")
    parser.add_argument("--body-bytes", type=int, default=20_000, help="approximate size of each message")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--empty-sizes", default="1000,50000", help="folder sizes for (b), comma-separated")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    server = DovecotServer()
    server.start()
    try:
        bench_backlog(server, args.messages, args.body_bytes, args.batch_size)
        for size in (int(s) for s in args.empty_sizes.split(",") if s.strip()):
            bench_empty_poll(server, size, args.repeats)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
