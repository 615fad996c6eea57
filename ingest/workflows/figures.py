"""A city's figures for a week: what counts, closed weeks and their revisions, the outlier flag, the history.

- The figures of a city for a week are those of its current accepted report: its enterprises (rows) and
  people (the report's total, else the sum of its rows).
- A week staff closed (``week_closures``, after reporting it upward) keeps its figures: a report received
  after the closing is a revision (``revision = "pending"``) that is not current until staff accept it.
- Every change of a city's figures for a week is written to ``figure_changes`` old -> new, with the message it
  came from and who: the sender's address for a newer report, the person for an accepted revision or a
  confirmation (已核实).
- An accepted report whose people are unusually high against the city's earlier weeks carries the flag
  ``outlier`` (ingest/workflows/outliers.py); staff add ``verified``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlmodel import Session, func, select

from ingest.workflows.outliers import is_outlier
from store.models import (
    FLAG_OUTLIER,
    FLAG_VERIFIED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_REVIEW,
    REVISION_PENDING,
    FigureChange,
    WeekClosure,
    WeeklyReport,
    WeeklyRow,
)

Figures = tuple[int, int]  # (enterprises, people)


def report_figures(report: WeeklyReport, rows: int, row_sum: int) -> Figures:
    """(enterprises, people) of a report with ``rows`` enterprise rows whose headcounts sum to ``row_sum``."""
    people = report.total_headcount if report.total_headcount is not None else row_sum
    return rows, int(people)


def figures_of(session: Session, report: WeeklyReport) -> Figures:
    count, total = session.exec(select(func.count(WeeklyRow.id), func.coalesce(func.sum(WeeklyRow.headcount), 0))
                                .where(WeeklyRow.report_id == report.id)).one()
    return report_figures(report, int(count), int(total))


def current_report(session: Session, city: str, week_start: date) -> WeeklyReport | None:
    return session.exec(select(WeeklyReport).where(
        WeeklyReport.city == city, WeeklyReport.week_start == week_start,
        WeeklyReport.superseded == False)).first()  # noqa: E712 - SQL expression


def counted_figures(session: Session, city: str, week_start: date) -> Figures | None:
    """The city's figures in the week's totals (its current report, when accepted), or None."""
    report = current_report(session, city, week_start)
    if report is None or report.status != REPORT_ACCEPTED:
        return None
    return figures_of(session, report)


def closure(session: Session, week_start: date) -> WeekClosure | None:
    return session.get(WeekClosure, week_start)


def is_revision(session: Session, week_start: date, received_at: datetime) -> bool:
    """A report for a closed week received after the closing waits for staff."""
    closed = closure(session, week_start)
    return closed is not None and received_at >= closed.closed_at


def update_current(session: Session, city: str, week_start: date) -> None:
    """Exactly one current report per city and week: the latest received; held ones never over a real one, and
    a revision waiting for staff never (the closed week's figures stay until it is accepted)."""
    reports = list(session.exec(select(WeeklyReport).where(WeeklyReport.city == city,
                                                           WeeklyReport.week_start == week_start)))
    if not reports:
        return
    settled = [r for r in reports if r.revision != REVISION_PENDING]
    eligible = [r for r in settled if r.status != REPORT_NEEDS_REVIEW] or settled
    current = max(eligible, key=lambda r: (r.received_at, r.id)) if eligible else None
    for r in reports:
        r.superseded = current is None or r.id != current.id
        session.add(r)


def record_change(session: Session, city: str, week_start: date, before: Figures | None, after: Figures | None, *,
                  actor: str, reason: str, message_pk: int | None, now: datetime, always: bool = False) -> bool:
    """Write one old -> new change of the city's figures (nothing when they did not change, unless ``always``)."""
    if before == after and not always:
        return False
    if before != after:
        refresh_later_flags(session, city, week_start)
    session.add(FigureChange(
        city=city, week_start=week_start, at=now, actor=actor[:320], reason=reason, message_pk=message_pk,
        old_enterprises=before[0] if before else None, old_people=before[1] if before else None,
        new_enterprises=after[0] if after else None, new_people=after[1] if after else None))
    return True


def people_history(session: Session, city: str, before_week: date) -> list[int]:
    """The city's people of every earlier week with a counted report (zero reports included): one query."""
    found = session.exec(
        select(WeeklyReport.total_headcount, func.coalesce(func.sum(WeeklyRow.headcount), 0))
        .select_from(WeeklyReport).join(WeeklyRow, WeeklyRow.report_id == WeeklyReport.id, isouter=True)
        .where(WeeklyReport.city == city, WeeklyReport.week_start < before_week,
               WeeklyReport.superseded == False, WeeklyReport.status == REPORT_ACCEPTED)  # noqa: E712
        .group_by(WeeklyReport.id, WeeklyReport.total_headcount, WeeklyReport.week_start)
        .order_by(WeeklyReport.week_start))
    return [int(total if total is not None else row_sum) for total, row_sum in found]


def refresh_later_flags(session: Session, city: str, week_start: date) -> None:
    """A city's figure changed: the outlier flags of its later weeks are judged again against the new history."""
    for later in session.exec(select(WeeklyReport).where(
            WeeklyReport.city == city, WeeklyReport.week_start > week_start, WeeklyReport.superseded == False,  # noqa: E712
            WeeklyReport.status == REPORT_ACCEPTED).order_by(WeeklyReport.week_start)):
        refresh_flags(session, later)


def refresh_flags(session: Session, report: WeeklyReport) -> None:
    """Set or clear ``outlier`` on an accepted report (``verified`` stays only beside ``outlier``)."""
    flags = [f for f in (report.flags or []) if f not in (FLAG_OUTLIER, FLAG_VERIFIED)]
    if report.status == REPORT_ACCEPTED:
        _enterprises, people = figures_of(session, report)
        if is_outlier(people, people_history(session, report.city, report.week_start)):
            flags.append(FLAG_OUTLIER)
            if FLAG_VERIFIED in (report.flags or []):
                flags.append(FLAG_VERIFIED)
    if flags != list(report.flags or []):
        report.flags = flags
        session.add(report)


def needs_checking(report: WeeklyReport) -> bool:
    """请核实: flagged as an outlier and not yet confirmed by staff."""
    flags = report.flags or []
    return FLAG_OUTLIER in flags and FLAG_VERIFIED not in flags


def changes(session: Session, week_starts: Iterable[date] | None = None, city: str | None = None) -> list[FigureChange]:
    query = select(FigureChange)
    if week_starts is not None:
        query = query.where(FigureChange.week_start.in_(list(week_starts)))
    if city is not None:
        query = query.where(FigureChange.city == city)
    return list(session.exec(query.order_by(FigureChange.at, FigureChange.id)))
