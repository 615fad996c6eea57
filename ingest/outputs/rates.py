"""Reporting rates per city and week: the one home of "on time", "corrected", "late" and "missing".

A city's week is judged by the server's receipt time of its reports against the
week's deadline (``zxjyck.calendar``; each report's ``late`` was set from it when
it was recorded). Reports held for staff (待人工核对, e.g. an unregistered
sender) are not the city's answer yet and do not decide the timeliness; once
staff confirm one it is an accepted report with its original receipt time.

- ``on_time``: the city's first report was accepted as sent, before the deadline.
- ``late``: the first report was accepted as sent, after the deadline.
- ``corrected``: the first report was sent back (待更正) and a later one was accepted.
- ``pending``: something arrived but nothing is accepted yet (待更正, 待人工核对, or
  held or failed mail).
- ``missing``: nothing arrived.

``reported`` counts the cities with an accepted report (on time, late or
corrected): the reporting rate is reported / expected, the on-time rate
on_time / expected, expected being the 21 cities. The figures of a week are
those of each city's current accepted report (``week_status``'s rule).

Everything is read with a fixed number of queries whatever the number of weeks:
one window query over the reports, grouped per city and week in the database,
and the held-mail read of ``week_status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, and_, case, cast, func, literal, select
from sqlmodel import Session

from ingest.outputs.week_status import held_mail_weeks
from parsers.cities import GUANGDONG_CITIES
from store.models import REPORT_ACCEPTED, REPORT_NEEDS_REVIEW, WeekClosure, WeeklyReport, WeeklyRow
from zxjyck.calendar import Calendar, week_start

ON_TIME, LATE, CORRECTED, PENDING, MISSING = "on_time", "late", "corrected", "pending", "missing"
REPORTED_STATES = (ON_TIME, LATE, CORRECTED)
TREND_WEEKS = 12


@dataclass
class CityWeekRate:
    """One city's week: how it reported, and the figures that count."""

    city: str
    week_start: date
    state: str = MISSING  # on_time | late | corrected | pending | missing
    first_received_at: datetime | None = None  # the first report the city sent (held ones aside)
    first_report_id: int | None = None  # that report
    accepted_at: datetime | None = None  # the first accepted one
    accepted_late: bool = False  # that accepted report arrived after the deadline
    versions: int = 0  # reports stored for the week, superseded ones included
    held: bool = False  # a report or mail waits for staff
    status: str = MISSING  # the current report's status (week_status's): accepted | needs_correction | ...
    message_pk: int | None = None  # the current report's message
    enterprises: int | None = None  # of the current report, counted only when it is accepted
    people: int | None = None
    flags: list[str] = field(default_factory=list)  # zxjyck.labels.REPORT_FLAG keys

    @property
    def reported(self) -> bool:
        return self.state in REPORTED_STATES


@dataclass
class WeekRates:
    """The province's week: the cities' states and the figures of accepted reports."""

    week_start: date
    cities: list[CityWeekRate]
    cumulative_people: int = 0  # accepted people of every week up to and including this one
    closed: bool = False

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    @property
    def expected(self) -> int:
        return len(self.cities)

    def count(self, state: str) -> int:
        return sum(1 for c in self.cities if c.state == state)

    @property
    def reported(self) -> int:
        return sum(1 for c in self.cities if c.reported)

    @property
    def received(self) -> int:
        return sum(1 for c in self.cities if c.state != MISSING)

    @property
    def on_time(self) -> int:
        return self.count(ON_TIME)

    @property
    def enterprises(self) -> int:
        return sum(c.enterprises or 0 for c in self.cities if c.reported)

    @property
    def people(self) -> int:
        return sum(c.people or 0 for c in self.cities if c.reported)

    @property
    def reporting_rate(self) -> float:
        return self.reported / self.expected if self.expected else 0.0

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.expected if self.expected else 0.0

    def as_json(self) -> dict:
        """One object of ``weeks`` in ``zxjyck export --format json`` (docs/CONTRACT.md)."""
        return {"week_start": self.week_start.isoformat(), "expected": self.expected, "reported": self.reported,
                "on_time": self.on_time, "enterprises": self.enterprises, "people": self.people,
                "cumulative_people": self.cumulative_people, "closed": self.closed}


