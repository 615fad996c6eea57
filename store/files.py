"""Writing files so that a crash leaves the whole file or nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(target: Path, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``target``: temp file in the same folder, fsync, rename, fsync of the folder.

    Raises OSError; callers turn it into their own package's error.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_many_atomically(items: list[tuple[Path, bytes]], mode: int | None = None) -> None:
    """Write several files durably with one fsync per file and one per directory, as a batch.

    Every temp file is written first, then each is fsynced, renamed into place, and
    each distinct folder is fsynced once. On ext4 (and most journaling file systems)
    the first fsync commits the journal for all the files written before it, so the
    rest return almost at once: a batch costs about two journal commits instead of
    two per file. When this returns, every file is whole on disk; after a crash
    before that, each target holds its whole old content or its whole new content.

    Raises OSError; callers turn it into their own package's error.
    """
    pending: list[tuple[Path, str]] = []
    try:
        for target, data in items:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            pending.append((target, tmp))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if mode is not None:
                    os.fchmod(fh.fileno(), mode)
        for _target, tmp in pending:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for target, tmp in pending:
            os.replace(tmp, target)
    except BaseException:
        for _target, tmp in pending:
            Path(tmp).unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(target.parent for target, _tmp in pending):
        fsync_dir(folder)


# ---------------------------------------------------------------- who may read what the service writes
# Personal data: the store, the archive, exports and backups are for the service's user only (0600 files,
# 0700 folders), or also for one group (0640/0750) when ``[store] group`` names one, whatever the umask.


def file_mode(group: str | None = None) -> int:
    return 0o640 if group else 0o600


def dir_mode(group: str | None = None) -> int:
    return 0o750 if group else 0o700


def private_umask(group: str | None = None) -> None:
    """Make every file and folder this process creates from now on private (or group-readable)."""
    os.umask(0o027 if group else 0o077)


def protect(path: Path, group: str | None = None) -> None:
    """Give an existing file or folder the private mode (and the configured group: folders get the
    set-group-ID bit, so what is created in them later keeps that group)."""
    import grp

    is_dir = path.is_dir()
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, (dir_mode(group) | (0o2000 if group else 0)) if is_dir else file_mode(group))


def protect_tree(root: Path, group: str | None = None) -> None:
    """``protect`` a folder and everything under it."""
    if not root.exists():
        return
    protect(root, group)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            protect(Path(folder) / name, group)


def make_private_dir(path: Path, group: str | None = None) -> Path:
    """Create a folder (and its parents) with the private mode, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True, mode=dir_mode(group))
    protect(path, group)
    return path
