"""Shared fixtures: a config and an App per test, on SQLite and on PostgreSQL.

PostgreSQL is used for real (127.0.0.1:5432, database ``test``; override with
ZXJYCK_TEST_PG_URL). Each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import re
import sysconfig
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.app import App, open_app
from ingest.config import Settings, load_settings
from ingest.pipeline import charsets
from zxjyck.clock import CLOCK_VARIABLE, StartedClock

charsets.install()  # as the service's first decode does; tests may decode with the stdlib directly

pytest_plugins = ["tests.dovecot", "tests.campaign_support"]  # Dovecot; 13 weeks of 21 cities' mail

PG_URL = os.environ.get("ZXJYCK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent
PEER_MAIL = REPO / "fixtures" / "peer-mail"
FIXTURES = REPO / "fixtures"

# The `zxjyck`, `python3` and scripts the tests start as subprocesses belong to the environment running the
# tests (./.venv under scripts/test.sh): its scripts folder goes first on PATH
_SCRIPTS = sysconfig.get_path("scripts")
if os.environ.get("PATH", "").split(os.pathsep)[0] != _SCRIPTS:
    os.environ["PATH"] = os.pathsep.join([_SCRIPTS, os.environ.get("PATH", "")])


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


SERVICE_START = datetime(2020, 2, 24, 2, 0, tzinfo=UTC)  # Monday 2020-02-24 10:00 Asia/Shanghai


@pytest.fixture
def clock() -> Clock:
    return Clock(SERVICE_START)


@pytest.fixture
def timeline() -> StartedClock:
    """The service's time for the processes a test starts (``service_env``): it reads Monday 2020-02-24
    10:00 Shanghai when the test begins and runs on, whatever the host's clock says."""
    return StartedClock(SERVICE_START)


def service_env(timeline: StartedClock, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a zxjyck process that shares ``timeline``: its clock starts at the timeline's now."""
    return {**(os.environ if base is None else base), CLOCK_VARIABLE: timeline().isoformat()}


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


# ---------------------------------------------------------------- unit and integration tests
# `pytest -m "not integration"`: the unit tests, in-process and on SQLite, in under a minute.
# `pytest -m integration`: the tests against Dovecot, PostgreSQL, SMTP servers, LibreOffice, Chromium, the
# real sandbox and OCR workers, and the daemon's and CLI's own processes. scripts/test.sh runs both.
# A test is integration when it requests a fixture in SERVER_FIXTURES, runs on PostgreSQL (store_url's
# "postgres" parameter), names a helper in SERVER_HELPERS, or is listed in INTEGRATION_MODULES or
# INTEGRATION_TESTS; every other test is unit. A unit test that starts a process or opens a connection
# fails (_UnitGuard), so a new server test cannot land on the fast side unnoticed.

SERVER_FIXTURES = {
    "dovecot": "starts Dovecot",
    "imap_account": "an account on Dovecot",
    "cutting_proxy": "a proxy in front of Dovecot",
    "netease_front": "an imitation of NetEase's IMAP front, in front of Dovecot",
    "smtp_server": "an aiosmtpd server",
    "smtp": "an aiosmtpd server (test_outbox.py)",
    "browser": "Chromium through chromedriver",
    "soffice": "LibreOffice",
    "sandbox": "a real sandbox and its worker processes (test_sandbox.py)",
    "nginx_stack": "real nginx in front of a real `zxjyck web` (test_proxy.py)",
    "read": "every scan through the real sandbox and its OCR worker (test_ocr.py)",
    "reader": "the real sandbox and its OCR worker (test_scans_end_to_end.py)",
    # Not servers, but too slow for the fast side:
    "filled": "the sample mail ingested through the real parsers and two password hashes (about 1 s a test)",
    "scanned": "the sample mail and five scans ingested (about 2 s a test)",
    "campaign": "13 weeks of 21 cities' mail ingested through the real parsers (about 30 s, once a session)",
    "campaign_pg": "13 weeks of 21 cities' mail ingested into PostgreSQL (about 30 s a module)",
}

# Names a test's own code uses (module globals: helpers and modules) that start a server or a process.
SERVER_HELPERS = {
    "subprocess": "starts a process",
    "zxjyck": "runs the zxjyck console script",
    "running_smtp_server": "an aiosmtpd server",
    "running_console": "the console on an HTTP port",
    "chromium": "Chromium through chromedriver",
    "Sandbox": "a real sandbox and its worker processes",
    "Controller": "an aiosmtpd server",
    "socket": "opens sockets on loopback",
}

INTEGRATION_MODULES = {
    "test_daemon.py": "runs `zxjyck run` processes with signals",
    "test_disk_full.py": "mounts a small tmpfs and fills it, runs the CLI's processes",
    "test_demo.py": "runs scripts/demo.sh in a copy of the repository",
    "test_repo_standalone.py": "asks git for the tracked files",
    "test_ocr.py": "OCR: the models read pages (about 0.5 s a test) and the OCR worker",
    "test_peer_corpus.py": "ingests the 99 messages of fixtures/peer-mail (about 7 s)",
    "test_dossier.py": "mail ingested end to end, then PDF covers rendered and zips read back (about 1 s a test)",
    "test_cli_imports.py": "fresh interpreters list what each command imports (the CLI start's import graph)",
    "test_upgrade.py": "stores built at the previous schema revision, filled and upgraded (SQLite and PostgreSQL)",
    "test_panel_publication.py": "twelve applications ingested a test; LibreOffice saves the panel sheet and renders the list",
    "test_campaign_weeks.py": "twelve weeks of the 21 cities' mail ingested end to end (about 250 messages, 90 s)",
}

# Single tests (or parameters) in otherwise unit modules, as "module::name"; ``*`` matches any text.
INTEGRATION_TESTS = {
    "test_formats.py::test_legacy_format_with_libreoffice*": "LibreOffice converts .doc and .wps",
    "test_formats.py::test_libreoffice_timeout_is_a_conversion_problem": "runs LibreOffice",
    "test_analysis.py::test_weekly_form_end_to_end[weekly.doc]": "LibreOffice converts .doc",
    "test_analysis.py::test_weekly_form_end_to_end[weekly_native.wps]": "LibreOffice converts .wps",
    "test_writers.py::test_every_writer_gives_the_same_*[*-libreoffice.od*]": "LibreOffice converts OpenDocument",
    "test_mail_forms.py::test_a_form_past_the_mime_part_limit_is_named_as_the_reason*": "a mail of 1000s of parts (5 s)",
    "test_mail_forms.py::test_a_pdf_over_the_page_limit_is_named_on_the_message_and_to_staff*": "a 301-page PDF (1 s)",
}


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in key.split("*")) + r"\Z")


