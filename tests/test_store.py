"""The store on both backends: migrations, the archive, the message identity rules, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from store.archive import Archive, ArchiveError, MissingArchiveFile, sha256_hex
from store.db import current_revision, head_revision, known_head, make_engine, migrate
from store.repo import acquire_lease, get_cursor, release_lease, set_cursor


def test_migrations_reach_head_and_match_the_models(app) -> None:
    assert current_revision(app.engine) == head_revision()
    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrate_is_idempotent(app) -> None:
    migrate(app.engine)
    migrate(app.engine)
    assert current_revision(app.engine) == head_revision()


def test_the_head_read_from_the_migration_files_is_alembics(tmp_path: Path) -> None:
    # migrate() skips Alembic when the database holds this revision: it must be the one Alembic would reach
    assert known_head() == head_revision() is not None
    engine = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    migrate(engine)
    with engine.begin() as conn:  # a database one migration behind: the fast path must not take it for done
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'not-the-head'")
    with pytest.raises(Exception, match="not-the-head"):
        migrate(engine)
    engine.dispose()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_archive_is_content_addressed_and_atomic(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "a")
    digest = archive.put(b"raw bytes")
    assert digest == sha256_hex(b"raw bytes")
    assert archive.put(b"raw bytes") == digest
    assert archive.get(digest) == b"raw bytes"
    files = list((tmp_path / "a").rglob("*"))
    assert not [f for f in files if f.name.startswith(".tmp-")]
    archive.path_for(digest).write_bytes(b"tampered")
    with pytest.raises(ArchiveError, match="corrupt"):
        archive.get(digest)
    with pytest.raises(MissingArchiveFile):
        archive.get(sha256_hex(b"never stored"))
    with pytest.raises(ArchiveError):
        archive.path_for("../../etc/passwd")


def test_cursor_round_trip_with_large_uidvalidity(app) -> None:
    now = datetime(2020, 2, 24, tzinfo=UTC)
    assert get_cursor(app.engine, "u@h", "INBOX") is None
    set_cursor(app.engine, "u@h", "INBOX", 4294967295, 10, now)
    set_cursor(app.engine, "u@h", "INBOX", 4294967295, 12, now)
    assert get_cursor(app.engine, "u@h", "INBOX") == (4294967295, 12)


def test_lease_excludes_others_until_expiry(app) -> None:
    now = datetime(2020, 2, 24, tzinfo=UTC)
    assert acquire_lease(app.engine, "imap:x", "a", 60, now)
    assert not acquire_lease(app.engine, "imap:x", "b", 60, now + timedelta(seconds=30))
    assert acquire_lease(app.engine, "imap:x", "a", 60, now + timedelta(seconds=30))  # renew
    assert acquire_lease(app.engine, "imap:x", "b", 60, now + timedelta(seconds=91))  # expired
    release_lease(app.engine, "imap:x", "b")
    assert acquire_lease(app.engine, "imap:x", "c", 60, now + timedelta(seconds=92))


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_processing_claims_are_per_schema(app, store_url: str) -> None:
    """Advisory locks are database-wide; a claim in one schema must not block another schema's message 1."""
    import uuid

    from sqlalchemy import create_engine, text

    from ingest.pipeline.run import claim
    from tests.conftest import PG_URL, _pg_schema_url

    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other_schema}"'))
    other = make_engine(_pg_schema_url(other_schema))
    try:
        from types import SimpleNamespace

        with claim(app, 1) as first, claim(SimpleNamespace(engine=other), 1) as second:
            assert (first, second) == (True, True)
            with claim(app, 1) as again:
                assert again is False  # the same schema's claim is exclusive
    finally:
        other.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{other_schema}" CASCADE'))
        admin.dispose()


def test_concurrent_first_starts_on_one_sqlite_file_migrate_once(tmp_path: Path) -> None:
    """A daemon and a CLI command starting together on a new database must not both create the tables."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = f"from store.db import make_engine, migrate; migrate(make_engine({url!r}))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert current_revision(make_engine(url)) == head_revision()


def test_a_migration_that_fails_half_way_leaves_no_half_built_sqlite_schema(tmp_path: Path) -> None:
    """A process killed (here: an error) inside the migrations leaves the file as it was, not half migrated."""
    from sqlalchemy import event, text

    from store.errors import StoreError

    engine = make_engine(f"sqlite:///{tmp_path / 'half.db'}")

    def refuse(_conn, _cursor, statement, *_args) -> None:
        if "CREATE TABLE users" in statement:  # half-way through the baseline, after other tables were made
            raise RuntimeError("killed here")

    event.listen(engine, "before_cursor_execute", refuse)
    with pytest.raises((StoreError, RuntimeError)):
        migrate(engine)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
    assert tables == []
    assert current_revision(engine) is None
    event.remove(engine, "before_cursor_execute", refuse)
    migrate(engine)
    assert current_revision(engine) == head_revision()


def test_a_spool_left_by_a_killed_fetch_is_swept_and_a_live_one_is_kept(tmp_path: Path) -> None:
    import os

    archive = Archive(tmp_path / "archive")
    dead = archive.spool()  # as a poller killed mid-fetch leaves it: never adopted nor discarded
    dead.write(b"half a message")
    dead.finish()
    a_day_ago = dead.path.stat().st_mtime - 24 * 3600 - 60  # by the file system's clock
    os.utime(dead.path, (a_day_ago, a_day_ago))
    live = archive.spool()  # another poller's, still being written
    live.write(b"From: a@example.org\r\n\r\nbody")
    newest = archive.spool()
    assert not dead.path.exists()
    assert live.path.exists() and newest.path.exists()
    digest = archive.adopt(live)
    assert archive.get(digest) == b"From: a@example.org\r\n\r\nbody"
    newest.discard()
    assert not list(archive.root.glob(".incoming.*"))
