"""Telling the administrators ([alerts] to) when the service is unwell: once when a condition starts, once when
it clears, whoever restarts in between.

The daemon checks after every cycle and every poll interval (``alert_job``; that job is also its heartbeat):

- ``imap_login`` / ``smtp_login``: the server refused our login (a revoked 授权码), as this process last saw it;
- ``stalled``: no successful poll for ``[alerts] stalled_minutes``;
- ``notices``: notices failed for a reason of ours (store.repo.failing_now; a bounce is for staff);
- ``disk``: less than ``[alerts] min_free_mb`` free where the SQLite file or the archive lives;
- ``ocr``: the OCR worker failed on ``OCR_FAILURES`` scans in a row.

A dead daemon cannot mail: ``zxjyck status --alert`` (a systemd timer, every 5 minutes) owns ``daemon``: the
heartbeat is older than three poll intervals. It queues the alert like the daemon would and sends it at once.
Incidents live in the store (store.alerts); each mail is an outbox row queued in the transaction that records
its incident, with a dedupe key per incident and change (notify.alerts).
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ingest.app import App
from ingest.outbound import outbox_settings
from ingest.runtime.health import Health, health
from notify.alerts import queue_alert, send_now
from notify.compose import AlertContext
from store import alerts as incidents
from store.db import session_scope
from store.holders import this_holder
from store.models import OUTBOX_PENDING, Outbox, PollRun
from zxjyck.labels import ALERT

log = logging.getLogger(__name__)
OCR_FAILURES = 3  # scans in a row the OCR worker did not finish before it counts as crashing repeatedly
DAEMON_CONDITIONS = ("imap_login", "smtp_login", "stalled", "notices", "disk", "ocr")
WATCHDOG_CONDITION = "daemon"


def evaluate(app: App, running_since: datetime, found: Health | None = None) -> dict[str, str | None]:
    """Each condition the daemon can judge now: its detail when it holds, None when it does not. A condition
    this process has not seen yet (no login tried since the start) is left out: its incident stays as it was."""
    now, cfg = app.now(), app.settings.alerts
    found = found or health(app)
    state: dict[str, str | None] = {key: app.observed[key] for key in ("imap_login", "smtp_login")
                                    if key in app.observed}
    with session_scope(app.engine) as session:
        last_ok = session.exec(select(PollRun.finished_at).where(PollRun.ok, PollRun.finished_at.is_not(None))
                               .order_by(PollRun.finished_at.desc()).limit(1)).first()
    since = last_ok or running_since
    state["stalled"] = (f"最近一次成功收取：{_local(app, last_ok) if last_ok else '从未'}，已超过 "
                        f"{cfg.stalled_minutes} 分钟 / no successful poll for {cfg.stalled_minutes} minutes"
                        if since < now - timedelta(minutes=cfg.stalled_minutes) else None)
    state["notices"] = (f"{found.notices_failing} 封通知发送失败（见控制台“发件箱”或 zxjyck outbox list）/ "
                        f"{found.notices_failing} notices failed" if found.notices_failing else None)
    low = [d for d in found.disk if d.free_mb < cfg.min_free_mb]
    state["disk"] = ("；".join(f"{d.path} 剩余 {d.free_mb} MB" for d in low)
                     + f"（下限 [alerts] min_free_mb = {cfg.min_free_mb} MB）" if low else None)
    stats = getattr(app.analyzer_if_started(), "stats", None)
    failures = getattr(stats, "ocr_failures_in_row", None)
    if failures is not None and (failures or getattr(stats, "scans", 0)):
        state["ocr"] = (f"OCR 识别进程连续 {failures} 次未能完成（异常终止、超出内存或超时）/ the OCR worker failed "
                        f"{failures} times in a row" if failures >= OCR_FAILURES else None)
    return state


def record(app: App, state: dict[str, str | None], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """Write what was found, and queue every mail owed for ``keys`` ([alerts] to), in one transaction.
    Returns the (condition, "start"|"clear") changes seen now."""
    for attempt in range(3):  # another process recording the same incident at the same moment: read it again
        try:
            return _record_once(app, state, keys)
        except IntegrityError:
            if attempt == 2:
                raise
    return []


def _record_once(app: App, state: dict[str, str | None], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    now = app.now()
    changes: list[tuple[str, str]] = []
    with session_scope(app.engine) as session:
        for key in keys:
            if key in state:
                change = incidents.observe(session, key, state[key] is not None, state[key] or "", now)
                if change:
                    changes.append((key, change))
                    log.log(logging.WARNING if change == "start" else logging.INFO, "alert %s %s: %s", key,
                            "started" if change == "start" else "cleared", state[key] or "")
        if app.settings.alerts.to:
            _queue_owed(app, session, set(keys), now)
    return changes


def _queue_owed(app: App, session: Session, keys: set[str], now: datetime) -> list[Outbox]:
    cfg, tz = outbox_settings(app.settings), app.settings.schedule.calendar().tz
    queued = []
    for row, change in incidents.unmailed(session, keys):
        context = AlertContext(condition=ALERT.get(row.key, row.key), detail=row.detail, started_at=row.started_at,
                               cleared_at=row.cleared_at if change == "clear" else None, host=socket.gethostname(),
                               letter_date=now.astimezone(tz).date())
        queued.append(queue_alert(session, cfg, to=app.settings.alerts.to, condition=row.key, context=context,
                                  change=change, now=now))
        incidents.mark_mailed(row, change)
        session.add(row)
    return queued


@dataclass
class Monitor:
    """The daemon's side: heartbeat, the checks, the mail (queued, then sent with the outbox)."""

    app: App
    started_at: datetime
    holder: str = field(default_factory=this_holder)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> list[tuple[str, str]]:
        from ingest.workflows.reminders import deliver

        with self._lock:  # the interval job and the cycle may both call it
            with session_scope(self.app.engine) as session:
                incidents.beat(session, self.holder, self.started_at, self.app.now())
            changes = record(self.app, evaluate(self.app, self.started_at), DAEMON_CONDITIONS)
        if changes and self.app.settings.alerts.to:
            deliver(self.app)
        return changes


