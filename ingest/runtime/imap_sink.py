"""The IMAP source wired to the store: the database-backed IngestSink and one pickup cycle."""

from __future__ import annotations

import logging
from datetime import datetime

from ingest.app import App
from ingest.pipeline.store import IngestReport, store_raw, store_raw_batch, store_spooled
from ingest.sources.imap import DEFAULT_MAX_ATTEMPTS, PollResult, poll_once
from ingest.sources.imap_errors import ImapLeaseHeldError
from store import repo
from store.archive import Spool

log = logging.getLogger(__name__)


class DbSink:
    """ingest.sources.imap.IngestSink on the database and the raw archive."""

    def __init__(self, app: App):
        self.app = app

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None:
        return repo.get_cursor(self.app.engine, account, folder)

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        repo.set_cursor(self.app.engine, account, folder, uidvalidity, last_uid, self.app.now())

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        _row, created = store_raw(self.app, raw, received_at=received_at, received_source="internaldate",
                                  source="imap", source_ref=source_ref)
        return created

    def store_batch(self, items: list[tuple[bytes, datetime, str]]) -> list[bool]:
        """(raw, received_at, source_ref) of a fetched batch, archived and committed at once; new or not, each."""
        stored = store_raw_batch(self.app, [(raw, received_at, "internaldate", "imap", ref)
                                            for raw, received_at, ref in items])
        return [created for _row, created in stored]
    def spool(self) -> Spool:
        return self.app.archive.spool()

    def store_spooled(self, spool: Spool, received_at: datetime, source_ref: str) -> bool:
        _row, created = store_spooled(self.app, spool, received_at=received_at, received_source="internaldate",
                                      source="imap", source_ref=source_ref)
        return created

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        return repo.acquire_lease(self.app.engine, name, holder, ttl_seconds, self.app.now())

    def release_lease(self, name: str, holder: str) -> None:
        repo.release_lease(self.app.engine, name, holder)

    def lease_info(self, name: str) -> tuple[str, datetime] | None:
        return repo.lease_info(self.app.engine, name)

    def take_over_lease(self, name: str, old_holder: str, holder: str, ttl_seconds: int) -> bool:
        return repo.take_over_lease(self.app.engine, name, old_holder, holder, ttl_seconds, self.app.now())


def poll_imap(app: App, account, report: IngestReport, holder: str) -> PollResult:
    """Fetch what is new in one IMAP mailbox into the store (processing happens afterwards).

    A manual poll (`zxjyck poll`) tries the server once (the daemon retries with
    backoff) and raises ImapLeaseHeldError when a live poller holds the lease.
    """
    manual = app.trigger == "manual"
    result = poll_once(account, DbSink(app), holder=holder, max_attempts=1 if manual else DEFAULT_MAX_ATTEMPTS)
    if result.skipped and manual:
        expires = result.lease_expires_at
        until = app.settings.schedule.calendar().local(expires).strftime("%Y-%m-%d %H:%M:%S") if expires else "?"
        raise ImapLeaseHeldError(
            f"{account.username}@{account.host}/{account.folder} 正由 {result.lease_holder or '另一进程'} 收取，"
            f"租约至 {until} / being polled by {result.lease_holder or 'another process'}, lease until {until}")
    report.seen += result.fetched
    report.new += result.new
    report.duplicates += result.duplicates
    report.unreadable.extend(result.problems)
    return result
