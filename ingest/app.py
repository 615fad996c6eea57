"""The running service's context: settings, database, archive, clock, and the two outside services.

Everything with a side effect outside the process is held here and handed down: tests build an App with
their own clock, analyser and transport. ``with open_app(settings) as app:`` closes the sandbox workers and
the database pool on the way out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy.engine import Engine

from ingest.config import Settings
from store.archive import Archive
from store.db import make_engine, migrate, require_schema
from store.files import file_mode
from zxjyck.clock import system_clock

if TYPE_CHECKING:
    from sqlmodel import Session

    from notify.transport import Transport

log = logging.getLogger(__name__)

Trigger = Literal["manual", "daemon"]


class Analyzer(Protocol):
    """Reads one attachment into a ``parsers.analysis.AttachmentAnalysis`` (its error form included).

    Production: ``parsers.pool.SandboxPool`` of ``parsers.sandbox.Sandbox`` (child processes with limits);
    tests: an in-process or scripted reader."""

    def analyze(self, data: bytes, filename: str, mail_date: date) -> Any: ...


def default_analyzer(settings: Settings) -> Analyzer:
    """The production analyser: ``[source] parse_workers`` sandboxes (child processes with resource limits,
    parsers.sandbox) lent out by a pool, so that many messages are parsed at once."""
    from parsers.pool import SandboxPool

    return SandboxPool(settings.parse_workers)


@dataclass
class App:
    settings: Settings
    engine: Engine
    archive: Archive
    clock: Callable[[], datetime] = system_clock
    trigger: Trigger = "manual"  # who started this run: a person at the CLI, or the daemon's schedule
    stopping: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: stop between messages
    # what this process saw of the outside services, for the alerts (ingest.runtime.alerts): condition -> the fault
    # seen last (None: seen working since); a condition never seen is absent
    observed: dict[str, str | None] = field(default_factory=dict)
    _analyzer: Analyzer | None = field(default=None, repr=False)
    _transport: Transport | None = field(default=None, repr=False)

    # The two outside services are made on first use (a `status` or `messages` command never starts a
    # sandbox or opens SMTP), here and nowhere else; tests set their own before the first use.
    @property
    def analyzer(self) -> Analyzer:
        if self._analyzer is None:
            self._analyzer = default_analyzer(self.settings)
        return self._analyzer

    @analyzer.setter
    def analyzer(self, value: Analyzer) -> None:
        self._analyzer = value

    def analyzer_if_started(self) -> Analyzer | None:
        """The analyser when one was made (its counters tell the OCR alert), without starting one."""
        return self._analyzer

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            from ingest.outbound import transport_settings
            from notify.outbox import build_transport

            self._transport = build_transport(transport_settings(self.settings), clock=self.clock)
        return self._transport

    @transport.setter
    def transport(self, value: Transport) -> None:
        self._transport = value

    def now(self) -> datetime:
        return self.clock()

    def release_idle_ocr(self, idle_seconds: float) -> int:
        """Stop OCR workers that have read nothing for ``idle_seconds`` (none is started to do so)."""
        release = getattr(self._analyzer, "release_idle_ocr", None)
        return int(release(idle_seconds)) if release is not None else 0

    def registered_cities(self) -> dict[str, tuple[str, ...]]:
        """The cities' registered addresses as the store holds them now (the console may change them)."""
        from store.cities import registered_cities
        from store.db import session_scope

        with session_scope(self.engine) as session:
            return registered_cities(session)

    def routing_settings(self, session: Session) -> Settings:
        """The settings with ``cities`` as the store holds them in ``session``'s transaction (read once per
        transaction, store.cities): what classification uses."""
        from store.cities import registered_cities

        return replace(self.settings, cities=registered_cities(session))

    def close(self) -> None:
        closer = getattr(self._analyzer, "close", None)  # a test's in-process reader has nothing to close
        if closer is not None:
            closer()
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_app(settings: Settings, *, clock: Callable[[], datetime] | None = None,
             transport: Transport | None = None,
             run_migrations: bool = True, create: bool = True) -> App:
    """Open the database (migrating it to the newest schema) and the archive. The clock is the settings'
    (the real one, or the one ``ZXJYCK_NOW`` starts) unless a test hands its own. Whatever the process creates
    from here on is private (``[store] group``: store.files.private_umask).

    ``create=False`` (every command but init, migrate, run, poll and ingest): the store must exist at this
    build's schema; nothing is created or migrated (store.db.require_schema says why not)."""
    clock = clock or settings.clock()
    _private_files(settings)
    engine = make_engine(settings.store_url, create_dirs=create)
    if run_migrations:
        try:
            migrate(engine) if create else require_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        _seed_cities(engine, settings, clock())
    return App(settings=settings, engine=engine, archive=Archive(settings.archive_dir, file_mode(settings.group)), clock=clock,
               _transport=transport)


def _private_files(settings: Settings) -> None:
    """Files created 0600 and folders 0700 (0640/0750 with ``[store] group``) whatever the umask; a store
    made before that is given those modes too (the database file and the archive's top folder, which
    closes what is under it)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from store.files import make_private_dir, private_umask, protect

    private_umask(settings.group)
    url = make_url(settings.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.parent.exists():  # an existing folder may be shared (/var/lib): never changed here
            make_private_dir(db.parent, settings.group)
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                protect(path, settings.group)
    make_private_dir(settings.archive_dir, settings.group)


def _seed_cities(engine: Engine, settings: Settings, now: datetime) -> None:
    """Bring the configured ``[cities]`` addresses into the store (those it has never held)."""
    from sqlalchemy.exc import IntegrityError

    from store.cities import seed_from_config
    from store.db import session_scope

    for attempt in range(3):  # another process starting at the same moment may insert the same rows first
        try:
            with session_scope(engine) as session:
                added = seed_from_config(session, settings.cities, now)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    if added:
        log.info("registered %d city addresses from the configuration", len(added))
