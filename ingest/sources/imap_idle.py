"""Waiting for new mail: IMAP IDLE, or NOOP polling where the server has no IDLE.

ingest.imap re-exports wait_for_new and WakeReason.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from ingest.sources.imap_connection import (
    SYSTEM_CLOCK,
    TRANSIENT_ERRORS,
    Clock,
    Connector,
    ImapSettings,
    account_name,
    connect,
    logout_quietly,
)
from ingest.sources.imap_errors import ImapConnectionError, ImapFolderError

log = logging.getLogger(__name__)


class CursorReader(Protocol):
    """The part of ingest.sources.imap.IngestSink that waiting needs."""

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None: ...


class WakeReason(enum.Enum):
    PENDING = "pending"  # unfetched messages were already there
    NEW = "new"  # the server announced a new message
    TIMEOUT = "timeout"  # max_wait_seconds passed
    STOPPED = "stopped"  # the stop event was set
    CONNECTION_LOST = "connection_lost"  # the connection dropped while waiting


def wait_for_new(
    settings: ImapSettings,
    sink: CursorReader,
    *,
    clock: Clock = SYSTEM_CLOCK,
    connector: Connector | None = None,
    max_wait_seconds: float | None = None,
    noop_interval_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_waiting: Callable[[], None] | None = None,
) -> WakeReason:
    """Block until the folder has something to fetch.

    Returns PENDING at once when messages above the cursor are already there,
    otherwise IDLEs (re-issued every ``settings.idle_seconds``, under the
    29-minute limit) or, without IDLE, sends NOOP every ``noop_interval_seconds``,
    and returns NEW as soon as the server announces a new message.
    ``on_waiting`` is called once the wait has begun. ``noop_interval_seconds``
    defaults to ``settings.poll_interval_seconds`` (30 s when it has none).
    """
    if noop_interval_seconds is None:
        noop_interval_seconds = float(getattr(settings, "poll_interval_seconds", 30.0))
    connector = connector or connect
    try:
        client = connector(settings)
    except TRANSIENT_ERRORS as exc:
        raise ImapConnectionError(f"IMAP {account_name(settings)}:{settings.port} unreachable: {exc}") from exc
    try:
        info = client.select_folder(settings.folder, readonly=True)
        if _has_pending(client, sink, settings, info):
            return WakeReason.PENDING
        waiter = _Waiter(client, settings, clock, max_wait_seconds, stop, int(info.get(b"EXISTS", 0)))
        if client.has_capability("IDLE"):
            return waiter.idle(on_waiting)
        return waiter.noop(noop_interval_seconds, on_waiting)
    except TRANSIENT_ERRORS as exc:  # includes imapclient's AbortError
        log.warning("IMAP %s: connection lost while waiting: %s", account_name(settings), exc)
        return WakeReason.CONNECTION_LOST
    except imap_exc.IMAPClientError as exc:
        raise ImapFolderError(f"cannot watch folder {settings.folder!r} of {account_name(settings)}: "
                              f"{exc}") from exc
    finally:
        logout_quietly(client)


def _has_pending(client: IMAPClient, sink: CursorReader, settings: ImapSettings, info: dict) -> bool:
    cursor = sink.get_cursor(account_name(settings), settings.folder)
    if cursor is None or cursor[0] != int(info[b"UIDVALIDITY"]):
        return int(info.get(b"EXISTS", 0)) > 0
    last_uid = cursor[1]
    return any(uid > last_uid for uid in client.search(["UID", f"{last_uid + 1}:*"]))


class _Waiter:
    SLICE_SECONDS = 5.0  # how often a stop request is noticed

    def __init__(self, client: IMAPClient, settings: ImapSettings, clock: Clock,
                 max_wait: float | None, stop: threading.Event | None, exists: int) -> None:
        self.client, self.settings, self.clock, self.stop = client, settings, clock, stop
        self.deadline = None if max_wait is None else clock.monotonic() + max_wait
        self.exists = exists

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock.monotonic()

    def _grew(self, responses: list[tuple]) -> bool:
        grew = False
        for response in responses:
            if len(response) >= 2 and isinstance(response[0], int):
                if response[1] == b"EXPUNGE":
                    self.exists = max(0, self.exists - 1)
                elif response[1] == b"EXISTS":
                    grew = grew or response[0] > self.exists
                    self.exists = response[0]
        return grew

    def _stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def idle(self, on_waiting: Callable[[], None] | None) -> WakeReason:
        renew_every = min(float(self.settings.idle_seconds), 29 * 60.0)
        self.client.idle()
        idle_since = self.clock.monotonic()
        early_empty = 0
        if on_waiting:
            on_waiting()
        try:
            while True:
                if self._stopped():
                    return WakeReason.STOPPED
                remaining = self._remaining()
                if remaining is not None and remaining <= 0:
                    return WakeReason.TIMEOUT
                if self.clock.monotonic() - idle_since >= renew_every:
                    self._grew(self.client.idle_done()[1])
                    self.client.idle()
                    idle_since = self.clock.monotonic()
                slice_ = min(self.SLICE_SECONDS, renew_every, remaining if remaining is not None else 1e9)
                started = self.clock.monotonic()
                responses = self.client.idle_check(timeout=max(0.05, slice_))
                if self._grew(responses):
                    return WakeReason.NEW
                # imapclient swallows EOF in idle_check and returns [] at once: detect it.
                early = not responses and self.clock.monotonic() - started < slice_ / 2
                early_empty = early_empty + 1 if early else 0
                if early_empty >= 3:
                    raise ConnectionResetError("server closed the connection during IDLE")
        finally:
            self._end_idle()

    def _end_idle(self) -> None:
        try:
            self.client.idle_done()
        except Exception:  # leaving IDLE on a dead line; logout follows
            pass

    def noop(self, interval: float, on_waiting: Callable[[], None] | None) -> WakeReason:
        if on_waiting:
            on_waiting()
        while True:
            if self._grew(self.client.noop()[1]):
                return WakeReason.NEW
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                return WakeReason.TIMEOUT
            pause = interval if remaining is None else min(interval, remaining)
            if self.stop is not None:
                if self.stop.wait(pause):
                    return WakeReason.STOPPED
            else:
                self.clock.sleep(pause)
