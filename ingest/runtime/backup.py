"""`zxjyck backup` and `zxjyck restore`: one consistent copy of everything only this machine holds.

A backup folder holds the archive once, shared by every backup taken into it, and one folder per backup::

    DIR/archive/aa/bb/<sha256>.eml          the raw messages (a file is copied once, by the first backup)
    DIR/snapshots/<YYYYMMDDTHHMMSSZ>/
        database.sqlite3 | database.pgdump  the database (SQLite online backup, or pg_dump --format=custom)
        config.toml                         the configuration with its passwords removed
        manifest.json                       sha256 of every file above and of every archive file it needs

The database is copied first, then the archive. Archive files are content-addressed and only ever added
(never rewritten), and a message's file is durable before its row is committed; so every row in the
database copy has its file by the time the archive is copied. (The other order could copy rows whose
files arrived after the archive copy.) Files the archive gained meanwhile are copied too; they are
harmless: no row names them yet, and the next pickup of that mail finds its bytes already archived.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from ingest.app import App
from ingest.config import Settings
from ingest.errors import IngestError
from store import snapshot
from store.db import make_engine, migrate, redact, session_scope
from store.files import file_mode, make_private_dir, protect_tree, write_atomically
from store.models import AuditEntry, Message

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
FORMAT = 1
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")


class BackupError(IngestError):
    """A backup or restore was refused or failed; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    database_bytes: int
    archive_files: int
    archive_copied: int


@dataclass(frozen=True)
class RestoreResult:
    messages: int
    archive_files: int
    taken_at: datetime
    missing_files: int


def redacted_config(text: str) -> str:
    """The configuration file's text without secrets: password lines become comments, a URL loses its
    password."""
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip().strip('"').lower() if "=" in line else ""
        if key in ("password", "pass", "secret") or key.endswith("_password"):
            lines.append(f"# {key} = (removed from the backup / 备份中已删除)")
        elif key == "url" and "@" in line:
            value = line.split("=", 1)[1].strip().strip('"')
            lines.append(f'url = "{redact(value)}"')
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes, group: str | None) -> None:
    write_atomically(path, data, mode=file_mode(group))


def backup(app: App, out: Path, actor: str) -> BackupResult:
    """Copy the database, then the archive's new files, then the configuration and the manifest to ``out``."""
    settings = app.settings
    group = settings.group
    out = out.expanduser().absolute()
    make_private_dir(out, group)
    taken_at = app.now()
    folder = out / "snapshots" / taken_at.strftime("%Y%m%dT%H%M%SZ")
    if folder.exists():
        raise BackupError(f"{folder} exists already: one backup per second / 该时刻的备份已存在")
    make_private_dir(folder, group)
    kind = snapshot.backend(settings.store_url)
    db_name = "database.sqlite3" if kind == "sqlite" else "database.pgdump"
    snapshot.dump_database(settings.store_url, app.engine, folder / db_name)  # first: see the module's doc
    names, copied = snapshot.copy_archive(settings.archive_dir, make_private_dir(out / "archive", group))
    config_text = settings.path.read_text(encoding="utf-8") if settings.path.exists() else ""
    _write(folder / "config.toml", redacted_config(config_text).encode("utf-8"), group)
    manifest = {
        "format": FORMAT,
        "taken_at": taken_at.isoformat(),
        "backend": kind,
        "database": db_name,
        "files": {name: snapshot.sha256_file(folder / name) for name in (db_name, "config.toml")},
        "archive": {name: Path(name).stem for name in names},
    }
    _write(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"), group)
    protect_tree(folder, group)
    with session_scope(app.engine) as session:
        session.add(AuditEntry(at=app.now(), actor=actor[:255], action="backup",
                               detail=f"{folder} ({len(names)} archive files, {copied} new)"[:2000]))
    log.info("backup written to %s: %d archive files (%d new)", folder, len(names), copied)
    return BackupResult(folder, (folder / db_name).stat().st_size, len(names), copied)


def _latest(source: Path) -> Path:
    """The backup to restore: ``source`` itself when it holds a manifest, else its newest snapshot."""
    if (source / MANIFEST).is_file():
        return source
    candidates = sorted(p for p in (source / "snapshots").glob("*") if _STAMP.match(p.name)) \
        if (source / "snapshots").is_dir() else []
    if not candidates:
        raise BackupError(f"{source}: no backup here (no {MANIFEST}) / 该目录中没有备份")
    return candidates[-1]


def _archive_root(folder: Path) -> Path:
    return folder.parent.parent / "archive"


def verify(folder: Path) -> dict:
    """The manifest of a backup whose every file is whole; else BackupError naming the first bad file."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files, archive = dict(manifest["files"]), dict(manifest["archive"])
        manifest["taken_at"] = datetime.fromisoformat(manifest["taken_at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{folder / MANIFEST}: unreadable manifest ({exc}) / 备份清单无法读取") from exc
    checks = [(folder / name, digest) for name, digest in files.items()]
    checks += [(_archive_root(folder) / name, digest) for name, digest in archive.items()]
    for path, digest in checks:
        if not path.is_file():
            raise BackupError(f"{path}: missing from the backup / 备份文件缺失")
        if snapshot.sha256_file(path) != digest:
            raise BackupError(f"{path}: changed since the backup (sha256 differs) / 备份文件已被改动")
    return manifest


def restore(settings: Settings, source: Path, actor: str, now: datetime) -> RestoreResult:
    """Verify a backup and put it on the configured store and archive, which must both be empty."""
    folder = _latest(source.expanduser().absolute())
    manifest = verify(folder)
    kind = snapshot.backend(settings.store_url)
    if manifest["backend"] != kind:
        raise BackupError(f"the backup is of a {manifest['backend']} store, the configuration names a {kind} one / "
                          "备份与配置的数据库类型不同")
    if any(settings.archive_dir.iterdir() if settings.archive_dir.is_dir() else ()):
        raise BackupError(f"{settings.archive_dir}: the archive is not empty; restore only onto an empty one / "
                          "归档目录非空，只能恢复到空目录")
    engine = make_engine(settings.store_url)
    try:
        if not snapshot.store_is_empty(settings.store_url, engine):
            raise BackupError(f"{redact(settings.store_url)}: the database is not empty; restore only onto an "
                              "empty one / 数据库非空，只能恢复到空数据库")
        engine.dispose()
        snapshot.restore_database(settings.store_url, folder / manifest["database"])
        archive_dir = make_private_dir(settings.archive_dir, settings.group)
        for name, digest in manifest["archive"].items():
            snapshot.copy_verified(_archive_root(folder) / name, archive_dir / name, digest)
        protect_tree(archive_dir, settings.group)
        engine = make_engine(settings.store_url)
        migrate(engine)  # a backup taken by an older version: its schema brought up to date
        with session_scope(engine) as session:
            messages = session.exec(select(func.count()).select_from(Message)).one()
            kept = session.exec(select(Message.sha256).where(Message.raw_removed_at.is_(None))).all()
            missing = sum(1 for digest in kept if not (archive_dir / digest[:2] / digest[2:4] / f"{digest}.eml")
                          .is_file())
            session.add(AuditEntry(at=now, actor=actor[:255],
                                   action="restore", detail=f"from {folder}"[:2000]))
    finally:
        engine.dispose()
    return RestoreResult(messages, len(manifest["archive"]), manifest["taken_at"], missing)
