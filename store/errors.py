"""Exceptions of the store package."""

from zxjyck.errors import ZxjyckError


class StoreError(ZxjyckError):
    """Base of every error raised by the database or the raw archive."""


class DiskFullError(StoreError):
    """The disk (or quota) under the store or the archive is full: the operator's condition, not a message's."""

    def __init__(self, where: str, detail: str = "") -> None:
        self.where = where
        super().__init__(f"磁盘已满：{where} / disk full: {where}" + (f" ({detail})" if detail else "")
                         + "；请清理空间后再运行 / free some space, then run again")
