"""Glue between the service and notify/: outbox settings from config, delivery, reminders.

Late reminders are decided like a message's workflow: ``decide_reminders`` is pure (the week, the cities,
the ones that reported and the reminders already queued, read beforehand), ``record_reminders`` queues them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlmodel import select

from ingest.app import App
from ingest.config import Settings
from ingest.errors import IngestError
from ingest.outbound import outbox_settings
from notify.compose import LateReminderContext
from notify.outbox import (
    AUTO_GENERATED,
    DeliveryReport,
    OutboxSettings,
    deliver_due,
    enqueue,
    find_by_key,
)
from store.db import session_scope
from store.models import REPORT_ACCEPTED, WeeklyReport
from zxjyck import calendar


class ReminderError(IngestError):
    """Reminders could not be prepared (for example: no cities configured)."""


log = logging.getLogger(__name__)




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
        report = deliver_due(app.engine, app.transport, outbox_settings(app.settings).retry, app.now(),
                             max_per_minute=smtp.max_per_minute if smtp is not None else None, copier=copier)
        if report.login_refused:
            app.observed["smtp_login"] = report.login_refused
        elif report.sent:  # a round with nothing due says nothing about the login
            app.observed["smtp_login"] = None
        return report
    finally:
        if copier is not None:
            copier.close()


@dataclass
class ReminderResult:
    week_start: date
    queued: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        def cities(names: list[str]) -> str:
            return f"{len(names)} 个市 cities" + (f"：{'、'.join(names)}" if names else "")

        lines = [f"催报提醒 late reminders，报送周 week of {self.week_start.isoformat()}：",
                 f"  本次发出 queued now: {cities(self.queued)}",
                 f"  此前已发 queued before: {cities(self.already)}",
                 f"  已报送 reported: {cities(self.reported)}"]
        return "\n".join(lines)


def reminder_key(city: str, week_start: date) -> str:
    return f"late_reminder:{city}:{week_start.isoformat()}"


@dataclass(frozen=True)
class ReminderNotice:
    city: str
    to: tuple[str, ...]
    dedupe_key: str
    context: LateReminderContext


@dataclass(frozen=True)
class ReminderDecision:
    """The late reminders a week's deadline leads to, and the cities that need none."""

    week_start: date
    notices: tuple[ReminderNotice, ...]
    already: tuple[str, ...]  # reminded before (their dedupe key is in the outbox)
    reported: tuple[str, ...]  # an accepted report for the week


def decide_reminders(settings: Settings, week_start: date, cities: Mapping[str, Sequence[str]],
                     accepted: frozenset[str], queued_keys: frozenset[str], now: datetime) -> ReminderDecision:
    """Pure: one late reminder per configured city with no accepted report for the week, once per city and week.

    ``accepted`` are the cities with an accepted report for the week, ``queued_keys`` the reminders' dedupe
    keys already in the outbox (both read beforehand). Raises ReminderError when no reminder may be sent yet.
    """
    if week_start != calendar.week_start(week_start):
        raise ReminderError(f"{week_start} is not a Monday / 不是星期一")
    if not cities:
        raise ReminderError("no cities configured in [cities] / 未配置地市邮箱")
    deadline = settings.schedule.calendar().deadline(week_start)
    if now < deadline:  # the letter would say "not received by <deadline>" before that moment
        raise ReminderError(f"the deadline of the week {week_start} is {deadline:%Y-%m-%d %H:%M %z}, not reached "
                            f"yet / 该周报送截止时间 {deadline:%Y-%m-%d %H:%M} 未到，不能催报")
    sender = outbox_settings(settings).sender
    notices, already, reported = [], [], []
    for city, addresses in cities.items():
        if city in accepted:
            reported.append(city)
            continue
        if not addresses:
            continue
        key = reminder_key(city, week_start)
        if key in queued_keys:
            already.append(city)
            continue
        notices.append(ReminderNotice(city, tuple(addresses), key, LateReminderContext(
            city=city, week_start=week_start, week_end=week_start + timedelta(days=6), deadline=deadline,
            submit_address=sender, as_of=max(now, deadline))))
    return ReminderDecision(week_start, tuple(notices), tuple(already), tuple(reported))


def record_reminders(session, decision: ReminderDecision, cfg: OutboxSettings, now: datetime) -> ReminderResult:
    """Queue the decided reminders (the caller's transaction)."""
    for notice in decision.notices:
        enqueue(session, cfg, kind="late_reminder", context=replace(notice.context), to=list(notice.to),
                dedupe_key=notice.dedupe_key, now=now, auto_submitted=AUTO_GENERATED)
    return ReminderResult(decision.week_start, [n.city for n in decision.notices], list(decision.already),
                          list(decision.reported))


def queue_reminders(app: App, week_start: date) -> ReminderResult:
    """One late reminder per configured city with no accepted report for the week (once per city and week)."""
    cities = app.registered_cities()
    now = app.now()
    with session_scope(app.engine) as session:
        accepted = frozenset(session.exec(select(WeeklyReport.city).where(
            WeeklyReport.week_start == week_start, WeeklyReport.status == REPORT_ACCEPTED)))
        queued = frozenset(key for key in (reminder_key(city, week_start) for city in cities)
                           if find_by_key(session, key) is not None)
        decision = decide_reminders(app.settings, week_start, cities, accepted, queued, now)
        return record_reminders(session, decision, outbox_settings(app.settings), now)


def send_reminders(app: App, week_start: date) -> ReminderResult:
    """`zxjyck remind --week`: queue the reminders, then deliver what is due."""
    result = queue_reminders(app, week_start)
    deliver(app)
    return result
