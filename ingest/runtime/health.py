"""The library functions behind the CLI commands and the scheduler jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from ingest.app import App
from store.db import session_scope
from store.models import Message, PollRun
from store.repo import count_by_status, outbox_counts

log = logging.getLogger(__name__)
LOCAL_POLL_SECONDS = 5  # the pickup interval of a local Maildir (no [imap] account)


def poll_interval(app: App) -> timedelta:
    """How often the daemon picks mail up: what `status` measures a stalled pickup against."""
    accounts = app.settings.imap_accounts()
    return timedelta(seconds=min(a.poll_interval_seconds for a in accounts) if accounts else LOCAL_POLL_SECONDS)


@dataclass
class Health:
    counts: dict[str, int]
    total: int
    backlog: int
    last_poll: PollRun | None
    last_ok_poll: PollRun | None
    outbox: dict[str, int]
    problems: list[str]
    markings: dict[str, str] = field(default_factory=dict)  # IMAP source -> marking strategy last used

    @property
    def healthy(self) -> bool:
        return not self.problems


def health(app: App) -> Health:
    """Counts and the verdict of `zxjyck status`: unhealthy when pickup has stalled or notices failed."""
    with session_scope(app.engine) as session:
        counts = count_by_status(session)
        total = session.exec(select(func.count()).select_from(Message)).one()
        last = session.exec(select(PollRun).order_by(PollRun.started_at.desc()).limit(1)).first()
        last_ok = session.exec(select(PollRun).where(PollRun.ok).order_by(PollRun.started_at.desc()).limit(1)).first()
        outbox = outbox_counts(session)
        markings: dict[str, str] = {}
        for run in session.exec(select(PollRun).where(PollRun.marking.is_not(None))
                                .order_by(PollRun.started_at.desc()).limit(200)):
            markings.setdefault(run.source, run.marking)
    problems: list[str] = []
    if last is not None and not last.ok:
        problems.append(f"最近一次收取失败 last poll failed: {last.error}")
    stale_after = 3 * poll_interval(app)
    daemon_silent = last is not None and last.trigger == "daemon" and (
        last_ok is None or last_ok.finished_at < app.now() - stale_after)
    if daemon_silent:  # a manual `zxjyck poll` now and then is not a stalled daemon
        problems.append(f"超过 {int(stale_after.total_seconds())} 秒没有成功收取 no successful poll for 3 intervals")
    if outbox.get("failed"):
        problems.append(f"{outbox['failed']} 封通知发送失败 outbox failures (see zxjyck digest)")
    return Health(counts, total, counts.get("received", 0), last, last_ok, outbox, problems, markings)