def closed_weeks(session: Session, weeks: Sequence[date]) -> set[date]:
    """The weeks among ``weeks`` that staff have closed (reported upward; later reports wait as revisions:
    ingest.workflows.figures). The one place the rates, the /trends page and the JSON export's ``closed`` ask.
    """
    if not weeks:
        return set()
    return set(session.execute(select(WeekClosure.week_start).where(
        WeekClosure.week_start.in_(list(weeks)))).scalars())  # type: ignore[attr-defined]


def due_weeks(cal: Calendar, now: datetime, count: int = TREND_WEEKS) -> list[date]:
    """The Mondays of the last ``count`` weeks whose deadline has passed at ``now``, oldest first."""
    last = cal.last_deadline_week(now)
    return [last - timedelta(days=7 * n) for n in range(count - 1, -1, -1)]


def weeks_between(first: date, last: date) -> list[date]:
    """Every Monday from the week of ``first`` to the week of ``last``, both included."""
    first, last = week_start(first), week_start(last)
    return [first + timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)] if first <= last else []


def _grouped(session: Session, last: date, as_of: datetime | None, cities: Iterable[str] | None) -> list:
    """One row per (city, week) up to the week ``last``: the window query, aggregated in the database."""
    r = WeeklyReport.__table__.c
    held = r.status == REPORT_NEEDS_REVIEW
    conditions = [r.week_start <= last]
    if as_of is not None:
        conditions.append(r.received_at < as_of)
    if cities is not None:
        conditions.append(r.city.in_(list(cities)))
    # the current report: the non-superseded one, or, as at a past moment, the latest received before it
    newest_first = ([r.received_at.desc(), r.id.desc()] if as_of is not None
                    else [r.superseded.asc(), r.received_at.desc(), r.id.desc()])
    line_count = (select(func.count()).select_from(WeeklyRow.__table__)
                  .where(WeeklyRow.__table__.c.report_id == r.id).scalar_subquery())
    ranked = select(
        r.id, r.city, r.week_start, r.status, r.received_at, r.message_pk,
        cast(r.late, Integer).label("late"), func.coalesce(r.total_headcount, 0).label("people"),
        line_count.label("lines"), cast(held, Integer).label("held"),
        func.row_number().over(partition_by=(r.city, r.week_start, held),
                               order_by=(r.received_at, r.id)).label("nth"),
        func.row_number().over(partition_by=(r.city, r.week_start), order_by=newest_first).label("newest"),
    ).where(and_(*conditions)).subquery()
    q = ranked.c
    own = q.held == 0
    accepted = q.status == REPORT_ACCEPTED
    current = q.newest == 1
    stmt = select(
        q.city, q.week_start, func.count().label("versions"),
        func.min(case((own, q.received_at))).label("first_at"),
        func.max(case((and_(own, q.nth == 1), q.status))).label("first_status"),
        func.max(case((and_(own, q.nth == 1), q.id))).label("first_id"),
        func.max(case((and_(own, q.nth == 1), q.late), else_=literal(0))).label("first_late"),
        func.min(case((accepted, q.received_at))).label("accepted_at"),
        func.max(case((and_(accepted, q.late == 1), literal(1)), else_=literal(0))).label("any_accepted_late"),
        func.max(q.held).label("held"),
        func.max(case((current, q.status))).label("status"),
        func.max(case((current, q.message_pk))).label("message_pk"),
        func.max(case((and_(current, accepted), q.lines))).label("enterprises"),
        func.max(case((and_(current, accepted), q.people))).label("people"),
    ).group_by(q.city, q.week_start)
    return list(session.execute(stmt))


def _state(row) -> tuple[str, list[str]]:
    """(state, flags) of one grouped (city, week) row."""
    flags: list[str] = []
    if row.first_status == REPORT_ACCEPTED:
        state = LATE if row.first_late else ON_TIME
    elif row.accepted_at is not None:
        state = CORRECTED
        flags.append("corrected")
    else:
        state = PENDING
    if state == LATE or (state == CORRECTED and row.any_accepted_late):
        flags.insert(0, "late")
    if row.versions > 1:
        flags.append("revised")
    if row.held:
        flags.append("held")
    return state, flags


