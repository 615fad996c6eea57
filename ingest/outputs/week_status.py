"""Which reports a week's totals count, and what each city's status is: one rule for the workbook,
the digest and the console.

- The totals count the figures of accepted reports only. Reports awaiting a
  decision (待人工核对) or a correction (待更正) are summed apart and shown beside
  the totals, never inside them.
- A city with no current report but with mail held for review or failed for
  the week shows 待人工核对 (``needs_review``), never 未报送: it did send.

The week a held message belongs to is the week of its report when one was
recorded, else the Monday-Sunday week before the day it arrived (the same
default processing uses when a form names no period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ingest.workflows.figures import closure, figures_of, needs_checking, report_figures
from parsers.cities import GUANGDONG_CITIES
from store.cities import registered_cities
from store.models import (
    FAILED,
    NEEDS_REVIEW,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
    REVISION_PENDING,
    Message,
    WeekClosure,
    WeeklyReport,
    WeeklyRow,
)
from zxjyck import calendar

MISSING = "missing"
HELD_STATUSES = (REPORT_NEEDS_REVIEW, REPORT_NEEDS_CORRECTION)


# ---------------------------------------------------------------- the week's reports, read once for the
# workbook, the digest and the console


def current_reports(session: Session, week_start: date, as_of: datetime | None = None) -> dict[str, WeeklyReport]:
    """The current report of each city for the week.

    Without ``as_of``: the non-superseded one (the latest received, docs/CONTRACT.md).
    With ``as_of``: the latest one received before that moment, so a past day
    is shown as it was, even if a later version superseded it since.
    """
    query = select(WeeklyReport).where(WeeklyReport.week_start == week_start)
    if as_of is None:
        query = query.where(WeeklyReport.superseded == False)  # noqa: E712 - SQL expression
    else:  # a revision waiting for staff never counts (ingest/workflows/figures.py)
        query = query.where(WeeklyReport.received_at < as_of,
                            (WeeklyReport.revision == None) | (WeeklyReport.revision != REVISION_PENDING))  # noqa: E711
    latest: dict[str, WeeklyReport] = {}
    for report in session.exec(query.order_by(WeeklyReport.received_at, WeeklyReport.id)):
        latest[report.city] = report
    return latest


def rows_by_report(session: Session, report_ids: Sequence[int]) -> dict[int, list[WeeklyRow]]:
    found: dict[int, list[WeeklyRow]] = defaultdict(list)
    if not report_ids:
        return found
    query = select(WeeklyRow).where(WeeklyRow.report_id.in_(list(report_ids)))
    for row in session.exec(query.order_by(WeeklyRow.report_id, WeeklyRow.position)):
        found[row.report_id].append(row)
    return found


def headcount_of(report: WeeklyReport, lines: list[WeeklyRow]) -> int:
    return report_figures(report, len(lines), sum(line.headcount for line in lines if line.headcount is not None))[1]


@dataclass
class CityWeek:
    """One city's line for the week."""

    city: str
    status: str  # accepted | needs_correction | needs_review | missing
    report: WeeklyReport | None = None
    lines: list[WeeklyRow] = field(default_factory=list)
    held_message_pks: list[int] = field(default_factory=list)  # held or failed mail without a report
    revisions: list[WeeklyReport] = field(default_factory=list)  # received after the week closed, waiting

    @property
    def to_check(self) -> bool:
        """请核实: the counted figure is an outlier staff have not confirmed yet."""
        return bool(self.report and self.counted and needs_checking(self.report))

    @property
    def flags(self) -> list[str]:
        return list(self.report.flags or []) if self.report else []

    @property
    def counted(self) -> bool:
        """Do this city's figures go into the totals?"""
        return self.status == REPORT_ACCEPTED

    @property
    def held(self) -> bool:
        return self.status in HELD_STATUSES

    @property
    def late(self) -> bool:
        return bool(self.report and self.report.late)

    @property
    def received_at(self) -> datetime | None:
        return self.report.received_at if self.report else None

    @property
    def enterprise_count(self) -> int | None:
        return len(self.lines) if self.report else None

    @property
    def headcount(self) -> int | None:
        return headcount_of(self.report, self.lines) if self.report else None


@dataclass
class WeekSummary:
    week_start: date
    cities: list[CityWeek]
    closed: WeekClosure | None = None  # staff closed the week after reporting it upward

    @property
    def to_check(self) -> list[CityWeek]:
        """Counted figures flagged as outliers that staff have not verified (请核实)."""
        return [c for c in self.cities if c.to_check]

    @property
    def revisions(self) -> list[WeeklyReport]:
        return [r for c in self.cities for r in c.revisions]

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    def _sum(self, rows: list[CityWeek], attr: str) -> int:
        return sum(getattr(row, attr) or 0 for row in rows)

    @property
    def counted(self) -> list[CityWeek]:
        return [c for c in self.cities if c.counted]

    @property
    def held(self) -> list[CityWeek]:
        return [c for c in self.cities if c.held]

    @property
    def reported(self) -> int:
        """Cities that sent something for the week (accepted, held or awaiting a correction)."""
        return sum(1 for c in self.cities if c.status != MISSING)

    @property
    def late(self) -> int:
        return sum(1 for c in self.cities if c.late)

    @property
    def total_enterprises(self) -> int:
        return self._sum(self.counted, "enterprise_count")

    @property
    def total_headcount(self) -> int:
        return self._sum(self.counted, "headcount")

    @property
    def held_enterprises(self) -> int:
        return self._sum(self.held, "enterprise_count")

    @property
    def held_headcount(self) -> int:
        return self._sum(self.held, "headcount")