@dataclass
class WatchdogResult:
    stale: bool
    last_beat: datetime | None
    changes: list[tuple[str, str]]
    sent: int
    unsent: list[str]  # why a due alert could not be sent now (it stays queued for the next run)
    health: Health


def watchdog(app: App) -> WatchdogResult:
    """`zxjyck status --alert`: judge the daemon's heartbeat; mail its stop and its return once each, directly."""
    found = health(app)
    stale = found.checks["daemon"]
    detail = (f"最后一次心跳：{_local(app, found.last_beat)}；超过 3 个收取周期没有心跳 / no heartbeat for three poll "
              "intervals" if found.last_beat else "")
    changes = record(app, {WATCHDOG_CONDITION: detail if stale else None}, (WATCHDOG_CONDITION,))
    sent, unsent = 0, []
    with session_scope(app.engine) as session:
        due = list(session.exec(select(Outbox.id).where(Outbox.kind == "alert", Outbox.status == OUTBOX_PENDING,
                                                        Outbox.dedupe_key.startswith(f"alert:{WATCHDOG_CONDITION}:"))
                                .order_by(Outbox.id)))
    retry = outbox_settings(app.settings).retry
    for row_id in due:
        report = send_now(app.engine, app.transport, row_id, retry, app.now())
        sent += report.sent
        if not report.sent:
            with session_scope(app.engine) as session:
                unsent.append((session.get(Outbox, row_id).reason or "")[:300])
    return WatchdogResult(stale, found.last_beat, changes, sent, unsent, found)


def _local(app: App, moment: datetime) -> str:
    return moment.astimezone(app.settings.schedule.calendar().tz).strftime("%Y-%m-%d %H:%M:%S %z")
