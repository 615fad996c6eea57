"""What is wrong with the service now: `zxjyck status`, the console's health page, /healthz and the alerts."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from ingest.app import App
from store.alerts import last_beat
from store.db import session_scope
from store.models import Message, Outbox, PollRun
from store.repo import count_by_status, failing_now, outbox_counts, unresolved_failure

log = logging.getLogger(__name__)
LOCAL_POLL_SECONDS = 5  # the pickup interval of a local Maildir (no [imap] account)


def poll_interval(app: App) -> timedelta:
    """How often the daemon picks mail up: what `status` measures a stalled pickup against."""
    accounts = app.settings.imap_accounts()
    return timedelta(seconds=min(a.poll_interval_seconds for a in accounts) if accounts else LOCAL_POLL_SECONDS)


@dataclass(frozen=True)
class DiskSpace:
    path: str  # a folder the store (SQLite file) or the archive lives in
    free_mb: int


def disk_space(app: App) -> list[DiskSpace]:
    """Free space where the SQLite file and the archive live (one entry per file system)."""
    from sqlalchemy.engine import make_url

    folders = [app.settings.archive_dir]
    url = make_url(app.settings.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folders.insert(0, Path(url.database).parent)
    found: dict[int, DiskSpace] = {}
    for folder in folders:
        probe = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        usage = shutil.disk_usage(probe)
        found.setdefault(probe.stat().st_dev, DiskSpace(str(folder), usage.free // (1024 * 1024)))
    return list(found.values())


def daemon_stale(app: App, last_beat: datetime | None) -> bool:
    """A daemon ran on this store and has not completed a cycle (its heartbeat) for three poll intervals."""
    return last_beat is not None and last_beat < app.now() - 3 * poll_interval(app)


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
    # each current fault by name, True when it holds: what /healthz answers (no personal data)
    checks: dict[str, bool] = field(default_factory=dict)
    notices_failing: int = 0  # failed for a reason of ours, not dismissed (store.repo.failing_now)
    unresolved: int = 0  # failed or bounced, neither resent nor dismissed: for staff (outbox page)
    disk: list[DiskSpace] = field(default_factory=list)
    last_beat: datetime | None = None  # the daemon's last heartbeat (None: no daemon ever ran on this store)

    @property
    def healthy(self) -> bool:
        return not self.problems


def health(app: App) -> Health:
    """Counts and the verdict of `zxjyck status`, for faults that hold now: pickup stalled, the last poll failed,
    notices failing (not bounced, not dismissed), low disk space, a daemon that stopped beating."""
    with session_scope(app.engine) as session:
        counts = count_by_status(session)
        total = session.exec(select(func.count()).select_from(Message)).one()
        last = session.exec(select(PollRun).order_by(PollRun.started_at.desc()).limit(1)).first()
        last_ok = session.exec(select(PollRun).where(PollRun.ok).order_by(PollRun.started_at.desc()).limit(1)).first()
        outbox = outbox_counts(session)
        failing = session.exec(select(func.count()).select_from(Outbox).where(failing_now())).one()
        unresolved = session.exec(select(func.count()).select_from(Outbox).where(unresolved_failure())).one()
        beat = last_beat(session)
        markings: dict[str, str] = {}
        for run in session.exec(select(PollRun).where(PollRun.marking.is_not(None))
                                .order_by(PollRun.started_at.desc()).limit(200)):
            markings.setdefault(run.source, run.marking)
    problems: list[str] = []
    checks = {"last_poll": last is not None and not last.ok}
    if checks["last_poll"]:
        problems.append(f"最近一次收取失败 last poll failed: {last.error}")
    stale_after = 3 * poll_interval(app)
    daemon_silent = last is not None and last.trigger == "daemon" and (
        last_ok is None or last_ok.finished_at < app.now() - stale_after)
    checks["pickup"] = daemon_silent  # a manual `zxjyck poll` now and then is not a stalled daemon
    if daemon_silent:
        problems.append(f"超过 {int(stale_after.total_seconds())} 秒没有成功收取 no successful poll for 3 intervals")
    checks["daemon"] = daemon_stale(app, beat)
    if checks["daemon"]:
        problems.append(f"常驻服务超过 {int(stale_after.total_seconds())} 秒没有心跳 the daemon has not run a cycle "
                        "for 3 intervals")
    checks["notices"] = failing > 0
    if failing:
        problems.append(f"{failing} 封通知发送失败，待重发或标记已处理 outbox failures "
                        "(zxjyck outbox list; resend or dismiss)")
    disk = disk_space(app)
    low = [d for d in disk if d.free_mb < app.settings.alerts.min_free_mb]
    checks["disk"] = bool(low)
    for d in low:
        problems.append(f"磁盘剩余空间不足 low disk space: {d.path} {d.free_mb} MB "
                        f"(< [alerts] min_free_mb {app.settings.alerts.min_free_mb})")
    return Health(counts, total, counts.get("received", 0), last, last_ok, outbox, problems, markings,
                  checks=checks, notices_failing=failing, unresolved=unresolved, disk=disk, last_beat=beat)
