"""The raw archive: every message's bytes, content-addressed by sha256.

Writes are atomic (temp file in the same folder, fsync, rename, fsync of the
folder), so a crash leaves either the whole file or nothing. The same bytes
are stored once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path

from store.errors import DiskFullError, StoreError
from store.files import fsync_dir, write_atomically, write_many_atomically


class ArchiveError(StoreError):
    """The archive could not be written or read."""


class MissingArchiveFile(ArchiveError):
    """A message row refers to bytes that are not in the archive."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


HEAD_BYTES = 256 * 1024  # what is kept in memory of a spooled message: its header block
SPOOL_PREFIX = ".incoming."
STALE_SPOOL_SECONDS = 24 * 3600  # a spool this old belongs to a process that died mid-fetch


class Spool:
    """A message arriving in pieces (an IMAP fetch in chunks), written to a temp file in the archive as it comes,
    hashed on the way, so that no process ever holds it whole. ``Archive.adopt`` moves it into place."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=root, prefix=SPOOL_PREFIX, suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = bytearray()  # the first HEAD_BYTES bytes, for the header fields of the row

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[:HEAD_BYTES - len(self.head)]

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Make the bytes durable in the temp file (flush, fsync, close)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def discard(self) -> None:
        """Drop the temp file; nothing is left once ``Archive.adopt`` has moved it into place."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class Archive:
    def __init__(self, root: Path, mode: int = 0o600):
        self.root = Path(root)
        self.mode = mode  # of every archived file: 0600, or 0640 with [store] group (store.files.file_mode)

    def path_for(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ArchiveError(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / f"{digest}.eml"

    @staticmethod
    def _holds(target: Path, size: int) -> bool:
        """These bytes are archived already (content-addressed: the same name and size)."""
        return target.exists() and target.stat().st_size == size

    def put(self, data: bytes) -> str:
        """Store bytes (once) and return their sha256."""
        digest = sha256_hex(data)
        target = self.path_for(digest)
        if self._holds(target, len(data)):
            return digest
        try:
            write_atomically(target, data, mode=self.mode)
        except OSError as exc:
            raise _write_error(f"cannot write {target}", self.root, exc) from exc
        return digest

    def put_many(self, datas: list[bytes]) -> list[str]:
        """Store several messages' bytes as one durable batch (store.files.write_many_atomically); their sha256s.

        Bytes already archived (or twice in the batch) are written once."""
        digests = [sha256_hex(data) for data in datas]
        todo: dict[Path, bytes] = {}
        for digest, data in zip(digests, datas, strict=True):
            target = self.path_for(digest)
            if target in todo or self._holds(target, len(data)):
                continue
            todo[target] = data
        if todo:
            try:
                write_many_atomically(list(todo.items()), mode=self.mode)
            except OSError as exc:
                raise _write_error(f"cannot write {len(todo)} file(s) under {self.root}", self.root, exc) from exc
        return digests

    def spool(self) -> Spool:
        """A temp file in the archive (the same file system, so adopting it is a rename). Spools a killed
        process left behind a day ago or more are removed (a live one is younger: several daemons may share
        the archive). Their age is read against the new spool's own mtime: the file system's clock, the one
        that stamped them too (a file server's clock may differ from this host's)."""
        try:
            spool = Spool(self.root)
            self._sweep_spools(spool.path.stat().st_mtime - STALE_SPOOL_SECONDS)
            return spool
        except OSError as exc:
            raise _write_error(f"cannot write in {self.root}", self.root, exc) from exc

    def _sweep_spools(self, older_than: float) -> None:
        for leftover in self.root.glob(SPOOL_PREFIX + "*.part"):
            with contextlib.suppress(FileNotFoundError):  # another process swept it first
                if leftover.stat().st_mtime < older_than:
                    leftover.unlink()

    def adopt(self, spool: Spool) -> str:
        """Move a finished spool into place (fsync of the file, rename, fsync of the folder); its sha256.
        Bytes already archived: the spool is dropped."""
        try:
            spool.finish()
            digest = spool.digest
            target = self.path_for(digest)
            if self._holds(target, spool.size):
                spool.discard()
                return digest
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(spool.path, self.mode)
            os.replace(spool.path, target)
            fsync_dir(target.parent)
        except OSError as exc:
            spool.discard()
            raise _write_error("cannot write the archived message", self.root, exc) from exc
        return digest

    def get(self, digest: str) -> bytes:
        path = self.path_for(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise MissingArchiveFile(f"archived message {digest} is missing from {self.root} / "
                                    "归档的原始邮件缺失") from exc
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror or exc} / 无法读取归档邮件") from exc
        if sha256_hex(data) != digest:
            raise ArchiveError(f"archived message {path} is corrupt (sha256 mismatch) / 归档邮件已损坏")
        return data

    def head(self, digest: str, limit: int = HEAD_BYTES) -> bytes:
        """The first ``limit`` bytes of an archived message (its header block, for a message too large to
        decode here); not checked against the digest, which needs the whole file."""
        path = self.path_for(digest)
        try:
            with path.open("rb") as fh:
                return fh.read(limit)
        except FileNotFoundError as exc:
            raise MissingArchiveFile(f"archived message {digest} is missing from {self.root} / "
                                    "归档的原始邮件缺失") from exc
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror or exc} / 无法读取归档邮件") from exc

    def has(self, digest: str) -> bool:
        return self.path_for(digest).exists()

    def remove(self, digest: str) -> bool:
        """Delete an archived message for good (retention, erasure): the file, made durable by an fsync of its
        folder. Whether there was one. Callers commit the row's marker first, so a crash in between leaves a
        file that the next purge removes, never a row that silently lost its original."""
        path = self.path_for(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ArchiveError(f"cannot remove {path}: {exc.strerror or exc} / 无法删除归档邮件") from exc
        fsync_dir(path.parent)
        return True

def _write_error(what: str, root: Path, exc: OSError) -> StoreError:
    """A write that failed: the archive's disk is full (``DiskFullError``, naming the archive), or another fault."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(str(root), exc.strerror or "")
    return ArchiveError(f"{what}: {exc.strerror or exc} / 无法写入归档")
