"""One city over the whole campaign: its weeks, every version of its reports, who filled them, its addresses.

Every report a city sent is kept (a newer one supersedes the older, which stays in the store), so the
changes of a week's figures are read from the versions in the order received: each version whose
enterprises or people differ from the one before is a change old -> new, with its source message.
A fixed number of queries whatever the number of weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlmodel import Session

from ingest.outputs.rates import CityWeekRate, all_weeks, rates
from store.models import CityAddress, WeeklyReport, WeeklyRow
from zxjyck.calendar import Calendar


@dataclass
class Version:
    """One report the city sent for a week."""

    report: WeeklyReport
    enterprises: int
    people: int | None

    @property
    def figures(self) -> tuple[int, int | None]:
        return self.enterprises, self.people


@dataclass
class Change:
    """A week's figures changed from one version to the next."""

    week_start: date
    received_at: datetime
    message_pk: int
    status: str
    old: tuple[int, int | None]  # (enterprises, people) before
    new: tuple[int, int | None]


@dataclass
class Contact:
    """Who filled the city's forms, from one report to another (consecutive reports with the same names)."""

    filled_by: str
    phone: str
    first_week: date
    last_week: date
    reports: int = 1


@dataclass
class CityHistory:
    city: str
    weeks: list[CityWeekRate]  # newest first
    versions: dict[date, list[Version]] = field(default_factory=dict)  # oldest first within a week
    changes: list[Change] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    addresses: list[CityAddress] = field(default_factory=list)

    @property
    def on_time(self) -> int:
        return sum(1 for w in self.weeks if w.state == "on_time")

    @property
    def reported(self) -> int:
        return sum(1 for w in self.weeks if w.reported)

    @property
    def people(self) -> int:
        return sum(w.people or 0 for w in self.weeks if w.reported)


def city_history(session: Session, city: str, cal: Calendar, now: datetime) -> CityHistory:
    """``city``'s weeks from its first report to the last week due at ``now``, newest first."""
    weeks = all_weeks(session, cal, now, city)
    lines = [week.cities[0] for week in rates(session, weeks, cal, cities=[city])]
    history = CityHistory(city, list(reversed(lines)))
    reports = list(session.execute(select(WeeklyReport).where(WeeklyReport.city == city)
                                .order_by(WeeklyReport.received_at, WeeklyReport.id)).scalars())
    ids = [r.id for r in reports]
    counts = dict(session.execute(select(WeeklyRow.report_id, func.count()).where(WeeklyRow.report_id.in_(ids))
                                  .group_by(WeeklyRow.report_id)).all()) if ids else {}
    for r in reports:
        history.versions.setdefault(r.week_start, []).append(Version(r, int(counts.get(r.id, 0)), r.total_headcount))
    for week, versions in history.versions.items():
        for before, after in zip(versions, versions[1:], strict=False):
            if before.figures != after.figures:
                history.changes.append(Change(week, after.report.received_at, after.report.message_pk,
                                              after.report.status, before.figures, after.figures))
    history.changes.sort(key=lambda c: c.received_at, reverse=True)
    for r in reports:
        last = history.contacts[-1] if history.contacts else None
        if last and (last.filled_by, last.phone) == (r.filled_by, r.phone):
            last.last_week, last.reports = max(last.last_week, r.week_start), last.reports + 1
        else:
            history.contacts.append(Contact(r.filled_by, r.phone, r.week_start, r.week_start))
    history.addresses = list(session.execute(select(CityAddress).where(CityAddress.city == city)
                                          .order_by(CityAddress.added_at, CityAddress.id)).scalars())
    return history
