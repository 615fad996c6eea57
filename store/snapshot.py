"""Copies of the store that can be taken while the service runs, and put back on an empty store.

- The database: SQLite through its online backup API (one step, so the copy is one consistent moment
  even while another process writes), PostgreSQL through ``pg_dump --format=custom`` (one transaction);
  restored by copying the file back, or by ``pg_restore``.
- The raw archive: its files are content-addressed (the name is the sha256 of the bytes) and never
  change once written, so a copy of a file is checked by hashing it, and a file already in the
  destination is never copied again (incremental).

A password in a PostgreSQL URL reaches ``pg_dump``/``pg_restore`` only through ``PGPASSWORD`` in the
child's environment, never on its command line or in a log line.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from store.db import redact
from store.errors import StoreError
from store.files import fsync_dir

CHUNK = 1024 * 1024


class SnapshotError(StoreError):
    """A backup or a restore could not be done; the message says why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def backend(url: str) -> str:
    """"sqlite" or "postgresql"."""
    return make_url(url).get_backend_name()


# ---------------------------------------------------------------- the database


def _pg_env(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments for ``url``: the database name for the command line, the rest (password
    included) for the child's environment only."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                       ("PGPASSWORD", parsed.password)):
        if value not in (None, ""):
            env[key] = str(value)
    options = parsed.query.get("options")
    if options:
        env["PGOPTIONS"] = unquote(options if isinstance(options, str) else options[0])
    return [f"--dbname={parsed.database or ''}"], env


def _run(command: list[str], env: dict[str, str], what: str, url: str) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=6 * 3600, check=False)
    except FileNotFoundError as exc:
        raise SnapshotError(f"{command[0]} not found: install the PostgreSQL client (postgresql-client) / "
                            f"找不到 {command[0]}，请安装 PostgreSQL 客户端") from exc
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise SnapshotError(f"{what} of {redact(url)} failed: {reason[0][:300]} / 数据库{what}失败")


def dump_database(url: str, engine: Engine, target: Path) -> None:
    """A consistent copy of the whole database in ``target`` (a SQLite file, or a pg_dump custom archive)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if backend(url) == "sqlite":
        source_path = make_url(url).database
        if not source_path or source_path == ":memory:" or not Path(source_path).exists():
            raise SnapshotError(f"no SQLite file at {source_path} / 找不到数据库文件")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the process's umask decides (store.files.private_umask)
        os.close(fd)
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=60)
        try:
            dest = sqlite3.connect(target)
            try:
                source.backup(dest)  # all pages in one step: one read transaction, one moment
            finally:
                dest.close()
        except sqlite3.Error as exc:
            raise SnapshotError(f"SQLite backup failed: {exc} / 数据库备份失败") from exc
        finally:
            source.close()
    else:
        args, env = _pg_env(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", *args], env,
             "backup", url)
    _fsync(target)


def store_is_empty(url: str, engine: Engine) -> bool:
    """No table in the database (a SQLite file that does not exist yet counts as empty)."""
    if backend(url) == "sqlite":
        path = make_url(url).database
        if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
            return True
    return not inspect(engine).get_table_names()


def restore_database(url: str, source: Path) -> None:
    """Put a copy made by ``dump_database`` back on an empty database."""
    if backend(url) == "sqlite":
        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm"), path):
            leftover.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.close(fd)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dest = sqlite3.connect(path)
            try:
                src.backup(dest)
            finally:
                dest.close()
        finally:
            src.close()
        _fsync(path)
        return
    args, env = _pg_env(url)
    _run(["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", *args,
          str(source)], env, "restore", url)


# ---------------------------------------------------------------- the archive


def archive_files(root: Path) -> Iterator[Path]:
    """Every archived message under ``root`` (aa/bb/<sha256>.eml), without spools or temp files."""
    if not root.is_dir():
        return
    for path in sorted(root.glob("??/??/*.eml")):
        if len(path.stem) == 64 and path.is_file():
            yield path


def copy_verified(source: Path, target: Path, expected: str) -> None:
    """Copy ``source`` to ``target`` through a temp file, refusing bytes whose sha256 is not ``expected``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        with source.open("rb") as src, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != expected:
            raise SnapshotError(f"{source}: contents do not match sha256 {expected} / 文件内容与校验值不符")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def copy_archive(root: Path, dest: Path) -> tuple[list[str], int]:
    """Copy every archived message not yet in ``dest`` (same layout); the relative names of all of them and
    how many were new. A file's name is its sha256, so it is checked on the way."""
    names: list[str] = []
    copied = 0
    for path in archive_files(root):
        relative = path.relative_to(root).as_posix()
        names.append(relative)
        target = dest / relative
        if target.exists() and target.stat().st_size == path.stat().st_size:
            continue
        copy_verified(path, target, path.stem)
        copied += 1
    for folder in {(dest / n).parent for n in names}:
        fsync_dir(folder)
    return names, copied


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
