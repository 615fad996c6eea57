"""Glue between the service and notify/: outbox settings from config, delivery, reminders."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from ingest.app import App
from ingest.config import Settings
from ingest.errors import IngestError
from notify.compose import LateReminderContext
from notify.outbox import (
    AUTO_GENERATED,
    DeliveryReport,
    OutboxSettings,
    deliver_due,
    enqueue,
    find_by_key,
)
from notify.transport import RetryPolicy
from store.db import session_scope
from store.models import REPORT_ACCEPTED, WeeklyReport


class ReminderError(IngestError):
    """Reminders could not be prepared (for example: no cities configured)."""


log = logging.getLogger(__name__)


def outbox_settings(settings: Settings) -> OutboxSettings:
    sender = settings.smtp.sender if settings.smtp else settings.notify.sender
    return OutboxSettings(
        sender=sender, sender_name=settings.notify.bureau_name, bureau_name=settings.notify.bureau_name,
        contact_line=settings.notify.contact_line, reply_window_days=settings.notify.reply_window_days,
        max_per_sender_per_day=settings.notify.max_per_sender_per_day,
        our_addresses=frozenset(settings.our_addresses()),
        retry=RetryPolicy(max_attempts=settings.notify.max_attempts))


def deliver(app: App) -> DeliveryReport:
    """Send what is due in the outbox (SMTP, or .eml files when there is no [smtp]).

    With [smtp], at most ``[smtp] max_per_minute`` notices a minute, and with
    ``[imap] sent_folder`` a copy of each in that folder."""
    smtp, imap = app.settings.smtp, app.settings.imap
    copier = None
    if smtp is not None and imap is not None and imap.sent_folder:
        from ingest.sources.imap_sent import ImapSentCopier

        copier = ImapSentCopier(imap, imap.sent_folder)
    try:
        return deliver_due(app.engine, app.transport, outbox_settings(app.settings).retry, app.now(),
                           max_per_minute=smtp.max_per_minute if smtp is not None else None, copier=copier)
    finally:
        if copier is not None:
            copier.close()


def deadline_for(settings: Settings, week_start: date) -> datetime:
    """The reporting deadline of a week: by default Monday 16:00 Asia/Shanghai after its Sunday."""
    tz = ZoneInfo(settings.schedule.timezone)
    week_end = week_start + timedelta(days=6)
    days_after = (settings.schedule.deadline_weekday - week_end.weekday()) % 7 or 7
    hh, mm = (int(x) for x in settings.schedule.deadline_time.split(":"))
    return datetime.combine(week_end + timedelta(days=days_after), time(hh, mm), tz)


def last_deadline_week(settings: Settings, now: datetime) -> date:
    """The Monday of the reporting week whose deadline is the latest one at or before ``now``."""
    tz = ZoneInfo(settings.schedule.timezone)
    local = now.astimezone(tz).date()
    monday = local - timedelta(days=local.weekday())
    for back in range(0, 3):
        week = monday - timedelta(days=7 * (back + 1))
        if deadline_for(settings, week) <= now:
            return week
    return monday - timedelta(days=21)


@dataclass
class ReminderResult:
    week_start: date
    queued: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"催报 late reminders, week {self.week_start.isoformat()}:",
                 f"  已排队 queued: {len(self.queued)} {' '.join(self.queued)}",
                 f"  此前已发 queued before: {len(self.already)} {' '.join(self.already)}",
                 f"  已报送 reported: {len(self.reported)}"]
        return "\n".join(lines)


def queue_reminders(app: App, week_start: date) -> ReminderResult:
    """One late reminder per configured city with no accepted report for the week (once per city and week)."""
    if week_start.weekday() != 0:
        raise ReminderError(f"{week_start} is not a Monday / 不是星期一")
    cities = app.registered_cities()
    if not cities:
        raise ReminderError("no cities configured in [cities] / 未配置地市邮箱")
    cfg = outbox_settings(app.settings)
    deadline = deadline_for(app.settings, week_start)
    now = app.now()
    if now < deadline:  # the letter would say "not received by <deadline>" before that moment
        raise ReminderError(f"the deadline of the week {week_start} is {deadline:%Y-%m-%d %H:%M %z}, not reached "
                            f"yet / 该周报送截止时间 {deadline:%Y-%m-%d %H:%M} 未到，不能催报")
    result = ReminderResult(week_start)
    with session_scope(app.engine) as session:
        accepted = set(session.exec(select(WeeklyReport.city).where(
            WeeklyReport.week_start == week_start, WeeklyReport.status == REPORT_ACCEPTED)))
        for city, addresses in cities.items():
            if city in accepted:
                result.reported.append(city)
                continue
            if not addresses:
                continue
            key = f"late_reminder:{city}:{week_start.isoformat()}"
            context = LateReminderContext(city=city, week_start=week_start, week_end=week_start + timedelta(days=6),
                                          deadline=deadline, submit_address=cfg.sender, as_of=max(now, deadline))
            if find_by_key(session, key) is not None:
                result.already.append(city)
                continue
            enqueue(session, cfg, kind="late_reminder", context=context, to=list(addresses), dedupe_key=key,
                    now=now, auto_submitted=AUTO_GENERATED)
            result.queued.append(city)
    return result


def send_reminders(app: App, week_start: date) -> ReminderResult:
    """`zxjyck remind --week`: queue the reminders, then deliver what is due."""
    result = queue_reminders(app, week_start)
    deliver(app)
    return result