def held_mail(session: Session, week_start: date, tz: ZoneInfo, as_of: datetime | None = None) -> dict[str, list[int]]:
    """City -> ids of its messages held or failed for the week that recorded no report of their own."""
    return held_mail_weeks(session, week_start, week_start, tz, as_of).get(week_start, {})


def held_mail_weeks(session: Session, first: date, last: date, tz: ZoneInfo,
                    as_of: datetime | None = None) -> dict[date, dict[str, list[int]]]:
    """``held_mail`` for every week from the one starting ``first`` to the one starting ``last``, in one read:
    week -> city -> ids of its held or failed messages that recorded no report of their own."""
    since = datetime.combine(first, datetime.min.time(), tz)  # sent during the week or the week after
    until = datetime.combine(last + timedelta(days=14), datetime.min.time(), tz)
    if as_of is not None:
        until = min(until, as_of)
    query = select(Message).where(Message.status.in_((NEEDS_REVIEW, FAILED)), Message.received_at >= since,
                                  Message.received_at < until,
                                  (Message.kind == "weekly_report") | Message.kind.is_(None)
                                  | (Message.status == FAILED))
    messages = list(session.exec(query.order_by(Message.received_at, Message.id)))
    if not messages:
        return {}
    with_report = set(session.exec(select(WeeklyReport.message_pk).where(
        WeeklyReport.message_pk.in_([m.id for m in messages]))))
    by_address = {address: city for city, addresses in registered_cities(session).items() for address in addresses}
    found: dict[date, dict[str, list[int]]] = {}
    for message in messages:
        week = calendar.previous_week(calendar.local_date(message.received_at, tz))[0]
        if message.id in with_report or not first <= week <= last:
            continue
        city = message.city
        if city is None and message.kind is None:
            # never classified (it failed first): its From is all there is. A classified message's city is the
            # classification's, which ignores a From with sender problems: a forged From marks no city held.
            city = by_address.get(message.from_addr.strip().lower())
        if city:
            found.setdefault(week, {}).setdefault(city, []).append(message.id)
    return found


def week_summary(session: Session, week_start: date, tz: ZoneInfo, as_of: datetime | None = None) -> WeekSummary:
    """The 21 cities of the week with their status and figures (as it stood at ``as_of``, if given)."""
    reports = current_reports(session, week_start, as_of=as_of)
    rows = rows_by_report(session, [r.id for r in reports.values() if r.id is not None])
    held = held_mail(session, week_start, tz, as_of)
    revisions: dict[str, list[WeeklyReport]] = defaultdict(list)
    if as_of is None:
        for pending in session.exec(select(WeeklyReport).where(WeeklyReport.week_start == week_start,
                                                               WeeklyReport.revision == REVISION_PENDING)
                                    .order_by(WeeklyReport.received_at, WeeklyReport.id)):
            revisions[pending.city].append(pending)
    cities = []
    for city in GUANGDONG_CITIES:
        report = reports.get(city)
        if report is not None:
            cities.append(CityWeek(city, report.status, report, rows.get(report.id or 0, []), held.get(city, []),
                                   revisions.get(city, [])))
        elif city in held:
            cities.append(CityWeek(city, REPORT_NEEDS_REVIEW, held_message_pks=held[city],
                                   revisions=revisions.get(city, [])))
        else:
            cities.append(CityWeek(city, MISSING, revisions=revisions.get(city, [])))
    return WeekSummary(week_start, cities, closure(session, week_start))


@dataclass(frozen=True)
class PendingCheck:
    """A report waiting for a person: a revision of a closed week to accept, an outlier to verify."""

    report_id: int
    city: str
    week_start: date
    what: str  # 待接受修订 / 请核实
    people: str


def pending_checks(engine) -> list[PendingCheck]:
    """Every revision waiting to be accepted and every counted outlier not yet verified, oldest week first."""
    from store.db import session_scope

    found: list[PendingCheck] = []
    with session_scope(engine) as session:
        query = select(WeeklyReport).where((WeeklyReport.revision == REVISION_PENDING)
                                           | (WeeklyReport.superseded == False))  # noqa: E712
        for report in session.exec(query.order_by(WeeklyReport.week_start, WeeklyReport.city)):
            people = str(figures_of(session, report)[1])
            if report.revision == REVISION_PENDING:
                found.append(PendingCheck(report.id or 0, report.city, report.week_start, "待接受修订 revision", people))
            elif report.status == REPORT_ACCEPTED and needs_checking(report):
                found.append(PendingCheck(report.id or 0, report.city, report.week_start, "请核实 outlier", people))
    return found
