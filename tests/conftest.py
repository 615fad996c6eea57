"""Shared fixtures: a config and an App per test, on SQLite and on PostgreSQL.

PostgreSQL is used for real (127.0.0.1:5432, database ``test``; override with
ZXJYCK_TEST_PG_URL). Each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.app import App, open_app
from ingest.config import Settings, load_settings
from ingest.pipeline import charsets

charsets.install()  # as the service's first decode does; tests may decode with the stdlib directly

pytest_plugins = ["tests.dovecot"]  # the Dovecot fixtures, for every module that needs them

PG_URL = os.environ.get("ZXJYCK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent
PEER_MAIL = REPO / "fixtures" / "peer-mail"
FIXTURES = REPO / "fixtures"


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend; the Postgres one is a fresh schema."""
    if request.param == "sqlite":
        yield "sqlite:///var/zxjyck.db"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Clock:
    """An injectable clock tests move by hand."""

    def __init__(self, now: datetime):
        self.value = now

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **kwargs) -> None:
        from datetime import timedelta

        self.value += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2020, 2, 24, 2, 0, tzinfo=UTC))  # Monday 2020-02-24 10:00 Asia/Shanghai


CITIES_TOML = """
[cities]
"广州市" = ["gzrsj@example.gov.cn"]
"深圳市" = ["szrsj@example.gov.cn", "SZ-Backup@example.gov.cn"]
"珠海市" = ["zhrsj@example.gov.cn"]
"""


def write_config(folder: Path, store_url: str, extra: str = "", cities: str = CITIES_TOML, notify: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[source]
maildir = "mailbox"

[store]
url = "{store_url}"
archive_dir = "var/archive"

[notify]
reply_window_days = 7
outbox_dir = "var/outbox"
{notify}

[staff]
digest_to = ["staff@example.org"]
{extra}
{cities}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config_path(tmp_path: Path, store_url: str) -> Path:
    return write_config(tmp_path, store_url)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load_settings(config_path, environ={})


@pytest.fixture
def make_app(clock: Clock) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def factory(settings: Settings, **kwargs) -> App:
        app = open_app(settings, clock=kwargs.pop("clock", clock), **kwargs)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def app(settings: Settings, make_app) -> App:
    return make_app(settings)


def sqlite_app(folder: Path, make_app) -> App:
    """An App on SQLite only, for tests whose subject does not depend on the database (layout, printing)."""
    return make_app(load_settings(write_config(folder, "sqlite:///var/zxjyck.db"), environ={}))
