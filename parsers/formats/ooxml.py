"""Checks shared by every zip-based container (xlsx, docx, plain zip) before anything is expanded."""

from __future__ import annotations

import zipfile

from parsers.formats.errors import EncryptedFileError, LimitExceededError
from parsers.formats.limits import Limits, human_size


class UnzipBudget:
    """Declared uncompressed bytes still allowed for one attachment, shared by nested archives."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.remaining = limits.max_unzipped_bytes

    def spend(self, nbytes: int, filename: str) -> None:
        self.remaining -= nbytes
        if self.remaining < 0:
            raise LimitExceededError(
                filename, "unzipped_size", f"解压后超过 {human_size(self.limits.max_unzipped_bytes)}"
            )


def check_zip_safety(zf: zipfile.ZipFile, filename: str, limits: Limits, budget: UnzipBudget,
                     encrypted_is_error: bool = True) -> None:
    """Refuse a bomb from the central directory alone: member count, declared total size, ratios.

    zipfile never returns more than a member's declared size, so the declared sizes are binding.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise LimitExceededError(
            filename, "zip_members", f"共 {len(infos)} 个文件，上限 {limits.max_zip_members} 个"
        )
    total = 0
    for info in infos:
        if encrypted_is_error and info.flag_bits & 0x1:
            raise EncryptedFileError(filename, "zip")
        total += info.file_size
        if info.file_size >= limits.ratio_check_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise LimitExceededError(
                    filename,
                    "compression_ratio",
                    f"成员压缩比 {ratio:.0f}:1，上限 {limits.max_compression_ratio}:1",
                )
    budget.spend(total, filename)
