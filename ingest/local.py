"""Messages from disk: .eml files, folders of them, mbox files, Maildir folders.

Each item carries its raw bytes and the best received time the medium offers:
a Maildir file's delivery time (its mtime, which IMAP servers on Maildir use as
INTERNALDATE); an mbox ``From_`` line; else the topmost ``Received:`` stamp;
else the ``Date:`` header; else the file's mtime.
"""

from __future__ import annotations

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


@dataclass
class RawItem:
    load: Callable[[], bytes]
    source: str  # eml | mbox | maildir
    source_ref: str
    received_at: datetime | None = None  # None: take it from the headers
    received_source: str = ""
    after_commit: Callable[[], None] | None = None  # e.g. mark a Maildir file as seen


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


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


def maildir_items(path: Path, subdirs: Iterable[str] = ("new", "cur"), mark_seen: bool = False) -> Iterator[RawItem]:
    """Files of a Maildir; with ``mark_seen``, each is moved new/ -> cur/ after it is committed."""
    for sub in subdirs:
        folder = path / sub
        try:
            entries = sorted((e for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")),
                             key=lambda e: (e.stat().st_mtime, e.name))
        except OSError as exc:
            raise UnreadableSource(f"{folder}: cannot list: {exc.strerror or exc} / 无法列出目录") from exc
        for entry in entries:
            file = Path(entry.path)
            after = (lambda f=file: _mark_seen(f, path)) if (mark_seen and sub == "new") else None
            yield RawItem(load=lambda f=file: _read_file(f), source="maildir", source_ref=str(file),
                          received_at=_mtime(file), received_source="maildir-mtime", after_commit=after)


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
