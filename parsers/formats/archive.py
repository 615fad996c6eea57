"""Plain zip archives: checked from the central directory, then read member by member.

Member names without the UTF-8 flag (bit 0x800) are whatever code page the
sender's Windows used - in Guangdong that is GBK. zipfile has decoded them as
cp437; we take the raw bytes back and try UTF-8 first (strict: GBK text is
almost never valid UTF-8, while UTF-8 names written by macOS without the flag
would be silently garbled by a GBK decode), then GB18030, then cp437.
"""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from collections.abc import Callable

from parsers.document import Document
from parsers.formats.errors import CorruptFileError, FormatError, LimitExceededError
from parsers.formats.limits import Limits
from parsers.formats.ooxml import UnzipBudget, check_zip_safety

log = logging.getLogger(__name__)

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
SKIPPED_PREFIXES = ("__MACOSX/",)

MemberReader = Callable[[bytes, str], Document]


def decode_member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def read_zip(data: bytes, filename: str, limits: Limits, budget: UnzipBudget, depth: int,
             read_member: MemberReader) -> Document:
    """``depth`` is this archive's nesting level (1 for an attached zip)."""
    if depth > limits.max_zip_depth:
        raise LimitExceededError(filename, "zip_depth", f"超过 {limits.max_zip_depth} 层")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(filename, "zip", str(exc)) from exc
    with zf:
        check_zip_safety(zf, filename, limits, budget, encrypted_is_error=False)
        members: list[tuple[str, Document]] = []
        for info in zf.infolist():
            name = decode_member_name(info)
            if info.is_dir() or name.startswith(SKIPPED_PREFIXES) or posixpath.basename(name).startswith("._"):
                continue
            members.append((name, _read_one(zf, info, name, read_member, filename)))
    return Document(format="zip", members=members)


def _read_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, read_member: MemberReader,
              archive_name: str) -> Document:
    if info.flag_bits & ENCRYPTED_FLAG:
        return Document(format="unknown", problems=[f"压缩包内文件“{name}”设置了密码（已加密），无法读取，请去掉密码后重新发送"])
    try:
        with zf.open(info) as fh:
            content = fh.read()  # never more than the declared size, which the budget has allowed
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        log.info("zip member %r unreadable: %s", name, exc)
        return Document(format="unknown", problems=[f"压缩包内文件“{name}”已损坏，无法解压"])
    try:
        return read_member(content, name)
    except LimitExceededError as exc:  # a bomb anywhere condemns the whole attachment, named from the outside
        raise LimitExceededError(archive_name, exc.kind, f"“{name}”{exc.detail}") from exc
    except FormatError as exc:
        return Document(format=getattr(exc, "fmt", "unknown"), problems=[exc.problem])
