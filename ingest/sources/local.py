"""Messages from disk: .eml files, folders of them, mbox files, Maildir folders.

Each item carries its raw bytes and the best received time the medium offers:
a Maildir file's delivery time (its mtime, which IMAP servers on Maildir use as
INTERNALDATE); an mbox ``From_`` line; else the topmost ``Received:`` stamp;
else the ``Date:`` header; else the file's mtime.
"""

from __future__ import annotations

import fcntl
import logging
import mailbox
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.errors import IngestError

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 100 * 1024 * 1024


class PathNotFound(IngestError):
    """A path given to `zxjyck ingest` does not exist."""


class UnreadableSource(IngestError):
    """A local mailbox or file could not be read."""


class TakenElsewhere(IngestError):
    """Another poller has claimed (or already moved) this Maildir file: not an error, skip it."""


@dataclass
class RawItem:
    load: Callable[[], bytes]
    source: str  # eml | mbox | maildir
    source_ref: str
    received_at: datetime | None = None  # None: take it from the headers
    received_source: str = ""
    after_commit: Callable[[], None] | None = None  # e.g. mark a Maildir file as seen
    release: Callable[[], None] | None = None  # always called once the item is done with (a claim's lock)


def is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_MESSAGE_BYTES:
            raise UnreadableSource(f"{path}: larger than {MAX_MESSAGE_BYTES // 2**20} MB, not taken / "
                                      f"超过 {MAX_MESSAGE_BYTES // 2**20} MB，未导入")
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableSource(f"{path}: cannot read: {exc.strerror or exc} / 无法读取") from exc


def eml_item(path: Path) -> RawItem:
    return RawItem(load=lambda: _read_file(path), source="eml", source_ref=str(path),
                   received_at=None, received_source="file-mtime")


def mbox_items(path: Path) -> Iterator[RawItem]:
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            from_line = _from_line(box, key)
            stamp = _from_line_time(from_line)
            yield RawItem(load=lambda k=key: box.get_bytes(k), source="mbox", source_ref=f"{path}#{key}",
                          received_at=stamp, received_source="mbox-from-line" if stamp else "")
    finally:
        box.close()


def _from_line(box: mailbox.mbox, key: str) -> str:
    with box.get_file(key, from_=True) as fh:
        return fh.readline().decode("latin-1", "replace")


def _from_line_time(line: str) -> datetime | None:
    parts = line.split()
    if len(parts) < 7:
        return None
    try:
        stamp = datetime.strptime(" ".join(parts[-5:]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC)


def _entries(folder: Path) -> list[tuple[float, str, Path]]:
    """(mtime, name, path) of the message files in a Maildir folder; a file gone meanwhile is left out."""
    found = []
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_file():
                    found.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
            except FileNotFoundError:  # moved to cur/ by another poller since the listing
                continue
    return sorted(found)


def maildir_items(path: Path, subdirs: Iterable[str] = ("new", "cur"), mark_seen: bool = False) -> Iterator[RawItem]:
    """Files of a Maildir; with ``mark_seen``, each is claimed, then moved new/ -> cur/ after it is committed.

    Several pollers may read one Maildir: a file in new/ is claimed with an
    exclusive ``flock`` held until it has been committed and moved, so each
    file is taken once; a file another poller holds or has moved is skipped
    (``TakenElsewhere``), never an error.
    """
    for sub in subdirs:
        folder = path / sub
        try:
            entries = _entries(folder)
        except OSError as exc:
            raise UnreadableSource(f"{folder}: cannot list: {exc.strerror or exc} / 无法列出目录") from exc
        for mtime, _name, file in entries:
            stamp = datetime.fromtimestamp(mtime, UTC)
            if mark_seen and sub == "new":
                claim = _Claim(file, path)
                yield RawItem(load=claim.load, source="maildir", source_ref=str(file), received_at=stamp,
                              received_source="maildir-mtime", after_commit=claim.mark_seen, release=claim.release)
            else:
                yield RawItem(load=lambda f=file: _read_file(f), source="maildir", source_ref=str(file),
                              received_at=stamp, received_source="maildir-mtime")


class _Claim:
    """One Maildir file in new/, locked by this poller from reading until it is moved to cur/."""

    def __init__(self, file: Path, maildir: Path) -> None:
        self.file = file
        self.maildir = maildir
        self.fd: int | None = None

    def load(self) -> bytes:
        try:
            fd = os.open(self.file, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise TakenElsewhere(f"{self.file.name}: already taken by another poller") from exc
        except OSError as exc:
            raise UnreadableSource(f"{self.file}: cannot read: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise TakenElsewhere(f"{self.file.name}: being taken by another poller") from exc
        self.fd = fd
        try:  # the lock is ours, but the file may have been moved between our open and our lock
            still_here = os.stat(self.file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_here = False
        if not still_here:
            self.release()
            raise TakenElsewhere(f"{self.file.name}: already taken by another poller")
        return _read_file(self.file)

    def mark_seen(self) -> None:
        _mark_seen(self.file, self.maildir)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _mark_seen(file: Path, maildir: Path) -> None:
    name = file.name.split(":2,")[0] + ":2,S"
    try:
        os.replace(file, maildir / "cur" / name)
    except FileNotFoundError:
        log.info("maildir file %s already moved", file.name)


def check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every path must exist; checked before anything is taken so a typo changes nothing."""
    out = [Path(p) for p in paths]
    for path in out:
        if not path.exists():
            raise PathNotFound(f"{path}: no such file or folder / 文件或目录不存在")
    return out


def iter_paths(paths: Iterable[Path]) -> Iterator[RawItem]:
    """Items from files and folders as `zxjyck ingest` takes them.

    A file named on the command line is always taken (a file that is not mail is
    stored with a problem). In folders, recursively: Maildir folders, ``*.eml``
    files and mbox files; other files (README, LICENSE...) are passed over.
    """
    for path in paths:
        if path.is_dir():
            yield from _walk_folder(path)
        elif is_mbox(path):
            yield from mbox_items(path)
        else:
            yield eml_item(path)


def _walk_folder(root: Path) -> Iterator[RawItem]:
    if is_maildir(root):
        yield from maildir_items(root)
        for sub in sorted(p for p in root.iterdir() if p.name.startswith(".") and is_maildir(p)):
            yield from maildir_items(sub)  # Maildir++ subfolders
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        if is_maildir(here) and here != root:
            dirnames[:] = []
            yield from maildir_items(here)
            continue
        for name in sorted(filenames):
            file = here / name
            if name.lower().endswith(".eml"):
                yield eml_item(file)
            elif is_mbox(file):
                yield from mbox_items(file)
            else:
                log.debug("passed over %s (not .eml, not mbox)", file)
