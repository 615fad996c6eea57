"""`zxjyck run`: the long-running service.

One APScheduler runs the jobs, none overlapping itself (max_instances=1,
coalesce): the pickup-process-send cycle on an interval, and a tick that runs
the jobs due at an hour of the service's clock (``App.now()``, not the host's:
zxjyck/clock.py): the late reminders at the deadline, the daily digest. With
IMAP, a watcher thread holds an IDLE (or NOOP-polls when the server has no
IDLE) and runs the cycle at once when mail arrives, so a message is picked up
within seconds; the interval cycle is the safety net.

SIGTERM/SIGINT stop it cleanly: the message in hand finishes (each is its own
transaction; the rest wait for the next start), connections close, exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from ingest.app import App, open_app
from ingest.config import Settings
from ingest.errors import IngestError
from ingest.runtime.health import poll_interval
from store.errors import StoreError
from zxjyck import calendar

log = logging.getLogger(__name__)
WATCHER_MAX_BACKOFF = 60.0
OUTBOX_SECONDS = 20
TICK_SECONDS = 10  # how often the service's clock is compared with the timed jobs' next instants
OCR_IDLE_SECONDS = 300  # an OCR worker (about 0.5 GB resident) that read nothing for this long is stopped


def guarded(name: str, fn: Callable[[App], object], app: App) -> Callable[[], None]:
    """A job body that logs a failure and lets the schedule go on."""

    def job() -> None:
        try:
            fn(app)
        except (IngestError, StoreError) as exc:
            log.error("job %s failed: %s", name, exc)
        except Exception:
            log.exception("job %s crashed", name)

    return job


def reminder_job(app: App) -> None:
    """At the deadline: late reminders for the reporting week that just ended (idempotent per city and week)."""
    from ingest.workflows.reminders import deliver, queue_reminders

    week = app.settings.schedule.calendar().last_deadline_week(app.now())
    result = queue_reminders(app, week)
    log.info("late reminders for week %s: queued=%d already=%d", week, len(result.queued), len(result.already))
    deliver(app)


def catch_up(app: App) -> None:
    """A deadline missed while the daemon was down still gets its reminders, within a day, and only once."""
    cal = app.settings.schedule.calendar()
    week = cal.last_deadline_week(app.now())
    deadline = cal.deadline(week)
    if deadline <= app.now() < deadline + timedelta(days=1) and app.registered_cities():
        reminder_job(app)


class Cycle:
    """The pickup-process-send cycle, with an event the IDLE watcher waits on; the alert checks follow it."""

    def __init__(self, app: App, monitor: Callable[[], object] | None = None):
        self.app = app
        self.done = threading.Event()
        self.monitor = monitor

    def __call__(self) -> None:
        from ingest.runtime.poll import poll

        try:
            guarded("poll", poll, self.app)()
        finally:
            self.done.set()
        if self.monitor is not None:
            guarded("alerts", lambda _app: self.monitor(), self.app)()


@dataclass
class TimedJob:
    """A job due at instants of the service's clock: ``due`` first, then ``next_after`` the moment it ran."""

    name: str
    run: Callable[[], None]
    next_after: Callable[[datetime], datetime]
    due: datetime

    def tick(self, now: datetime) -> bool:
        """Run the job when ``now`` has reached its instant (once, however late the tick); True if it ran."""
        if now < self.due:
            return False
        self.due = self.next_after(now)
        self.run()
        return True


def timed_jobs(app: App) -> list[TimedJob]:
    """The reminders at each deadline, when ``staff.digest_to`` is set the digest at ``staff.digest_time``, and
    the daily purge."""
    cal = app.settings.schedule.calendar()
    now = app.now()
    jobs = [TimedJob("reminders", guarded("reminders", reminder_job, app), cal.next_deadline,
                     cal.next_deadline(now))]
    if app.settings.staff.digest_to:
        from ingest.outputs.digest import queue_todays_digest

        at = calendar.parse_hhmm(app.settings.staff.digest_time)
        jobs.append(TimedJob("digest", guarded("digest", queue_todays_digest, app),
                             lambda moment: cal.next_daily(moment, at), cal.next_daily(now, at)))
    jobs.append(purge_job(app, cal, now))
    return jobs


PURGE_AT = "03:30"  # in schedule.timezone: the quiet hour


