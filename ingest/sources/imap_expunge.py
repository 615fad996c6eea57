"""Removing mail from the server once it is safely here (``[imap] expunge_after_days``, off by default).

A message is deleted from the server only when it is older than the period (INTERNALDATE) and the store
holds a committed row for exactly its bytes (the sha256 of what the server returns now), whose archive
copy was fsynced before that row was committed (store before mark, docs/ARCHITECTURE.md). Anything
else stays. Deletion is ``\\Deleted`` + ``UID EXPUNGE`` of those UIDs only: a server without UIDPLUS
would expunge other clients' deleted mail too, so nothing is removed there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import DELETED

from ingest.sources.imap_connection import ImapAccount, connect, logout_quietly

log = logging.getLogger(__name__)
BATCH_BYTES = 16 * 1024 * 1024  # bodies fetched at once to be hashed


@dataclass
class ExpungeResult:
    checked: int = 0
    expunged: int = 0
    kept: int = 0  # older than the period but not (or not exactly) in the store
    problems: list[str] = field(default_factory=list)


def expunge_archived(settings: ImapAccount, before: datetime, is_archived: Callable[[str], bool],
                     connector: Callable[[ImapAccount], object] = connect) -> ExpungeResult:
    """Delete from the server the messages received before ``before`` whose bytes the store holds."""
    result = ExpungeResult()
    client = connector(settings)
    try:
        if not client.has_capability("UIDPLUS"):
            result.problems.append("server without UIDPLUS: nothing expunged / 服务器不支持 UIDPLUS，未删除")
            return result
        client.select_folder(settings.processed_folder or settings.folder)
        uids = client.search(["BEFORE", before.date()])
        sizes = {uid: int(d.get(b"RFC822.SIZE", 0)) for uid, d in client.fetch(uids, [b"RFC822.SIZE"]).items()} \
            if uids else {}
        for batch in _batches(sorted(sizes), sizes):
            answer = client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE"])
            done = []
            for uid, data in answer.items():
                raw, when = data.get(b"BODY[]"), data.get(b"INTERNALDATE")
                result.checked += 1
                if isinstance(raw, bytes) and when is not None and _before(when, before) \
                        and is_archived(hashlib.sha256(raw).hexdigest()):
                    done.append(uid)
                else:
                    result.kept += 1
            if done:
                client.add_flags(done, [DELETED], silent=True)
                client.uid_expunge(done)
                result.expunged += len(done)
    finally:
        logout_quietly(client)
    log.info("IMAP %s/%s: expunged %d archived message(s) older than %s, kept %d", settings.username,
             settings.processed_folder or settings.folder, result.expunged, before.date(), result.kept)
    return result


def _before(when: datetime, before: datetime) -> bool:
    return when < before if when.tzinfo is not None else when < before.replace(tzinfo=None)


def _batches(uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in uids:
        if current and total + sizes[uid] > BATCH_BYTES:
            batches.append(current)
            current, total = [], 0
        current.append(uid)
        total += sizes[uid]
    if current:
        batches.append(current)
    return batches
