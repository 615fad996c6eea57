"""Engines, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from store.errors import DiskFullError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(StoreError):
    """The database could not be opened or reached."""


class MigrationError(StoreError):
    """The schema could not be brought up to date."""


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"invalid database URL {redact(url)} / 数据库地址无效") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailable(f"no driver for {redact(url)} (install zxjyck[postgres]) / "
                                  "缺少数据库驱动（请安装 zxjyck[postgres]）") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (each runs in one transaction, see migrate)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The migration chain the baseline revision replaced: the revision ids a store made by it holds. Its head
# holds exactly the baseline's schema; a store at an older one cannot be upgraded by this release.
FORMER_HEAD = "0004_i16"
FORMER_REVISIONS = frozenset({"0001", "0002", "0003", "0004_i17b", "0004_i14", FORMER_HEAD})
BASELINE = "baseline"


def _adopt_former_store(conn: Connection) -> None:
    """Re-stamp a store made by the former chain (at its head: same schema) as ``baseline``; refuse an older one.

    Runs in the migration's transaction, under its lock, before Alembic reads the revision.
    """
    if not inspect(conn).has_table("alembic_version"):
        return
    stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(stamped) != 1 or stamped[0] not in FORMER_REVISIONS:
        return
    if stamped[0] != FORMER_HEAD:
        raise MigrationError(
            f"the database is at revision {stamped[0]} of an earlier release, which this release cannot upgrade: "
            f"start the earlier release once (any zxjyck command brings it to {FORMER_HEAD}), then this one / "
            f"数据库结构版本 {stamped[0]} 过旧，本版本无法直接升级：请先用原来的版本运行一次任一 zxjyck 命令"
            f"（升级到 {FORMER_HEAD}），再使用本版本")
    conn.execute(text("UPDATE alembic_version SET version_num = :new"), {"new": BASELINE})
    log.info("store made before the baseline revision re-stamped: %s -> %s (same schema)", FORMER_HEAD, BASELINE)


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


@cache
def known_head() -> str | None:
    """The newest revision, read from the migration files' ``revision``/``down_revision`` lines.

    What lets a start-up skip Alembic (a tenth of a second to import and run) when the
    schema is already there; None (so Alembic decides) unless the files show exactly one head.
    tests/test_store.py checks it against Alembic's own answer.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(fields["revision"])
            down = ast.literal_eval(fields.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        revisions.add(revision)
        parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database already holds the newest schema (read without Alembic, no lock taken)."""
    head = known_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False  # no table yet (a new database), or it cannot be read: the full path says why
    return rows == [head]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe with concurrent starters on both backends)."""
    if _at_head(engine):
        return
    from alembic import command

    try:
        with _sqlite_file_lock(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(74240001)")
            else:
                # pysqlite runs DDL outside any transaction unless one is begun by hand: without this, a process
                # killed mid-migration leaves a half-built schema ("table … already exists" at the next start)
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            _adopt_former_store(conn)
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot reach the database {redact(str(engine.url))}: {exc.orig} / "
                                  "无法连接数据库") from exc
    except SQLAlchemyError as exc:
        raise MigrationError(f"migration failed on {redact(str(engine.url))}: {exc} / 数据库升级失败") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error. A database whose disk is full raises
    ``DiskFullError`` naming where the database lives."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            if database_disk_full(exc):
                raise DiskFullError(database_location(engine), "database") from exc
            raise
        except BaseException:
            session.rollback()
            raise


def database_disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full" (SQLITE_FULL), PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = getattr(exc, "orig", exc)
    return "database or disk is full" in str(orig) or getattr(orig, "sqlstate", None) == "53100"


def database_location(engine: Engine) -> str:
    """The database file's folder (SQLite), else the server, without credentials."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return str(Path(url.database).resolve().parent)
    return url.render_as_string(hide_password=True)
