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

# Jobs added by later features: name -> (add_job callable taking (scheduler, app, guarded)).
EXTRA_JOBS: dict[str, Callable] = {}


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


def build_scheduler(app: App) -> BackgroundScheduler:
    from ingest.service import poll

    tz = app.settings.schedule.timezone
    scheduler = BackgroundScheduler(timezone=tz, job_defaults={"max_instances": 1, "coalesce": True,
                                                               "misfire_grace_time": 3600})
    interval = app.settings.imap.poll_interval_seconds if app.settings.imap else LOCAL_POLL_SECONDS
    scheduler.add_job(guarded("poll", poll, app), "interval", seconds=interval, id="poll")
    for add in EXTRA_JOBS.values():
        add(scheduler, app, guarded)
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
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        app.close()
        log.info("zxjyck stopped")
    return 0
