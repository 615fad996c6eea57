"""The data flow of docs/DESIGN.md: store raw -> decode -> classify -> extract -> entities -> outbox.

Each step is idempotent. Storing commits the raw bytes and the message row
before anything is acknowledged to the source; processing runs later, from
the archived bytes, in one transaction per message, so a crash at any point
and a rerun reach the same end state. A failure stays with its message.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc
from sqlmodel import select

from ingest.app import App
from ingest.errors import TransientError
from ingest.pipeline.store import IngestReport
from store import repo
from store.cities import normalize_address
from store.db import database_disk_full, database_location, session_scope
from store.errors import DiskFullError
from store.holders import this_holder
from store.models import FAILED, RECEIVED, Message

if TYPE_CHECKING:
    from ingest.pipeline.process import WorkflowStep

log = logging.getLogger(__name__)


# PostgreSQL advisory locks are database-wide: the first key names this schema's processing claims,
# so installations (or test runs) in other schemas of the same database never block each other.
CLAIM_SQL = "SELECT pg_try_advisory_lock(hashtext(current_schema() || ':zxjyck-processing'), %s)"
UNCLAIM_SQL = "SELECT pg_advisory_unlock(hashtext(current_schema() || ':zxjyck-processing'), %s)"


CLAIM_SECONDS = 900  # a claim outlives the slowest message (OCR of a long scan); a killed holder's goes at once


@contextmanager
def claim(app: App, pk: int) -> Iterator[bool]:
    """Claim one message for processing across the processes (and hosts) sharing the store.

    PostgreSQL: a session-level advisory lock held while the message is processed. SQLite: a row in the
    leases table, taken in one atomic statement (``store.repo.claim``) and dropped afterwards; a claim left
    by a killed process of this host is taken over at once, another's after ``CLAIM_SECONDS``. Either way
    another process skips the message instead of analysing and writing it a second time.
    """
    if app.engine.dialect.name != "postgresql":
        name, holder = f"message:{pk}", this_holder()
        got = repo.claim(app.engine, name, holder, CLAIM_SECONDS, app.now())
        try:
            yield got
        finally:
            if got:
                repo.release_lease(app.engine, name, holder)
        return
    with app.engine.connect() as conn:
        got = conn.exec_driver_sql(CLAIM_SQL, (pk,)).scalar()
        try:
            yield bool(got)
        finally:
            if got:
                conn.exec_driver_sql(UNCLAIM_SQL, (pk,))
            conn.commit()


RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """How long a message waits after its ``attempts``-th transient failure: 1, 2, 4 ... minutes, at most 1 hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def due_for_processing(msg: Message, now: datetime) -> bool:
    """A received message is due unless a transient failure put it on hold for its backoff."""
    if msg.status != RECEIVED or not msg.attempts or msg.processed_at is None:
        return msg.status == RECEIVED
    return now >= msg.processed_at + retry_delay(msg.attempts)


def pending_messages(app: App) -> list[Message]:
    now = app.now()
    with session_scope(app.engine) as session:
        rows = list(session.exec(select(Message).where(Message.status == RECEIVED).order_by(Message.id)))
        for row in rows:
            session.expunge(row)
        return [row for row in rows if due_for_processing(row, now)]


def weekly_first(app: App, rows: list[Message]) -> list[Message]:
    """The registered cities' messages (their weekly reports) first, then everyone else's, each in arrival order.

    An application with a scanned form costs seconds of OCR a page: a backlog of
    them must not hold up the weekly reports due on Monday afternoon."""
    registered = {address for addresses in app.registered_cities().values() for address in addresses}
    return sorted(rows, key=lambda row: normalize_address(row.from_addr or "") not in registered)


def process_pending(app: App, report: IngestReport | None = None, *, workflows: WorkflowStep) -> IngestReport:
    """Process every received message once; stops between messages when the service is stopping.

    ``workflows`` is what runs once a message is classified (ingest.workflows.dispatch.run_workflows).

    The next messages are read, decoded and analysed in helper threads while the
    current one is classified and written: as many at once as the analyser can
    parse side by side (``parallel``: the sandbox pool has one sandbox per core;
    an analyser without it gets one helper thread, so it is never used by two
    threads). Messages are written one at a time, in order, by this thread. Each is claimed (``claim``)
    before it is prepared: one that another run holds is left to that run, so two runs at once share the
    work instead of both writing the same message.
    """
    from ingest.pipeline.process import prepare_message

    report = report or IngestReport()
    pending = weekly_first(app, pending_messages(app))
    if not pending:
        return report
    analyzer = app.analyzer  # made here, before the helper threads start: one analyser for all of them
    ahead = max(1, int(getattr(analyzer, "parallel", 1) or 1))
    waiting = iter(pending)
    inflight: deque[tuple[Message, ExitStack, Future]] = deque()

    def prepare_next(pool: ThreadPoolExecutor) -> None:
        """Claim the next messages no other process holds and start preparing them, ``ahead`` at a time."""
        while len(inflight) < ahead:
            for msg in waiting:
                held = ExitStack()
                if held.enter_context(claim(app, msg.id)):
                    inflight.append((msg, held, pool.submit(prepare_message, app, msg)))
                    break
                held.close()  # another process has it: it is that one's to finish
            else:
                return

    finished = 0
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="zxjyck-prepare") as pool:
        prepare_next(pool)
        try:
            while inflight:
                msg, held, current = inflight.popleft()
                with held:
                    if app.stopping.is_set():
                        current.cancel()
                        log.info("stopping: %d message(s) left for the next start", len(pending) - finished)
                        break
                    prepare_next(pool)
                    report.merge_status(finish_prepared(app, msg.id, current, workflows=workflows))
                    finished += 1
        finally:
            for _msg, held, later in inflight:
                later.cancel()
                held.close()
    return report


