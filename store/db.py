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


class StoreMissing(StoreError):
    """No store at the URL (no SQLite file, or a database without zxjyck's tables): `zxjyck init` makes one."""


class SchemaTooOld(StoreError):
    """The store's schema is older than this build's: `zxjyck migrate` brings it up to date."""


class SchemaTooNew(StoreError):
    """The store's schema revision is unknown to this build (written by a newer zxjyck)."""


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


def make_engine(url: str, *, create_dirs: bool = True) -> Engine:
    """An engine for ``url``; ``create_dirs``: make a SQLite file's folder (not for a store that must exist)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"invalid database URL {redact(url)} / 数据库地址无效") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if create_dirs and parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
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


def _former_too_old(revision: str) -> MigrationError:
    return MigrationError(
        f"the database is at revision {revision} of an earlier release, which this release cannot upgrade: "
        f"start the earlier release once (any zxjyck command brings it to {FORMER_HEAD}), then this one / "
        f"数据库结构版本 {revision} 过旧，本版本无法直接升级：请先用原来的版本运行一次任一 zxjyck 命令"
        f"（升级到 {FORMER_HEAD}），再使用本版本")


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
        raise _former_too_old(stamped[0])
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
    """Bring the schema to the newest migration (idempotent; safe with concurrent starters on both backends).

    A store whose revision this build does not know (a newer zxjyck wrote it) is refused: SchemaTooNew."""
    if _at_head(engine):
        return
    from alembic import command

    current = read_revision(engine)
    if current is not None and current not in known_revisions() and current not in FORMER_REVISIONS:
        raise _too_new(current)

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


# ---------------------------------------------------------------- schema revisions: create, check, upgrade
# Only `zxjyck init`, `migrate`, `run`, `poll` and `ingest` create or upgrade a store (store.db.migrate);
# every other command calls require_schema: one cheap query, and a clear line when there is no store, when
# its schema is older (run `zxjyck migrate`) or newer than this build knows. Works with any linear chain.


def known_revisions() -> tuple[str, ...]:
    """Every revision of the migration chain this build ships, oldest first (Alembic's ScriptDirectory)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([rev.revision for rev in scripts.walk_revisions("base", "heads")]))


def _sqlite_file_missing(engine: Engine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "sqlite" and database is not None and database not in ("", ":memory:") and \
        not Path(database).exists()


def read_revision(engine: Engine) -> str | None:
    """The store's schema revision (one query), None when the store has no zxjyck tables; never creates
    anything (a missing SQLite file is not opened). DatabaseUnavailable when it cannot be reached."""
    from sqlalchemy.exc import ProgrammingError

    if _sqlite_file_missing(engine):
        return None
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"cannot reach the database {redact(str(engine.url))}: "
                                  f"{getattr(exc, 'orig', exc)} / 无法连接数据库") from exc
    absent = (OperationalError,) if engine.dialect.name == "sqlite" else (ProgrammingError,)
    with conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except absent:  # no such table: a database without zxjyck's tables
            return None
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(f"cannot read the database {redact(str(engine.url))}: "
                                      f"{getattr(exc, 'orig', exc)} / 无法读取数据库") from exc
    return rows[0] if rows else None


def _too_new(current: str) -> SchemaTooNew:
    head = head_revision()
    return SchemaTooNew(f"数据库结构版本 {current} 比本程序所知的最新版本 {head} 更新，请升级 zxjyck 后再运行 / "
                        f"the store's schema revision {current} is newer than this zxjyck knows (newest {head}): "
                        "upgrade zxjyck")


def require_schema(engine: Engine) -> str:
    """The store's revision when it is at this build's newest; otherwise one clear error (nothing created)."""
    current = read_revision(engine)
    url = redact(str(engine.url))
    if current is None:
        raise StoreMissing(f"{url} 处没有 zxjyck 数据库，请先运行 zxjyck init / no zxjyck store at {url}: "
                           "run `zxjyck init` first")
    if current == known_head():
        return current  # the usual case: the files' head read without importing Alembic
    revisions = known_revisions()
    if current in FORMER_REVISIONS and current != FORMER_HEAD:
        raise _former_too_old(current)
    if current not in revisions and current != FORMER_HEAD:
        raise _too_new(current)
    if current != revisions[-1]:  # an older revision, or the former chain's head (re-stamped by migrate)
        raise SchemaTooOld(f"数据库结构较旧（{current}，本程序需要 {revisions[-1]}），请运行 zxjyck migrate / "
                           f"the store's schema {current} is older than this zxjyck's {revisions[-1]}: "
                           "run `zxjyck migrate`")
    return current


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply the pending migrations (creating the store when there is none): (revision before, after)."""
    before = read_revision(engine)
    migrate(engine)
    return before, read_revision(engine)


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
