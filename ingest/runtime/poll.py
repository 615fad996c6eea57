"""The library functions behind the CLI commands and the scheduler jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from ingest.app import App
from ingest.errors import IngestError
from ingest.pipeline.run import process_pending
from ingest.pipeline.store import IngestReport, store_items
from ingest.sources.local import check_paths, iter_paths, maildir_items
from ingest.workflows import reminders as notices
from ingest.workflows.dispatch import run_workflows
from store.db import session_scope
from store.holders import this_holder
from store.models import PollRun

log = logging.getLogger(__name__)


def ingest_paths(app: App, paths: Iterable[str], progress: Callable[[], None] | None = None) -> IngestReport:
    """`zxjyck ingest`: store every message found under the paths, then process the new ones."""
    checked = check_paths(paths)
    report = IngestReport()
    store_items(app, iter_paths(checked), report, progress)
    process_pending(app, report, workflows=run_workflows)
    notices.deliver(app)
    return report


def _record_poll(app: App, source: str, started: datetime, report: IngestReport, error: str | None,
                 marking: str | None = None) -> None:
    with session_scope(app.engine) as session:
        session.add(PollRun(source=source, started_at=started, finished_at=app.now(), ok=error is None,
                            fetched=report.seen, new=report.new, error=error,
                            trigger=app.trigger, marking=marking))


def pickup(app: App) -> IngestReport:
    """Fetch what is new from the configured sources (every IMAP mailbox, or the local Maildir) and store it.

    A mailbox that fails is recorded (status shows it) and the others are still read; the first
    failure is raised after all were tried.
    """
    report = IngestReport()
    accounts = app.settings.imap_accounts()
    if not accounts:
        started = app.now()
        maildir = app.settings.maildir
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        store_items(app, maildir_items(maildir, subdirs=("new",), mark_seen=True), report)
        _record_poll(app, f"maildir:{maildir}", started, report, None)
        return report
    from ingest.runtime.imap_sink import poll_imap
    from ingest.sources.imap_errors import ImapAuthError, ImapLeaseHeldError

    first_error: IngestError | None = None
    refused: list[str] = []
    for account in accounts:
        started = app.now()
        source = f"imap:{account.username}@{account.host}/{account.folder}"
        part = IngestReport()
        try:
            result = poll_imap(app, account, part, this_holder())
        except ImapLeaseHeldError:
            raise  # another poller is at work: nothing failed, nothing to record
        except IngestError as exc:
            # a manual poll prints the error it raises once; only what it does not raise is logged as an error
            manual_first = app.trigger == "manual" and first_error is None
            log.log(logging.INFO if manual_first else logging.ERROR, "pickup from %s failed: %s", source, exc)
            _record_poll(app, source, started, part, str(exc))
            first_error = first_error or exc
            if isinstance(exc, ImapAuthError):
                refused.append(str(exc))
        else:
            _record_poll(app, source, started, part, None,
                         result.strategy.describe() if result.strategy else None)
        report.seen += part.seen
        report.new += part.new
        report.duplicates += part.duplicates
        report.unreadable.extend(part.unreadable)
    app.observed["imap_login"] = "; ".join(refused) or None
    if first_error is not None:
        raise first_error
    return report


def poll(app: App) -> IngestReport:
    """`zxjyck poll`: one full cycle: pickup, processing, the outbox."""
    report = pickup(app)
    process_pending(app, report, workflows=run_workflows)
    notices.deliver(app)
    return report
