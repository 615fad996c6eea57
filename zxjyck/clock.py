"""The service's clock: the real one, or one that starts at a chosen instant and runs on from there.

Every rule that depends on the time (lateness, reminders, the digest's day, reply windows, leases) reads it
through ``App.now()``; nothing in the service reads the wall clock itself. ``ZXJYCK_NOW`` (an ISO 8601
instant with its offset, e.g. ``2026-12-07T15:59:00+08:00``) starts a process's clock at that instant: a
rehearsal of a deadline, and how the tests run real processes at the week's edges whatever the hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CLOCK_VARIABLE = "ZXJYCK_NOW"

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class StartedClock:
    """A clock that reads ``start`` when it is made and then runs on at the real pace."""

    start: datetime
    origin: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset, as UTC; ValueError with the reason otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time (e.g. 2026-12-07T15:59:00+08:00)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset (e.g. 2026-12-07T15:59:00+08:00)")
    return moment.astimezone(UTC)


def clock_starting(start: datetime | None) -> Clock:
    """The real clock, or one started at ``start``."""
    return system_clock if start is None else StartedClock(start)
