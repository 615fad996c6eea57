"""The running service's context: settings, database, archive, clock, transports.

Everything with a side effect outside the process is held here and injected
(coding rule 3 of docs/DESIGN.md): tests build an App with their own clock, mailbox and transport.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    return App(settings=settings, engine=engine, archive=Archive(settings.archive_dir), clock=clock,
               transport=transport)
