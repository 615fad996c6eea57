"""A store made before the baseline revision: recognised, re-stamped ``baseline`` and kept whole.

The migration chain the baseline replaced is frozen as the statements it left in a database
(tests/former_store/sqlite.sql, tests/former_store/postgresql.sql). A store is built from them,
filled with the sample mail as today's code records it (in the columns the former schema has), then opened as
every ``zxjyck`` command opens it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ingest.cli.main import main
from ingest.config import Settings, load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from notify.transport import MemoryTransport
from store.db import (
    BASELINE,
    FORMER_HEAD,
    MigrationError,
    current_revision,
    head_revision,
    make_engine,
    migrate,
)
from tests.conftest import FIXTURES, REPO, write_config

FORMER = REPO / "tests" / "former_store"


def build_former_store(engine: Engine) -> None:
    """The schema and the revision stamp the former chain left, on an empty database."""
    with engine.begin() as conn:
        assert inspect(conn).get_table_names() == []
        script = (FORMER / f"{conn.dialect.name}.sql").read_text(encoding="utf-8")
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.executescript(script)
        else:
            conn.exec_driver_sql(script)


def schema(engine: Engine) -> dict[str, Any]:
    """Every table with its columns in order (type, nullability, server default), keys, indexes and constraints."""
    insp = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        tables[name] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in insp.get_columns(name)],
            "primary_key": insp.get_pk_constraint(name)["constrained_columns"],
            "foreign_keys": sorted((fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                                   for fk in insp.get_foreign_keys(name)),
            "indexes": sorted((i["name"], i["column_names"], bool(i["unique"])) for i in insp.get_indexes(name)),
            "unique": sorted((u["name"] if engine.dialect.name == "postgresql" else None, u["column_names"])
                             for u in insp.get_unique_constraints(name)),
            "checks": sorted(c["sqltext"] for c in insp.get_check_constraints(name)),
        }
    return tables


def stamp(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def migrate_to(engine, revision: str) -> None:
    """Upgrade ``engine``'s store to ``revision`` only (not the head)."""
    from alembic import command

    from store.db import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_the_baseline_makes_exactly_the_former_schema(tmp_path: Path, store_url: str) -> None:
    sqlite = store_url.startswith("sqlite")
    former = make_engine(f"sqlite:///{tmp_path / 'former.db'}" if sqlite else store_url)
    other = f"{store_url.rsplit('%3D', 1)[-1]}_baseline"  # PostgreSQL: a second schema beside the test's own
    if not sqlite:
        with former.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{other}"')
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}" if sqlite
                        else f"{store_url.rsplit('%3D', 1)[0]}%3D{other}")
    try:
        build_former_store(former)
        assert stamp(former) == [FORMER_HEAD]
        made_by_the_former_chain = schema(former)
        migrate_to(fresh, BASELINE)
        assert stamp(fresh) == [BASELINE]
        assert schema(fresh) == made_by_the_former_chain
        assert len(made_by_the_former_chain) == 20  # nineteen tables and alembic_version
        migrate(former)  # re-stamped as the baseline, then upgraded like any store at the baseline
        migrate(fresh)
        assert stamp(former) == [head_revision()] and schema(former) == schema(fresh)
    finally:
        fresh.dispose()
        if not sqlite:
            with former.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')
        former.dispose()


@pytest.fixture
def clock_in_the_samples_week(clock):
    clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)  # the day after the deadline: replies are due
    return clock


def copy_rows(source: Engine, target: Engine) -> None:
    """Every row of ``source`` into the same tables of ``target``, in the columns ``target`` has (the former
    schema has fewer): a store as the earlier release left it, filled with what today's code recorded."""
    from sqlalchemy import MetaData

    have = MetaData()
    have.reflect(target)
    wanted = MetaData()
    wanted.reflect(source)
    with source.connect() as read, target.begin() as write:
        for table in wanted.sorted_tables:
            if table.name == "alembic_version" or table.name not in have.tables:
                continue
            columns = [c.name for c in have.tables[table.name].columns if c.name in table.columns]
            rows = [dict(r._mapping) for r in read.execute(table.select().with_only_columns(
                *[table.columns[c] for c in columns]))]
            if rows:
                write.execute(have.tables[table.name].insert(), rows)
        if write.dialect.name == "postgresql":  # the sequences go on from the copied ids
            for table in have.sorted_tables:
                if "id" in table.columns and table.name != "alembic_version":
                    write.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                          f"COALESCE((SELECT MAX(id) FROM {table.name}), 1))")


def test_a_former_store_with_mail_is_re_stamped_and_loses_nothing(
        settings: Settings, clock_in_the_samples_week, make_app, tmp_path: Path) -> None:
    clock = clock_in_the_samples_week
    # the sample mail processed, notices written, by today's code in a store of its own
    (tmp_path / "source").mkdir()
    source = make_app(load_settings(write_config(tmp_path / "source", "sqlite:///var/zxjyck.db"), environ={}),
                      transport=MemoryTransport())
    source.analyzer = InProcessAnalyzer()
    ingest_paths(source, [FIXTURES / "mail"])
    before = export_state(source.engine)
    assert len(before["messages"]) == 8 and before["weekly_reports"] and before["applications"]
    assert before["outbox"]
    # the same rows in a store of the former schema, as the earlier release would have them
    engine = make_engine(settings.store_url)
    build_former_store(engine)
    copy_rows(source.engine, engine)
    assert stamp(engine) == [FORMER_HEAD]

    today = make_app(settings, transport=MemoryTransport())  # what every zxjyck command does first
    today.analyzer = InProcessAnalyzer()
    assert current_revision(today.engine) == head_revision()
    upgraded = export_state(today.engine)
    # what the former schema had no table for starts empty at the upgrade: the history of figures
    assert upgraded.pop("figure_changes") == [] and before.pop("figure_changes")
    assert upgraded == before
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}") if engine.dialect.name == "sqlite" else None
    if fresh is not None:
        migrate(fresh)
        assert schema(today.engine) == schema(fresh)
        fresh.dispose()
    # and it goes on working: a new message gets the next row ids
    extra = tmp_path / "extra"
    extra.mkdir()
    raw = (FIXTURES / "mail" / "08-question.eml").read_bytes()
    (extra / "again.eml").write_bytes(b"X-Resent: yes\r\n" + raw)
    ingest_paths(today, [extra])
    after = export_state(today.engine)
    [new] = [m for m in after["messages"] if m not in before["messages"]]
    assert new["id"] == 9 and new["same_message_id_as"] == 8 and len(after["messages"]) == 9
    engine.dispose()
    del clock


def test_a_store_of_an_older_former_revision_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'zxjyck.db'}")
    build_former_store(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    with pytest.raises(MigrationError) as refused:
        migrate(engine)
    message = str(refused.value)
    assert "\n" not in message and "0003" in message and FORMER_HEAD in message
    assert "earlier release" in message and "原来的版本" in message
    assert stamp(engine) == ["0003"]  # untouched
    engine.dispose()
    # what a person sees from any command: that line, exit 1
    assert main(["--config", str(write_config(tmp_path, "sqlite:///var/zxjyck.db")), "status"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "0003" in err and "Traceback" not in err
