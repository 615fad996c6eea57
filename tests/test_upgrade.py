"""Upgrading a store: a store at the previous schema revision, filled with real data, is refused by the
reading commands ("run zxjyck migrate"), brought up to date by `zxjyck migrate` with every row and value
kept, and a store newer than the code is refused by every command with both revisions named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables)
from ingest.cli.main import main
from ingest.config import load_settings
from store.db import alembic_config, head_revision, known_revisions, make_engine
from tests.conftest import write_config
from tests.web_support import filled_app

# The schema revision before the newest one: the store an installed zxjyck has when the new one arrives.
# None while the chain holds one revision (the baseline): the upgrade is then to a scratch revision after
# it, in a copy of the migrations (a column added in place, a table created), so that `zxjyck migrate` is
# proved on a real two-step chain. The one constant to change when the next real migration lands.
PREVIOUS_REVISION: str | None = "baseline"
SCRATCH_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "upgrade_probe"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("probe_note", sa.Text(), nullable=True))
    op.create_table("upgrade_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrade_probe")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("probe_note")
"""


@pytest.fixture
def chain(tmp_path: Path, monkeypatch) -> Iterator[tuple[str, str]]:
    """(previous revision, newest revision) of the chain the test upgrades along."""
    if PREVIOUS_REVISION is not None:
        yield PREVIOUS_REVISION, head_revision()
        return
    import store.db

    head = head_revision()
    scratch = tmp_path / "migrations"
    shutil.copytree(store.db.MIGRATIONS, scratch, ignore=shutil.ignore_patterns("__pycache__"))
    (scratch / "versions" / "upgrade_probe.py").write_text(SCRATCH_REVISION.format(head=head), encoding="utf-8")
    monkeypatch.setattr(store.db, "MIGRATIONS", scratch)
    store.db.known_head.cache_clear()
    try:
        yield head, "upgrade_probe"
    finally:
        monkeypatch.undo()
        store.db.known_head.cache_clear()


def _tables_at(engine: sa.Engine) -> dict[str, sa.Table]:
    """The tables ``engine``'s store has, each with the columns it has there (types from the models, no
    Python-side defaults: what was written is what is read)."""
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    metadata = sa.MetaData()
    tables = {}
    for model in SQLModel.metadata.sorted_tables:  # parents before children
        if model.name not in present:
            continue
        names = {c["name"] for c in inspector.get_columns(model.name)}
        tables[model.name] = sa.Table(model.name, metadata, *(
            sa.Column(c.name, c.type, primary_key=c.primary_key) for c in model.columns if c.name in names))
    return tables


