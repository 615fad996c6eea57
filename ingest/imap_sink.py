"""The IMAP source wired to the store: the database-backed IngestSink and one pickup cycle."""

from __future__ import annotations

import logging
from datetime import datetime

from ingest.app import App
from ingest.imap import poll_once
from ingest.pipeline import IngestReport, store_raw
from store import repo

log = logging.getLogger(__name__)


class DbSink:
    """ingest.imap.IngestSink on the database and the raw archive."""

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

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        return repo.acquire_lease(self.app.engine, name, holder, ttl_seconds, self.app.now())

    def release_lease(self, name: str, holder: str) -> None:
        repo.release_lease(self.app.engine, name, holder)


def poll_imap(app: App, account, report: IngestReport, holder: str) -> None:
    """Fetch what is new in one IMAP mailbox into the store (processing happens afterwards)."""
    result = poll_once(account, DbSink(app), holder=holder)
    report.seen += result.fetched
    report.new += result.new
    report.duplicates += result.duplicates
    report.unreadable.extend(result.problems)