def finish_prepared(app: App, pk: int, prepared: Future, *, workflows: WorkflowStep) -> str:
    """Write a message prepared by the helper thread; never raises (a failure stays with the message)."""
    try:
        from ingest.pipeline.process import finish_message

        return finish_message(app, prepared.result(), only_if_received=True, workflows=workflows)
    except Exception as exc:
        return _after_failure(app, pk, exc)


def process_one(app: App, pk: int, only_if_received: bool = False, *, workflows: WorkflowStep) -> str:
    """Process one stored message from its archived bytes; returns its new status. Never raises."""
    try:
        from ingest.pipeline.process import process_message

        return process_message(app, pk, only_if_received=only_if_received, workflows=workflows)
    except Exception as exc:
        return _after_failure(app, pk, exc)


# errno values that say "the machine, not the message": space, quota, memory, descriptors, busy, I/O
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.EAGAIN,
                              errno.EBUSY, errno.EIO, errno.EINTR, errno.ETIMEDOUT})


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(exc: BaseException) -> bool:
    """Whether a processing failure is the environment's (disk full, database busy or gone, lock timeout).

    Those heal by themselves; the message stays ``received`` and is tried again.
    Anything else (a defect in the message, or a bug) fails the message.
    """
    for current in causes(exc):
        if isinstance(current, (TransientError, sa_exc.OperationalError, sa_exc.TimeoutError)):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (TimeoutError, ConnectionError)):
            return True
        if isinstance(current, OSError) and current.errno in TRANSIENT_ERRNOS:
            return True
    return False


def _error_text(exc: BaseException) -> str:
    """One short line naming the error, without the SQL and parameters SQLAlchemy adds (they quote the mail)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{inner.__class__.__name__}: {text[:200]}" if text else inner.__class__.__name__


def disk_full(app: App, exc: BaseException) -> DiskFullError | None:
    """The full disk behind a failure, naming where it is (the store's, the archive's or a file's folder)."""
    for current in causes(exc):
        if isinstance(current, DiskFullError):
            return current
        if isinstance(current, sa_exc.OperationalError) and database_disk_full(current):
            return DiskFullError(database_location(app.engine), "database")
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            where = str(Path(os.fsdecode(current.filename)).parent) if current.filename else str(app.archive.root)
            return DiskFullError(where, os.strerror(current.errno))
    return None


def _after_failure(app: App, pk: int, exc: Exception) -> str:
    """Record a processing failure: transient ones leave the message received for a later retry.

    A full disk stops the run instead (``DiskFullError``, naming the full place): it is the operator's
    condition, not the message's, so the message is left exactly as it was, with no retry delay, and the
    next run of any kind (run, poll, ingest) processes it and the rest once space is back."""
    full = disk_full(app, exc)
    if full is not None:
        log.info("processing stopped at message id=%s: %s", pk, full)
        raise full from exc
    if is_transient(exc):
        log.warning("processing message id=%s hit a transient error, will retry: %s", pk, _error_text(exc))
        log.debug("transient failure of message id=%s", pk, exc_info=exc)
        try:
            return _mark_retry(app, pk, exc)
        except Exception as again:  # the database is still unusable: the row stays as it was (received)
            log.warning("could not note the transient error on message id=%s: %s", pk, _error_text(again))
            return RECEIVED
    log.error("processing message id=%s failed", pk, exc_info=exc)  # traceback only with --debug
    return _mark_failed(app, pk, exc)


TRANSIENT_NOTE = "暂时性错误"


def _mark_retry(app: App, pk: int, exc: Exception) -> str:
    with session_scope(app.engine) as session:
        msg = session.get(Message, pk)
        if msg is None or msg.status != RECEIVED:
            return msg.status if msg is not None else RECEIVED
        msg.attempts += 1
        msg.processed_at = app.now()  # the last attempt: the backoff counts from here
        delay = retry_delay(msg.attempts)
        note = (f"{TRANSIENT_NOTE}（{_error_text(exc)}），邮件保留为待处理，第 {msg.attempts} 次尝试，"
                f"{int(delay.total_seconds() // 60)} 分钟后重试 / transient error, kept received, "
                f"retried after {int(delay.total_seconds() // 60)} min")
        msg.problems = [*(p for p in msg.problems if not p.startswith(TRANSIENT_NOTE)), note]
        session.add(msg)
    return RECEIVED


def _mark_failed(app: App, pk: int, exc: Exception) -> str:
    reason = (f"处理失败（内部错误 {exc.__class__.__name__}），已记录，管理员修复后可重放 / "
              f"processing failed (internal error {exc.__class__.__name__}); an administrator can replay it")
    with session_scope(app.engine) as session:
        msg = session.get(Message, pk)
        if msg is None:
            return FAILED
        msg.status = FAILED
        msg.attempts += 1
        msg.problems = [*msg.problems, reason] if reason not in msg.problems else msg.problems
        msg.processed_at = app.now()
        session.add(msg)
    return FAILED

