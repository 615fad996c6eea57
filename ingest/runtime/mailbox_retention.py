"""The daily retention job: `[retention]` in the store (ingest.workflows.retention) and, where configured,
`[imap] expunge_after_days` on the server (ingest.sources.imap_expunge)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select

from ingest.app import App
from ingest.sources.imap_expunge import expunge_archived
from ingest.workflows.retention import purge
from store.db import session_scope
from store.models import AuditEntry, Message

log = logging.getLogger(__name__)


def is_archived(app: App, digest: str) -> bool:
    """A committed row holds exactly these bytes, and their archive copy is here (or was removed on purpose
    by retention or erasure after it had been)."""
    with session_scope(app.engine) as session:
        row = session.exec(select(Message).where(Message.sha256 == digest)).first()
    return row is not None and (row.raw_removed_at is not None or app.archive.has(digest))


def expunge_old_mail(app: App, actor: str) -> int:
    """Delete archived mail older than ``expunge_after_days`` from every mailbox that sets it; how many."""
    total = 0
    for account in app.settings.imap_accounts():
        if not account.expunge_after_days:
            continue
        before = app.now() - timedelta(days=account.expunge_after_days)
        result = expunge_archived(account, before, lambda digest: is_archived(app, digest))
        for problem in result.problems:
            log.warning("IMAP %s: %s", account.username, problem)
        if result.expunged:
            with session_scope(app.engine) as session:
                session.add(AuditEntry(at=app.now(), actor=actor[:255], action="expunge",
                                       detail=f"{account.username}/{account.processed_folder or account.folder}: "
                                              f"{result.expunged} removed from the server, {result.kept} kept"))
        total += result.expunged
    return total


def retention_job(app: App) -> None:
    """The daemon's daily job: purge the store, then expunge the server where configured."""
    purge(app, "zxjyck-daemon")
    expunge_old_mail(app, "zxjyck-daemon")