def _rows(engine: sa.Engine, tables: dict[str, sa.Table]) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        return {name: [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for name, t in tables.items()}


def _old_store(url: str, previous: str, rows: dict[str, list[dict]]) -> dict[str, sa.Table]:
    """A store at ``previous`` (Alembic upgraded that far only) holding ``rows`` where it has the tables and
    columns for them; returns its tables."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, previous)
        tables = _tables_at(engine)
        with engine.begin() as conn:
            for name, table in tables.items():
                if rows.get(name):
                    conn.execute(table.insert(), [{k: r[k] for k in table.columns.keys()} for r in rows[name]])
                if conn.dialect.name == "postgresql" and "id" in table.columns:  # ids were given: move sequences on
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))
        return tables
    finally:
        engine.dispose()


def test_the_previous_revision_is_the_one_before_the_newest(chain: tuple[str, str]) -> None:
    previous, newest = chain
    revisions = known_revisions()
    assert revisions[-1] == newest == head_revision() and revisions[-2] == previous


def test_migrate_keeps_every_row_of_a_store_at_the_previous_revision(store_url: str, tmp_path: Path, make_app,
                                                                      chain: tuple[str, str], capsys) -> None:
    previous, newest = chain
    # real data, written by this build into a store of its own (the sample mail, accounts, cities)
    (tmp_path / "source").mkdir()
    source = make_app(load_settings(write_config(tmp_path / "source", "sqlite:///var/zxjyck.db"), environ={}))
    filled_app(source, tmp_path)
    head_rows = _rows(source.engine, _tables_at(source.engine))
    assert len(head_rows["messages"]) >= 8 and head_rows["weekly_reports"] and head_rows["outbox"]

    (tmp_path / "old").mkdir()
    cfg = write_config(tmp_path / "old", store_url)
    url = load_settings(cfg, environ={}).store_url
    tables = _old_store(url, previous, head_rows)
    engine = make_engine(url)
    before = _rows(engine, tables)
    assert len(before["messages"]) == len(head_rows["messages"])  # the old store is filled
    capsys.readouterr()

    # a reading command refuses the older schema and says what to do
    assert main(["--config", str(cfg), "messages", "--json"]) == 1
    said = capsys.readouterr().err
    assert "zxjyck migrate" in said and previous in said and newest in said

    assert main(["--config", str(cfg), "migrate"]) == 0
    assert f"{previous} -> {newest}" in capsys.readouterr().out
    after = _rows(engine, tables)
    for name, rows in before.items():
        assert after[name] == rows, name  # every row, every value of every column the old store had
    assert main(["--config", str(cfg), "migrate"]) == 0
    assert "already current" in capsys.readouterr().out

    # the upgraded store serves as before: the same messages listed, an account added
    assert main(["--config", str(cfg), "messages", "--json", "--limit", "1000"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(m["id"] for m in listed) == sorted(m["id"] for m in head_rows["messages"])
    engine.dispose()


@pytest.mark.parametrize("command", [["status"], ["messages"], ["migrate"], ["init"], ["poll"], ["user", "list"]])
def test_a_store_newer_than_the_code_is_refused_naming_both_revisions(tmp_path: Path, command: list[str],
                                                                      capsys) -> None:
    from ingest.cli.check import run_checks

    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    assert main(["--config", str(cfg), "init"]) == 0
    engine = make_engine(load_settings(cfg, environ={}).store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'zz_later_release'"))
    engine.dispose()
    capsys.readouterr()
    assert main(["--config", str(cfg), *command]) == 1
    said = capsys.readouterr().err
    assert "zz_later_release" in said and head_revision() in said
    assert "newer than this zxjyck" in said and "请升级 zxjyck" in said
    assert said.strip().count("\n") == 0  # one line
    [store_row] = [r for r in run_checks(str(cfg), environ={}) if r.name == "数据库 Store"]
    assert not store_row.ok and "zz_later_release" in store_row.detail
    with engine.connect() as conn:  # and nothing touched it
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "zz_later_release"


def test_commands_other_than_the_creating_ones_leave_a_missing_store_missing(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    for command in (["status"], ["messages"], ["user", "list"], ["city", "list"], ["show", "1"],
                    ["export", "--format", "json"], ["digest"], ["migrate"], ["replay", "1"], ["web"],
                    ["remind", "--week", "2020-02-17"], ["user", "add", "alice", "--role", "staff"]):
        assert main(["--config", str(cfg), *command]) == 1, command
        said = capsys.readouterr().err
        assert f"sqlite:///{tmp_path}/var/zxjyck.db" in said and "zxjyck init" in said, command
        assert said.strip().count("\n") == 0
    assert not (tmp_path / "var").exists()
    assert main(["--config", str(cfg), "init"]) == 0
    assert "已创建数据库 created the store" in capsys.readouterr().out
    assert main(["--config", str(cfg), "init"]) == 0  # idempotent, and says so
    assert "the store exists" in capsys.readouterr().out
    assert main(["--config", str(cfg), "status"]) == 0


def test_a_postgres_database_without_our_tables_is_a_missing_store(tmp_path: Path, capsys) -> None:
    import uuid

    from tests.conftest import PG_URL, _pg_schema_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = _pg_schema_url(schema).replace("postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:pw@")
        cfg = write_config(tmp_path, url)
        assert main(["--config", str(cfg), "user", "list"]) == 1
        said = capsys.readouterr().err
        assert "postgres:***@127.0.0.1" in said and ":pw@" not in said and "zxjyck init" in said
        with admin.connect() as conn:  # nothing was created in the database
            assert conn.execute(sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                {"s": schema}).scalar() == 0
        assert main(["--config", str(cfg), "init"]) == 0
        assert main(["--config", str(cfg), "user", "list"]) == 0
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_version_comes_from_the_package_metadata(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"zxjyck {version('zxjyck')}"