_TEST_PATTERNS = {key: _pattern(key) for key in INTEGRATION_TESTS}


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def integration_reasons(item: pytest.Item) -> list[str]:
    """Why ``item`` is an integration test (empty for a unit test)."""
    reasons = [f"{name}: {why}" for name, why in SERVER_FIXTURES.items() if name in item.fixturenames]
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("store_url") == "postgres":
        reasons.append("store_url[postgres]: PostgreSQL")
    function = getattr(item, "function", None)
    if function is not None:
        used = _names_used(function.__code__)
        reasons += [f"{name}: {why}" for name, why in SERVER_HELPERS.items() if name in used]
    module = item.path.name
    if module in INTEGRATION_MODULES:
        reasons.append(f"{module}: {INTEGRATION_MODULES[module]}")
    reasons += [f"{key}: {why}" for key, why in INTEGRATION_TESTS.items()
                if _TEST_PATTERNS[key].match(f"{module}::{item.name}")]
    return reasons


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    matched: set[str] = set()
    for item in items:
        reasons = integration_reasons(item)
        if reasons and item.get_closest_marker("unit") is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked unit but is an integration test: {'; '.join(reasons)}")
        item.add_marker(pytest.mark.integration(*reasons) if reasons else pytest.mark.unit)
        matched.update(reason.split(": ", 1)[0] for reason in reasons)
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:  # the whole suite: every entry must still apply
        stale = (set(INTEGRATION_MODULES) | set(INTEGRATION_TESTS)) - matched
        if stale:
            raise pytest.UsageError(f"tests/conftest.py lists tests that no longer exist: {sorted(stale)}")


class _UnitGuard:
    """Records the processes and connections a unit test starts (audit hooks, main thread only)."""

    EVENTS = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.fork", "os.forkpty",
              "socket.connect"}

    def __init__(self) -> None:
        self.watching = False
        self.breaches: list[str] = []

    def install(self) -> None:
        import sys
        import threading

        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        main = threading.main_thread()

        def audit(name: str, args: tuple) -> None:
            if self.watching and name in self.EVENTS and threading.current_thread() is main:
                what = args[1] if name in ("subprocess.Popen", "socket.connect") else args[:1]
                self.breaches.append(f"{name} {str(what)[:200]}")

        def on_connect(dbapi_connection, _record) -> None:
            module = type(dbapi_connection).__module__
            if self.watching and not module.startswith("sqlite3"):
                self.breaches.append(f"a {module} database connection")

        sys.addaudithook(audit)
        event.listen(Pool, "connect", on_connect)

    def take(self) -> list[str]:
        breaches, self.breaches = self.breaches, []
        return breaches


UNIT_GUARD = _UnitGuard()


def pytest_configure(config: pytest.Config) -> None:
    UNIT_GUARD.install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    breaches = UNIT_GUARD.take()
    # Setup and call only: a teardown may end a session-scoped server that an earlier test started.
    UNIT_GUARD.watching = call.when == "setup" and item.get_closest_marker("integration") is None
    if breaches and report.passed and call.when != "teardown":
        report.outcome = "failed"
        report.longrepr = (
            f"a unit test started a process or opened a connection: {'; '.join(dict.fromkeys(breaches))}. "
            "Request a server fixture, or list the test in INTEGRATION_MODULES or INTEGRATION_TESTS "
            "(tests/conftest.py), or keep it in-process."
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    UNIT_GUARD.take()
    UNIT_GUARD.watching = item.get_closest_marker("integration") is None
