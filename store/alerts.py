"""Alert incidents and daemon heartbeats as the store keeps them (the rules: ingest.runtime.alerts).

One row per condition holds its current or last incident. ``observe`` records what a check saw at a
moment and says whether an incident started or cleared then; the mailed flags say which of its two
mails (start, clear) were queued or sent, so a restart never mails an incident twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from store.models import AlertState, Heartbeat

Change = Literal["start", "clear"]


def observe(session: Session, key: str, active: bool, detail: str, now: datetime) -> Change | None:
    """Record that condition ``key`` holds (``active``) or not at ``now``; "start" or "clear" when that
    begins or ends an incident, else None (an ongoing incident keeps its start, its detail is updated)."""
    row = session.get(AlertState, key)
    if active:
        if row is not None and row.cleared_at is None:
            row.detail = detail[:2000]
            session.add(row)
            return None
        row = row or AlertState(key=key, started_at=now)
        row.started_at, row.cleared_at, row.detail = now, None, detail[:2000]
        row.mailed_start = row.mailed_clear = False
        session.add(row)
        return "start"
    if row is not None and row.cleared_at is None:
        row.cleared_at = now
        session.add(row)
        return "clear"
    return None


def unmailed(session: Session, keys: set[str] | None = None) -> list[tuple[AlertState, Change]]:
    """Incidents whose mail is still owed: an open one not yet announced, a cleared one that was announced
    and whose end was not (an incident never announced ends silently)."""
    owed: list[tuple[AlertState, Change]] = []
    for row in session.exec(select(AlertState).order_by(AlertState.key)):
        if keys is not None and row.key not in keys:
            continue
        if row.cleared_at is None and not row.mailed_start:
            owed.append((row, "start"))
        elif row.cleared_at is not None and row.mailed_start and not row.mailed_clear:
            owed.append((row, "clear"))
    return owed


def mark_mailed(row: AlertState, change: Change) -> None:
    if change == "start":
        row.mailed_start = True
    else:
        row.mailed_clear = True


def open_incidents(session: Session) -> list[AlertState]:
    return list(session.exec(select(AlertState).where(col(AlertState.cleared_at).is_(None)).order_by(col(AlertState.key))))


def beat(session: Session, holder: str, started_at: datetime, now: datetime) -> None:
    """A daemon's sign of life (one row per process; rows of processes silent for a week are dropped). A daemon
    that stops, cleanly or not, leaves its row: a stopped service is an incident whoever stopped it."""
    row = session.get(Heartbeat, holder) or Heartbeat(holder=holder, started_at=started_at, beat_at=now)
    row.beat_at = now
    session.add(row)
    session.exec(delete(Heartbeat).where(col(Heartbeat.beat_at) < now - timedelta(days=7)))


def last_beat(session: Session) -> datetime | None:
    """The latest heartbeat of any daemon sharing the store (None: no daemon ever ran on it)."""
    return session.exec(select(func.max(Heartbeat.beat_at))).one()
