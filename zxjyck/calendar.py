"""The reporting calendar: the one home for weeks, deadlines, lateness and local time.

Every rule about time that staff or cities read lives here, as pure functions of
their arguments (nothing reads the clock or the configuration):

* A reporting week runs Monday to Sunday. The form a city mails covers the
  week *before* the one the mail arrives in (``previous_week``).
* Its deadline is the first ``deadline_weekday`` after its Sunday at
  ``deadline_time`` in the configured zone: by default Monday 16:00
  Asia/Shanghai (``deadline``). A report received after that moment is late
  (``is_late``); one received at the deadline itself is on time.
* A week has ended by the day its Sunday is over *or is that day*: a report
  mailed on the Sunday that ends its own week is accepted, one dated for a week
  that ends later has not been counted yet (``week_ended_by``).
* A mail's date is its arrival in the configured zone (``local_date``): that is
  the day that decides its reporting week and the year of an undated period.
* Staff look at the last week whose deadline *day* is on or before a day
  (``reporting_week``: the digest and the console); the reminders at the week
  whose deadline *moment* is the latest at or before now (``last_deadline_week``).

``Calendar`` bundles the three configured values (``[schedule]`` in
config.toml: ``timezone``, ``deadline_weekday``, ``deadline_time``) so callers
pass one object; ``ingest.config.ScheduleSettings.calendar()`` builds it.
``DEFAULT_TIMEZONE`` is the one place the default zone is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_DEADLINE_WEEKDAY = 0  # Monday, the day after the reporting week
DEFAULT_DEADLINE_TIME = "16:00"

SUNDAY = 6


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` ("Asia/Shanghai"); ValueError with a reason when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:  # ValueError: a path-like or empty key
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as {DEFAULT_TIMEZONE})") from exc


def parse_hhmm(value: str) -> time:
    """"16:00" -> time(16, 0) ("9:05" too); ValueError unless the text is two ASCII numbers H:M of a day."""
    parts = value.split(":")
    if (len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts)
            or int(parts[0]) > 23 or int(parts[1]) > 59):
        raise ValueError("must be a time HH:MM")
    return time(int(parts[0]), int(parts[1]))


# ---------------------------------------------------------------- weeks (dates only)


def week_start(day: date) -> date:
    """The Monday of the week containing ``day``."""
    return day - timedelta(days=day.weekday())


def week_of(day: date) -> tuple[date, date]:
    """The Monday-Sunday week containing ``day``."""
    monday = week_start(day)
    return monday, monday + timedelta(days=6)


def previous_week(day: date) -> tuple[date, date]:
    """The Monday-Sunday week before the one containing ``day``: the week a mail of that day reports."""
    return week_of(day - timedelta(days=7))


def week_ended_by(week_end: date, day: date) -> bool:
    """Whether a week ending ``week_end`` is over for a mail of ``day`` (its own Sunday counts as over)."""
    return week_end <= day


def deadline_day(start: date, deadline_weekday: int = DEFAULT_DEADLINE_WEEKDAY) -> date:
    """The first ``deadline_weekday`` after the Sunday of the week starting ``start`` (never that Sunday)."""
    end = start + timedelta(days=6)
    return end + timedelta(days=(deadline_weekday - end.weekday()) % 7 or 7)


def reporting_week(day: date, deadline_weekday: int = DEFAULT_DEADLINE_WEEKDAY) -> tuple[date, date]:
    """The Monday-Sunday week whose deadline day is the last ``deadline_weekday`` on or before ``day``.

    With the default Monday deadline: Monday 2020-02-24 (and every day up to Sunday
    2020-03-01) gives the week 2020-02-17 .. 2020-02-23.
    """
    last_deadline_day = day - timedelta(days=(day.weekday() - deadline_weekday) % 7)
    end = last_deadline_day - timedelta(days=(last_deadline_day.weekday() - SUNDAY) % 7 or 7)
    return end - timedelta(days=6), end


# ---------------------------------------------------------------- moments (zone-aware)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The day ``moment`` falls on in ``tz``: a mail's date is its arrival there."""
    return moment.astimezone(tz).date()


def deadline(start: date, tz: ZoneInfo, deadline_weekday: int = DEFAULT_DEADLINE_WEEKDAY,
             at: time = time(16, 0)) -> datetime:
    """The reporting deadline of the week starting ``start``: its deadline day at ``at`` in ``tz``."""
    return datetime.combine(deadline_day(start, deadline_weekday), at, tz)


def is_late(received_at: datetime, due: datetime) -> bool:
    """A report is late when it arrives after its deadline; at the deadline itself it is on time."""
    return received_at > due


@dataclass(frozen=True)
class Calendar:
    """The configured zone and deadline, with the rules above bound to them."""

    tz: ZoneInfo
    deadline_weekday: int = DEFAULT_DEADLINE_WEEKDAY
    deadline_time: time = time(16, 0)

    @classmethod
    def of(cls, timezone: str = DEFAULT_TIMEZONE, deadline_weekday: int = DEFAULT_DEADLINE_WEEKDAY,
           deadline_time: str = DEFAULT_DEADLINE_TIME) -> Calendar:
        """From the configuration's text values; ValueError with a reason when one is not valid."""
        if not 0 <= deadline_weekday <= 6:
            raise ValueError(f"deadline weekday must be 0 (Monday) to 6 (Sunday), not {deadline_weekday}")
        return cls(zone(timezone), deadline_weekday, parse_hhmm(deadline_time))

    def local(self, moment: datetime) -> datetime:
        """``moment`` as wall-clock time in the zone (an aware datetime)."""
        return moment.astimezone(self.tz)

    def local_date(self, moment: datetime) -> date:
        return local_date(moment, self.tz)

    def at(self, day: date, when: time = time(0)) -> datetime:
        """The moment ``when`` o'clock on ``day`` in the zone (midnight by default: the start of the day)."""
        return datetime.combine(day, when, self.tz)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of ``day`` in the zone."""
        return self.at(day), self.at(day + timedelta(days=1))

    def deadline(self, start: date) -> datetime:
        return deadline(start, self.tz, self.deadline_weekday, self.deadline_time)

    def is_late(self, received_at: datetime, start: date) -> bool:
        """Whether a report for the week starting ``start`` received at ``received_at`` is late."""
        return is_late(received_at, self.deadline(start))

    def reporting_week(self, day: date) -> tuple[date, date]:
        return reporting_week(day, self.deadline_weekday)

    def week_of_mail(self, received_at: datetime) -> tuple[date, date]:
        """The week a mail received at ``received_at`` reports when it names none: the week before its day."""
        return previous_week(self.local_date(received_at))

    def last_deadline_week(self, now: datetime) -> date:
        """The Monday of the week whose deadline is the latest one at or before ``now``."""
        this_monday = week_start(self.local_date(now))
        for back in (1, 2, 3):
            start = this_monday - timedelta(days=7 * back)
            if self.deadline(start) <= now:
                return start
        return this_monday - timedelta(days=21)

    def next_deadline(self, now: datetime) -> datetime:
        """The first deadline after ``now``."""
        return self.deadline(self.last_deadline_week(now) + timedelta(days=7))

    def next_daily(self, now: datetime, when: time) -> datetime:
        """The first moment after ``now`` that is ``when`` o'clock in the zone."""
        today = self.local_date(now)
        moment = self.at(today, when)
        return moment if moment > now else self.at(today + timedelta(days=1), when)