def purge_job(app: App, cal: calendar.Calendar, now: datetime) -> TimedJob:
    """``[retention]`` (and ``[imap] expunge_after_days``) applied every day at PURGE_AT."""
    from ingest.runtime.mailbox_retention import retention_job

    at = calendar.parse_hhmm(PURGE_AT)
    return TimedJob("purge", guarded("purge", retention_job, app), lambda moment: cal.next_daily(moment, at),
                    cal.next_daily(now, at))


def build_scheduler(app: App, cycle: Cycle) -> BackgroundScheduler:
    cal = app.settings.schedule.calendar()
    scheduler = BackgroundScheduler(timezone=cal.tz, job_defaults={"max_instances": 1, "coalesce": True,
                                                               "misfire_grace_time": 3600})
    scheduler.add_job(cycle, "interval", seconds=poll_interval(app).total_seconds(), id="poll")
    if cycle.monitor is not None:  # the heartbeat and the checks also while a long cycle runs
        scheduler.add_job(guarded("alerts", lambda _app: cycle.monitor(), app), "interval",
                          seconds=poll_interval(app).total_seconds(), id="alerts")
    if app.settings.smtp is not None:  # what the send-rate cap or a retry left waiting goes out between cycles
        from ingest.workflows.reminders import deliver

        scheduler.add_job(guarded("outbox", deliver, app), "interval", seconds=OUTBOX_SECONDS, id="outbox")
    jobs = timed_jobs(app)

    def tick() -> None:
        now = app.now()
        for job in jobs:
            job.tick(now)

    scheduler.add_job(tick, "interval", seconds=TICK_SECONDS, id="timed")

    def release_ocr() -> None:
        if stopped := app.release_idle_ocr(OCR_IDLE_SECONDS):
            log.info("stopped %d OCR worker(s) idle for %d s", stopped, OCR_IDLE_SECONDS)

    scheduler.add_job(release_ocr, "interval", seconds=60, id="ocr-idle")
    return scheduler


def watch_imap(app: App, account, scheduler: BackgroundScheduler, cycle: Cycle, stop: threading.Event) -> None:
    """Wait for new mail in one mailbox with IDLE and run the cycle at once when it comes."""
    from ingest.runtime.imap_sink import DbSink
    from ingest.sources.imap import WakeReason, wait_for_new
    from ingest.sources.imap_errors import ImapAuthError

    sink = DbSink(app)
    tz = app.settings.schedule.calendar().tz
    failures = 0
    while not stop.is_set():
        try:
            reason = wait_for_new(account, sink, stop=stop, max_wait_seconds=float(account.idle_seconds))
            failures = 0
        except ImapAuthError as exc:
            log.error("IMAP watcher stops: %s (the interval cycle goes on and reports it)", exc)
            return
        except Exception as exc:  # the line dropped, the server restarted...: back off and watch again
            failures += 1
            delay = min(WATCHER_MAX_BACKOFF, 2.0 ** failures)
            log.warning("IMAP watcher: %s; watching again in %.0f s", exc, delay)
            stop.wait(delay)
            continue
        if reason in (WakeReason.NEW, WakeReason.PENDING) and not stop.is_set():
            log.info("IMAP watcher: %s, running the cycle now", reason.value)
            cycle.done.clear()
            try:
                scheduler.modify_job("poll", next_run_time=datetime.now(tz))
            except (JobLookupError, SchedulerNotRunningError):  # stopping: the scheduler is shut down already
                return
            cycle.done.wait(timeout=600)


def run_daemon(settings: Settings, stop: threading.Event | None = None) -> int:
    app = open_app(settings)
    app.trigger = "daemon"
    stop = stop or threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal %s received, stopping", signum)
        app.stopping.set()
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    from ingest.runtime.alerts import Monitor

    cycle = Cycle(app, Monitor(app, app.now()))
    scheduler = build_scheduler(app, cycle)
    sources = [f"imap {a.username}@{a.host}/{a.folder}" for a in settings.imap_accounts()]
    log.info("zxjyck started; sources=%s", ", ".join(sources) or f"maildir {settings.maildir}")
    cycle()  # the first cycle at once, then on the schedule
    guarded("catch-up", catch_up, app)()
    scheduler.start()
    watchers = [threading.Thread(target=watch_imap, args=(app, account, scheduler, cycle, stop),
                                 name=f"imap-idle-{n}", daemon=True)
                for n, account in enumerate(settings.imap_accounts())]
    for watcher in watchers:
        watcher.start()
    try:
        stop.wait()
    finally:
        app.stopping.set()
        scheduler.shutdown(wait=True)
        for watcher in watchers:
            watcher.join(timeout=30)
        app.close()
        log.info("zxjyck stopped")
    return 0
