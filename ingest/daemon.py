"""`zxjyck run`: the long-running service.

One APScheduler (in Asia/Shanghai time) runs the jobs; none overlaps itself
(max_instances=1, coalesce). SIGTERM/SIGINT stop it cleanly: the job in hand
finishes (each message is its own transaction), connections close, exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from ingest.app import App, open_app
from ingest.config import Settings
from ingest.errors import IngestError
from store.errors import StoreError

log = logging.getLogger(__name__)
LOCAL_POLL_SECONDS = 5

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
    from ingest.notices import deliver, last_deadline_week, queue_reminders

    week = last_deadline_week(app.settings, app.now())
    result = queue_reminders(app, week)
    log.info("late reminders for week %s: queued=%d already=%d", week, len(result.queued), len(result.already))
    deliver(app)


def catch_up(app: App) -> None:
    """A deadline missed while the daemon was down still gets its reminders, within a day, and only once."""
    from datetime import timedelta

    from ingest.notices import deadline_for, last_deadline_week

    week = last_deadline_week(app.settings, app.now())
    deadline = deadline_for(app.settings, week)
    if deadline <= app.now() < deadline + timedelta(days=1) and app.settings.cities:
        reminder_job(app)


def build_scheduler(app: App) -> BackgroundScheduler:
    from ingest.service import poll

    tz = app.settings.schedule.timezone
    scheduler = BackgroundScheduler(timezone=tz, job_defaults={"max_instances": 1, "coalesce": True,
                                                               "misfire_grace_time": 3600})
    interval = app.settings.imap.poll_interval_seconds if app.settings.imap else LOCAL_POLL_SECONDS
    scheduler.add_job(guarded("poll", poll, app), "interval", seconds=interval, id="poll")
    hh, mm = app.settings.schedule.deadline_time.split(":")
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if app.settings.cities:
        scheduler.add_job(guarded("reminders", reminder_job, app), "cron", id="reminders",
                          day_of_week=days[app.settings.schedule.deadline_weekday], hour=int(hh), minute=int(mm))
    if app.settings.staff.digest_to:
        from ingest.digest import add_digest_job

        add_digest_job(scheduler, app, guarded)
    return scheduler


def run_daemon(settings: Settings, stop: threading.Event | None = None) -> int:
    app = open_app(settings)
    stop = stop or threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal %s received, stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    scheduler = build_scheduler(app)
    from ingest.service import poll

    log.info("zxjyck started; source=%s", "imap" if settings.imap else f"maildir {settings.maildir}")
    guarded("poll", poll, app)()  # first cycle at once, then on the schedule
    guarded("catch-up", catch_up, app)()
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        app.close()
        log.info("zxjyck stopped")
    return 0
