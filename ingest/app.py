"""The running service's context: settings, database, archive, clock, transports.

Everything with a side effect outside the process is held here and injected
(coding rule 3 of docs/DESIGN.md): tests build an App with their own clock, mailbox and transport.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from ingest.config import Settings
from store.archive import Archive
from store.db import make_engine, migrate

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    engine: Engine
    archive: Archive
    clock: Callable[[], datetime] = system_clock
    transport: Any = None  # notify transport (SMTP or files); built lazily
    analyzer: Any = None  # attachment analyser (parsers sandbox); built lazily
    extras: dict[str, Any] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: stop between messages

    def now(self) -> datetime:
        return self.clock()

    def registered_cities(self) -> dict[str, tuple[str, ...]]:
        """The cities' registered addresses as the store holds them now (the console may change them)."""
        from store.cities import registered_cities
        from store.db import session_scope

        with session_scope(self.engine) as session:
            return registered_cities(session)

    def routing_settings(self) -> Settings:
        """The settings with ``cities`` read from the store: what classification and reminders use."""
        return replace(self.settings, cities=self.registered_cities())

    def close(self) -> None:
        closer = getattr(self.analyzer, "close", None)
        if closer is not None:
            closer()
        self.engine.dispose()


def open_app(settings: Settings, *, clock: Callable[[], datetime] = system_clock, transport: Any = None,
             run_migrations: bool = True) -> App:
    """Open the database (migrating it to the newest schema) and the archive."""
    engine = make_engine(settings.store_url)
    if run_migrations:
        migrate(engine)
        _seed_cities(engine, settings, clock())
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    return App(settings=settings, engine=engine, archive=Archive(settings.archive_dir), clock=clock,
               transport=transport)


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
