"""Files holding personal data are the service's alone (0600/0700), or also a configured group's (0640/0750),
whatever the umask the service was started with."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest

from ingest.app import open_app
from ingest.config import load_settings
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from tests.conftest import FIXTURES, write_config
from tests.test_backup import zx


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def assert_private(root: Path, group: str | None = None) -> None:
    want_file, want_dir = (0o640, 0o2750) if group else (0o600, 0o700)
    found = modes(root)
    assert len(found) > 1
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != (want_dir if (root / name).is_dir() else want_file)}
    assert not wrong, wrong
    if group:
        gid = grp.getgrnam(group).gr_gid
        assert {p.stat().st_gid for p in [root, *root.rglob("*")]} == {gid}


def test_the_store_and_its_wal_are_private_while_open(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db"), environ={})
    with open_app(settings) as app:
        app.analyzer = InProcessAnalyzer()
        ingest_paths(app, [FIXTURES / "mail" / "08-question.eml"])
        db = tmp_path / "var" / "zxjyck.db"
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert_private(tmp_path / "var" / "archive")


@pytest.mark.integration
@pytest.mark.parametrize("group", [None, grp.getgrgid(os.getgid()).gr_name])
def test_store_archive_exports_and_backups_under_umask_022(tmp_path: Path, group: str | None) -> None:
    extra = f'[store]\ngroup = "{group}"\n' if group else ""
    config = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    if group:  # the key goes into the existing [store] table
        config.write_text(config.read_text().replace('archive_dir = "var/archive"',
                                                     f'archive_dir = "var/archive"\ngroup = "{group}"'))
    assert extra or not group
    zx(config, "ingest", str(FIXTURES / "mail" / "01-guangzhou-weekly.eml"), str(FIXTURES / "mail" / "08-question.eml"),
       umask=0o022)
    zx(config, "export", "--format", "xlsx", "--week", "2020-02-17", "--out", str(tmp_path / "out" / "week.xlsx"),
       umask=0o022)
    zx(config, "backup", "--out", str(tmp_path / "backup"), umask=0o022)
    assert_private(tmp_path / "var", group)  # the database, the archive, the outbox folder
    assert_private(tmp_path / "backup", group)
    week = tmp_path / "out" / "week.xlsx"
    assert stat.S_IMODE(week.stat().st_mode) == (0o640 if group else 0o600)
