"""`zxjyck backup` while a poll stores mail, `zxjyck restore` onto a fresh SQLite folder and a fresh PostgreSQL
database: the same JSON export, the same bytes for every archived message, `replay` working; a changed
byte in the backup or a non-empty target refused. The commands are those of docs/operations.md."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.outputs.export import export_state
from store.db import make_engine
from tests.conftest import FIXTURES, PG_URL, REPO, write_config
from zxjyck.calendar import zone

pytestmark = pytest.mark.integration
TZ = zone("Asia/Shanghai")
SECRET = "imap-secret-Do-Not-Copy"


def zx(config: Path, *args: str, check: bool = True, umask: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=600,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def fill_maildir(folder: Path, count: int) -> None:
    new = folder / "new"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for fixture in sorted((FIXTURES / "mail").glob("*.eml")):
        shutil.copy(fixture, new / fixture.name)
    start = datetime(2020, 2, 24, 1, 0, tzinfo=UTC)
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"person{n}@example.org"
        msg["To"] = "zxjyck@163.com"
        msg["Subject"] = f"咨询第{n}号：线上培训平台申报"
        msg["Date"] = format_datetime(start + timedelta(minutes=n))
        msg["Message-ID"] = f"<q{n}@example.org>"
        msg.set_content(f"您好，请问第{n}个问题。\n")
        (new / f"{n:05d}.eml").write_bytes(bytes(msg))


def message_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    except Exception:  # noqa: BLE001 - the table is not there yet
        return 0
    finally:
        engine.dispose()


def export(url: str) -> dict:
    engine = make_engine(url)
    try:
        return export_state(engine, TZ)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request, tmp_path: Path) -> Iterator[list[str]]:
    """Three fresh store URLs: the running store and two restore targets."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / name / 'var' / 'zxjyck.db'}" for name in ("live", "restored", "restored2")]
        return
    names = [f"zx_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0].replace("postgres@", f"postgres:{SECRET}@")  # trust auth: never checked
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def site(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder, url)


def archived(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / "var" / "archive").glob("??/??/*.eml")}


def test_backup_while_polling_then_restore(tmp_path: Path, databases: list[str]) -> None:
    live_url, target_url, target2_url = databases
    live = site(tmp_path / "live", live_url)
    fill_maildir(tmp_path / "live" / "mailbox", 300)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    poll = subprocess.Popen([sys.executable, "-m", "ingest.cli", "--config", str(live), "poll"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while message_count(live_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert poll.poll() is None, "the poll ended before the backup could start"
        backup_dir = tmp_path / "backup"
        made = zx(live, "backup", "--out", str(backup_dir))
        assert "已备份 backed up" in made.stdout
    finally:
        assert poll.wait(timeout=600) == 0, poll.stderr.read() if poll.stderr else ""

    first = next((backup_dir / "snapshots").iterdir())
    manifest = json.loads((first / "manifest.json").read_text())
    every_file = b"".join(p.read_bytes() for p in backup_dir.rglob("*") if p.is_file())
    assert SECRET.encode() not in every_file

    # restored from the backup taken mid-poll: what the snapshot held, every original byte-identical
    target = site(tmp_path / "restored", target_url)
    done = zx(target, "restore", str(backup_dir))
    restored = export(target_url)
    assert f"已恢复 restored: {len(restored['messages'])} 封邮件 messages" in done.stdout
    assert 0 < len(restored["messages"]) <= 308
    if manifest["backend"] == "sqlite":  # the snapshot itself, read directly, says the same
        copy = tmp_path / "snapshot.db"
        shutil.copy(first / "database.sqlite3", copy)
        assert export(f"sqlite:///{copy}") == restored
    live_files, restored_files = archived(tmp_path / "live"), archived(tmp_path / "restored")
    engine = make_engine(target_url)
    with engine.connect() as conn:
        shas = conn.execute(text("SELECT sha256 FROM messages")).scalars().all()
    engine.dispose()
    assert shas and all(restored_files[f"{s}.eml"] == live_files[f"{s}.eml"] for s in shas)
    replayed = zx(target, "replay", str(restored["messages"][0]["id"]))
    assert "重新处理 Replayed (1)" in replayed.stdout

    # a second backup into the same folder copies only what is new, and restores to the whole final state
    again = zx(live, "backup", "--out", str(backup_dir))
    new_files = int(again.stdout.split("新增 new ")[1].split(")")[0])
    assert new_files == len(live_files) - len(manifest["archive"])
    target2 = site(tmp_path / "restored2", target2_url)
    zx(target2, "restore", str(backup_dir))
    assert export(target2_url) == export(live_url)
    assert archived(tmp_path / "restored2") == live_files

    # the restored store is not empty any more: a second restore onto it is refused
    refused = zx(target2, "restore", str(backup_dir), check=False)
    assert refused.returncode == 1 and "not empty" in refused.stderr


def test_restore_refuses_a_changed_byte_naming_the_file(tmp_path: Path) -> None:
    live = site(tmp_path / "live", "sqlite:///var/zxjyck.db")
    zx(live, "ingest", str(FIXTURES / "mail" / "08-question.eml"))
    zx(live, "backup", "--out", str(tmp_path / "b"))
    victim = next((tmp_path / "b" / "archive").rglob("*.eml"))
    data = bytearray(victim.read_bytes())
    data[100] ^= 1
    victim.write_bytes(bytes(data))
    target = site(tmp_path / "restored", "sqlite:///var/zxjyck.db")
    refused = zx(target, "restore", str(tmp_path / "b"), check=False)
    assert refused.returncode == 1
    assert victim.name in refused.stderr and "changed since the backup" in refused.stderr
    assert not (tmp_path / "restored" / "var" / "zxjyck.db").exists()
    snapshot_db = next((tmp_path / "b" / "snapshots").iterdir()) / "database.sqlite3"
    assert sqlite3.connect(snapshot_db).execute("SELECT count(*) FROM messages").fetchone() == (1,)


def test_the_configuration_is_backed_up_without_its_secrets() -> None:
    from ingest.runtime.backup import redacted_config

    text = (f'[imap]\nhost = "imap.163.com"\npassword = "{SECRET}"\n[smtp]\n password="{SECRET}"\n'
            f'[store]\nurl = "postgresql+psycopg://zx:{SECRET}@db.example/zx"\n[notify]\nsender = "a@b.cn"\n')
    cleaned = redacted_config(text)
    assert SECRET not in cleaned
    assert 'host = "imap.163.com"' in cleaned and 'sender = "a@b.cn"' in cleaned
    assert "postgresql+psycopg://zx:***@db.example/zx" in cleaned
    assert cleaned.count("removed from the backup") == 2
