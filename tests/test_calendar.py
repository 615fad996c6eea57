"""zxjyck.calendar: weeks, deadlines, lateness and local dates, the one home of those rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.config import ScheduleSettings, StaffSettings
from zxjyck.calendar import (
    DEFAULT_TIMEZONE,
    Calendar,
    deadline,
    deadline_day,
    is_late,
    local_date,
    parse_hhmm,
    previous_week,
    reporting_week,
    week_ended_by,
    week_of,
    week_start,
    zone,
)

SH = ZoneInfo("Asia/Shanghai")
TOKYO = ZoneInfo("Asia/Tokyo")


# ---------------------------------------------------------------- HH:MM


@pytest.mark.parametrize(("text", "expected"), [
    ("16:00", time(16, 0)), ("08:30", time(8, 30)), ("0:00", time(0, 0)), ("23:59", time(23, 59)),
    ("9:05", time(9, 5)),
])
def test_parse_hhmm(text: str, expected: time) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["", "16", "16:", ":30", "24:00", "12:60", "1:2:3", "ab:cd", "-1:00", " 8:30",
                                  "１６:００", "²:00"])
def test_parse_hhmm_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(text)


def test_config_uses_the_same_hhmm_rule() -> None:
    assert ScheduleSettings(deadline_time="9:05").calendar().deadline_time == time(9, 5)
    for bad in ("24:00", "²:00"):
        with pytest.raises(ValueError, match="HH:MM"):
            ScheduleSettings(deadline_time=bad)
        with pytest.raises(ValueError, match="HH:MM"):
            StaffSettings(digest_time=bad)


# ---------------------------------------------------------------- zones


def test_zone_names_an_unknown_zone() -> None:
    assert zone("Asia/Tokyo") == TOKYO
    for bad in ("Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone(bad)


def test_config_refuses_an_unknown_zone_and_defaults_to_shanghai() -> None:
    assert ScheduleSettings().calendar().tz == ZoneInfo(DEFAULT_TIMEZONE) == SH
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        ScheduleSettings(timezone="Mars/Olympus")


def test_local_date_is_the_day_in_the_zone() -> None:
    moment = datetime(2020, 2, 23, 16, 30, tzinfo=UTC)  # Monday 00:30 in Shanghai, 01:30 in Tokyo
    assert local_date(moment, SH) == date(2020, 2, 24)
    assert local_date(moment, ZoneInfo("UTC")) == date(2020, 2, 23)
    assert Calendar(TOKYO).local(moment) == datetime(2020, 2, 24, 1, 30, tzinfo=TOKYO)


# ---------------------------------------------------------------- weeks


@pytest.mark.parametrize(("day", "monday"), [
    (date(2020, 2, 17), date(2020, 2, 17)),  # a Monday is its own week's start
    (date(2020, 2, 23), date(2020, 2, 17)),  # Sunday ends the week
    (date(2021, 1, 1), date(2020, 12, 28)),  # across a year end
    (date(2020, 3, 1), date(2020, 2, 24)),  # leap year: 2020-02-29 is in the week before
])
def test_week_start_and_week_of(day: date, monday: date) -> None:
    assert week_start(day) == monday
    assert week_of(day) == (monday, monday + timedelta(days=6))


@pytest.mark.parametrize(("day", "expected"), [
    (date(2020, 2, 24), (date(2020, 2, 17), date(2020, 2, 23))),  # the deadline Monday
    (date(2020, 3, 1), (date(2020, 2, 17), date(2020, 2, 23))),  # Sunday: still the week before this one
    (date(2020, 1, 1), (date(2019, 12, 23), date(2019, 12, 29))),  # the year turned in this week
    (date(2021, 1, 4), (date(2020, 12, 28), date(2021, 1, 3))),  # the reported week crosses the year
    (date(2027, 1, 1), (date(2026, 12, 21), date(2026, 12, 27))),
])
def test_previous_week_is_what_a_mail_of_that_day_reports(day: date, expected: tuple[date, date]) -> None:
    assert previous_week(day) == expected
    at_noon = datetime.combine(day, time(12), SH)
    assert Calendar(SH).week_of_mail(at_noon) == expected


def test_the_week_of_a_mail_is_that_of_its_local_day() -> None:
    late_sunday_utc = datetime(2020, 2, 23, 17, 0, tzinfo=UTC)  # Monday 01:00 in Shanghai
    assert Calendar(SH).week_of_mail(late_sunday_utc) == (date(2020, 2, 17), date(2020, 2, 23))
    assert Calendar(ZoneInfo("UTC")).week_of_mail(late_sunday_utc) == (date(2020, 2, 10), date(2020, 2, 16))


@pytest.mark.parametrize(("day", "deadline_weekday", "expected"), [
    (date(2020, 2, 24), 0, (date(2020, 2, 17), date(2020, 2, 23))),
    (date(2020, 2, 23), 0, (date(2020, 2, 10), date(2020, 2, 16))),  # the Sunday before its deadline day
    (date(2020, 2, 26), 2, (date(2020, 2, 17), date(2020, 2, 23))),  # Wednesday deadline
    (date(2020, 2, 25), 2, (date(2020, 2, 10), date(2020, 2, 16))),
    (date(2021, 1, 4), 0, (date(2020, 12, 28), date(2021, 1, 3))),  # across the year end
    (date(2020, 12, 31), 0, (date(2020, 12, 21), date(2020, 12, 27))),
])
def test_reporting_week(day: date, deadline_weekday: int, expected: tuple[date, date]) -> None:
    assert reporting_week(day, deadline_weekday) == expected
    assert Calendar(SH, deadline_weekday).reporting_week(day) == expected


def test_a_report_mailed_on_the_sunday_that_ends_its_own_week_is_accepted() -> None:
    """docs/formats.md (impossible weekly data): the week may end on the day the mail arrives; a week ending later has not been counted."""
    sunday = date(2020, 2, 23)
    assert week_ended_by(sunday, sunday)
    assert week_ended_by(sunday, sunday + timedelta(days=1))
    assert not week_ended_by(sunday, sunday - timedelta(days=1))  # mailed on the Saturday
    assert not week_ended_by(date(2021, 2, 21), sunday)  # a mistyped year


# ---------------------------------------------------------------- deadlines and lateness


def test_the_default_deadline_is_monday_16_00_shanghai_after_the_week() -> None:
    cal = ScheduleSettings().calendar()
    due = cal.deadline(date(2020, 2, 17))
    assert due == datetime(2020, 2, 24, 16, 0, tzinfo=SH)
    assert due.astimezone(UTC) == datetime(2020, 2, 24, 8, 0, tzinfo=UTC)
    assert deadline(date(2020, 2, 17), SH) == due


@pytest.mark.parametrize(("start", "weekday", "expected"), [
    (date(2020, 12, 28), 0, date(2021, 1, 4)),  # the week and its deadline cross the year end
    (date(2019, 12, 23), 0, date(2019, 12, 30)),
    (date(2020, 2, 17), 2, date(2020, 2, 26)),  # Wednesday
    (date(2020, 2, 17), 6, date(2020, 3, 1)),  # a Sunday deadline is the next Sunday, never the week's own
])
def test_deadline_day(start: date, weekday: int, expected: date) -> None:
    assert deadline_day(start, weekday) == expected


def test_the_deadline_is_in_the_configured_zone() -> None:
    tokyo = ScheduleSettings(timezone="Asia/Tokyo", deadline_time="09:30").calendar()
    assert tokyo.deadline(date(2020, 12, 28)) == datetime(2021, 1, 4, 9, 30, tzinfo=TOKYO)
    assert tokyo.deadline(date(2020, 12, 28)).astimezone(UTC) == datetime(2021, 1, 4, 0, 30, tzinfo=UTC)


def test_late_is_after_the_deadline_not_at_it() -> None:
    cal = Calendar(SH)
    week = date(2020, 2, 17)
    due = datetime(2020, 2, 24, 16, 0, tzinfo=SH)
    assert not cal.is_late(due - timedelta(minutes=1), week)
    assert not cal.is_late(due, week)
    assert cal.is_late(due + timedelta(seconds=1), week)
    assert is_late(datetime(2020, 2, 24, 8, 0, 1, tzinfo=UTC), due)  # the same instant written in UTC
    assert not is_late(datetime(2020, 2, 24, 8, 0, tzinfo=UTC), due)


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2020, 2, 24, 16, 0, tzinfo=SH), date(2020, 2, 17)),  # the deadline moment itself
    (datetime(2020, 2, 24, 15, 59, tzinfo=SH), date(2020, 2, 10)),  # a minute before it: the week before
    (datetime(2020, 3, 1, 23, 59, tzinfo=SH), date(2020, 2, 17)),
    (datetime(2021, 1, 4, 16, 0, tzinfo=SH), date(2020, 12, 28)),  # across the year end
    (datetime(2021, 1, 4, 8, 0, tzinfo=UTC), date(2020, 12, 28)),  # 16:00 Shanghai written in UTC
])
def test_last_deadline_week(now: datetime, expected: date) -> None:
    assert Calendar(SH).last_deadline_week(now) == expected


def test_day_bounds_are_local_midnights() -> None:
    start, end = Calendar(TOKYO).day_bounds(date(2020, 2, 24))
    assert start == datetime(2020, 2, 24, tzinfo=TOKYO)
    assert end - start == timedelta(days=1)
    assert start.astimezone(UTC) == datetime(2020, 2, 23, 15, 0, tzinfo=UTC)


def test_calendar_of_checks_the_weekday() -> None:
    with pytest.raises(ValueError, match="weekday"):
        Calendar.of(deadline_weekday=7)


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 12, 7, 15, 59, 59, tzinfo=SH), datetime(2026, 12, 7, 16, 0, tzinfo=SH)),  # Monday 15:59:59
    (datetime(2026, 12, 7, 16, 0, tzinfo=SH), datetime(2026, 12, 14, 16, 0, tzinfo=SH)),  # at it: the next one
    (datetime(2026, 12, 7, 16, 1, tzinfo=SH), datetime(2026, 12, 14, 16, 0, tzinfo=SH)),  # Monday 16:01
    (datetime(2026, 12, 13, 23, 59, tzinfo=SH), datetime(2026, 12, 14, 16, 0, tzinfo=SH)),  # Sunday 23:59
    (datetime(2026, 12, 31, 23, 59, tzinfo=SH), datetime(2027, 1, 4, 16, 0, tzinfo=SH)),  # New Year's Eve
    (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), datetime(2027, 1, 4, 16, 0, tzinfo=SH)),  # New Year's Day there
])
def test_next_deadline_at_the_edges(now: datetime, expected: datetime) -> None:
    assert Calendar(SH).next_deadline(now) == expected


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 12, 31, 8, 29, tzinfo=SH), datetime(2026, 12, 31, 8, 30, tzinfo=SH)),
    (datetime(2026, 12, 31, 8, 30, tzinfo=SH), datetime(2027, 1, 1, 8, 30, tzinfo=SH)),
    (datetime(2026, 12, 31, 23, 59, tzinfo=SH), datetime(2027, 1, 1, 8, 30, tzinfo=SH)),  # New Year's Eve
    (datetime(2026, 12, 31, 0, 30, tzinfo=UTC), datetime(2027, 1, 1, 8, 30, tzinfo=SH)),  # 08:30 there, in UTC
])
def test_next_daily_at_the_edges(now: datetime, expected: datetime) -> None:
    assert Calendar(SH).next_daily(now, time(8, 30)) == expected


def test_reports_at_the_year_end_edges() -> None:
    """Sunday 2027-01-03 23:59 ends the week of 2026-12-28 (New Year inside it): that week is on time then;
    the week before, received on New Year's Eve, is late."""
    cal = Calendar(SH)
    assert cal.week_of_mail(datetime(2027, 1, 4, 9, 0, tzinfo=SH)) == (date(2026, 12, 28), date(2027, 1, 3))
    assert not cal.is_late(datetime(2027, 1, 3, 23, 59, tzinfo=SH), date(2026, 12, 28))
    assert cal.is_late(datetime(2026, 12, 31, 23, 59, tzinfo=SH), date(2026, 12, 21))
    assert not cal.is_late(datetime(2026, 12, 28, 15, 59, tzinfo=SH), date(2026, 12, 21))  # Monday 15:59
    assert cal.is_late(datetime(2026, 12, 28, 16, 1, tzinfo=SH), date(2026, 12, 21))  # Monday 16:01