def rates(session: Session, weeks: Sequence[date], cal: Calendar, as_of: datetime | None = None,
          cities: Sequence[str] = GUANGDONG_CITIES) -> list[WeekRates]:
    """The rates of ``weeks`` (Mondays, oldest first), as stored now or as they stood at ``as_of``.

    ``cumulative_people`` adds every accepted week before the first one too. A fixed number of queries.
    """
    if not weeks:
        return []
    weeks = sorted(weeks)
    wanted = set(weeks)
    only = None if tuple(cities) == GUANGDONG_CITIES else cities
    cells: dict[tuple[date, str], CityWeekRate] = {}
    before_people: dict[date, int] = {}
    for row in _grouped(session, weeks[-1], as_of, only):
        week = row.week_start if isinstance(row.week_start, date) else date.fromisoformat(str(row.week_start))
        state, flags = _state(row)
        if week not in wanted:
            if state in REPORTED_STATES:
                before_people[week] = before_people.get(week, 0) + int(row.people or 0)
            continue
        reported = state in REPORTED_STATES
        cells[(week, row.city)] = CityWeekRate(
            row.city, week, state, row.first_at, row.first_id, row.accepted_at, bool(row.any_accepted_late), int(row.versions),
            bool(row.held), row.status or MISSING, row.message_pk,
            int(row.enterprises) if reported and row.enterprises is not None else None,
            int(row.people) if reported and row.people is not None else None, flags)
    held = held_mail_weeks(session, weeks[0], weeks[-1], cal.tz, as_of)
    closed = closed_weeks(session, weeks)
    cumulative, others = 0, sorted(before_people.items())  # accepted people of weeks not asked for
    result = []
    for week in weeks:
        lines = []
        for city in cities:
            cell = cells.get((week, city)) or CityWeekRate(city, week)
            if city in held.get(week, {}):
                cell.held = True
                if "held" not in cell.flags:
                    cell.flags.append("held")
                if cell.state == MISSING:
                    cell.state, cell.status = PENDING, REPORT_NEEDS_REVIEW
            lines.append(cell)
        summary = WeekRates(week, lines, closed=week in closed)
        while others and others[0][0] < week:
            cumulative += others.pop(0)[1]
        cumulative += summary.people
        summary.cumulative_people = cumulative
        result.append(summary)
    return result


def trends(session: Session, cal: Calendar, now: datetime, count: int = TREND_WEEKS) -> list[WeekRates]:
    """The last ``count`` weeks whose deadline has passed at ``now`` (the /trends page)."""
    return rates(session, due_weeks(cal, now, count), cal)


def first_reported_week(session: Session, city: str | None = None) -> date | None:
    """The earliest week any report (of ``city``, when given) was recorded for."""
    stmt = select(func.min(WeeklyReport.__table__.c.week_start))
    if city is not None:
        stmt = stmt.where(WeeklyReport.__table__.c.city == city)
    found = session.execute(stmt).scalar()
    return date.fromisoformat(str(found)) if found is not None and not isinstance(found, date) else found


def all_weeks(session: Session, cal: Calendar, now: datetime | None, city: str | None = None) -> list[date]:
    """Every week from the first one reported to the last one due at ``now`` (or the last reported, without
    ``now``): the JSON export's ``weeks`` and a city's page."""
    first = first_reported_week(session, city)
    if first is None:
        return []
    if now is not None:
        last = cal.last_deadline_week(now)
    else:
        found = session.execute(select(func.max(WeeklyReport.__table__.c.week_start))).scalar()
        last = found if isinstance(found, date) else date.fromisoformat(str(found))
    return weeks_between(first, last)


def on_time_reports(session: Session, cal: Calendar) -> set[int]:
    """The ids of on-time reports (the JSON export's ``on_time``): accepted as sent by the deadline, for a
    city's week that is on time (a version sent again before the deadline is on time too)."""
    found = rates(session, all_weeks(session, cal, None), cal)
    weeks = {(c.city, w.week_start) for w in found for c in w.cities if c.state == ON_TIME}
    r = WeeklyReport.__table__.c
    rows = session.execute(select(r.id, r.city, r.week_start).where(r.status == REPORT_ACCEPTED,
                                                                    r.late == False))  # noqa: E712
    return {pk for pk, city, week in rows
            if (city, week if isinstance(week, date) else date.fromisoformat(str(week))) in weeks}


def weeks_json(session: Session, cal: Calendar, now: datetime | None) -> list[dict]:
    """``weeks`` of the JSON export: one object per week from the first reported to the last due one."""
    return [w.as_json() for w in rates(session, all_weeks(session, cal, now), cal)]


def on_time_counts(session: Session, cal: Calendar, week: date, as_of: datetime) -> tuple[int, int, int]:
    """(on time this week, on time the week before, expected) as they stood at ``as_of``: the digest's line."""
    before, this = rates(session, [week - timedelta(days=7), week], cal, as_of=as_of)
    return this.on_time, before.on_time, this.expected
