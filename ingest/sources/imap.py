"""The IMAP source: fetch new messages into an injected sink, then mark them.

Order of effects for every batch (so a crash anywhere loses nothing and stores
nothing twice):

1. ``UID FETCH <batch> (BODY.PEEK[] INTERNALDATE)`` - PEEK, so \\Seen is never set;
2. ``sink.store()`` for each message - it archives and COMMITS, and recognises
   bytes it already holds;
3. mark on the server: keyword ``$ZxjyckIngested`` and/or MOVE to the processed
   folder (COPY + UID EXPUNGE of exactly those UIDs without MOVE); never a bare
   EXPUNGE, never a delete;
4. ``sink.set_cursor()`` to the last UID of the batch.

The cursor is ``(UIDVALIDITY, last UID)`` per account and folder. When the
server's UIDVALIDITY differs, the folder is read again from UID 1; the sink's
byte-level dedupe makes that safe.
"""

from __future__ import annotations

import enum
import imaplib
import logging
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from imapclient import DELETED, IMAPClient
from imapclient import exceptions as imap_exc

from ingest.sources.imap_connection import (
    SYSTEM_CLOCK,
    TRANSIENT_ERRORS,
    Clock,
    Connector,
    ImapAccount,
    SystemClock,
    account_name,
    backoff_delay,
    connect,
    logout_quietly,
)
from ingest.sources.imap_errors import (
    ImapConnectionError,
    ImapError,
    ImapFolderError,
    ImapSinkError,
    ImapTlsError,
    MessageRejectedError,
)
from ingest.sources.imap_idle import WakeReason, wait_for_new
from store.holders import holder_is_gone

log = logging.getLogger(__name__)

INGESTED_KEYWORD = b"$ZxjyckIngested"
FETCH_ITEMS = (b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS")
DEFAULT_LEASE_TTL_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_BATCH_BYTES = 32 * 1024 * 1024  # bodies held in memory at once (one bigger message goes alone)
# A message this large is fetched in STREAM_CHUNK pieces (BODY.PEEK[]<offset.length>) straight into the archive
# by a sink that can spool, so the poller never holds it whole; smaller ones come in batches.
STREAM_ABOVE = 4 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024
NO_BODY = "服务器没有返回邮件内容（可能已被删除），已跳过"


class IngestSink(Protocol):
    """Where fetched messages go. The real one is the database (store/)."""

    def get_cursor(self, account: str, folder: str) -> tuple[int, int] | None: ...

    def set_cursor(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None: ...

    def store(self, raw: bytes, received_at: datetime, source_ref: str) -> bool:
        """Archive and commit; True if new, False if these bytes were stored before.
        Raises MessageRejectedError for bytes that can never be stored; anything
        else it raises is an infrastructure failure."""
        ...

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    # Optional: store_batch(items: list[(raw, received_at, source_ref)]) -> list[bool] makes a fetched batch
    # durable at once (new or not, per item); if it raises, nothing of the batch is committed. A sink that has
    # it gets each batch through it (ingest.runtime.imap_sink.DbSink); one without gets store() per message.


@dataclass
class PollResult:
    """What one poll did. ``problems`` are for the staff: one line per skipped message."""

    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    errors: int = 0
    skipped: bool = False  # another holder has the lease; nothing was done
    lease_lost: bool = False  # the lease could not be renewed; stopped early
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)
    strategy: MarkingStrategy | None = None  # how fetched mail was marked on the server
    lease_holder: str | None = None  # when skipped: who holds the lease
    lease_expires_at: datetime | None = None
    lease_taken_over_from: str | None = None  # a dead holder's lease this poll took over


@dataclass(frozen=True)
class MarkingStrategy:
    """How fetched messages are marked, chosen from what the server offers.

    The cursor (UIDVALIDITY, last UID) in the store is always kept and is what
    decides what is new; marks are for people reading the mailbox and for a
    second installation. ``keyword``: the server takes custom keywords (``\\*``
    or the keyword itself in PERMANENTFLAGS). ``folder``: "move" (MOVE),
    "copy-expunge" (COPY + UID EXPUNGE, UIDPLUS), "copy" (COPY only: without
    UIDPLUS an EXPUNGE would also remove other clients' deleted mail, so the
    originals stay) or "" (no processed_folder).
    """

    keyword: bool
    folder: str
    target: str | None = None

    def describe(self) -> str:
        parts = []
        if self.keyword:
            parts.append(f"keyword {INGESTED_KEYWORD.decode()}")
        if self.folder == "move":
            parts.append(f"MOVE to {self.target}")
        elif self.folder == "copy-expunge":
            parts.append(f"COPY+UID EXPUNGE to {self.target}")
        elif self.folder == "copy":
            parts.append(f"COPY to {self.target} (originals stay)")
        parts.append("cursor")
        return " + ".join(parts)


def choose_strategy(has_capability: Callable[[str], bool], permanent_flags: Sequence[bytes],
                    processed_folder: str | None) -> MarkingStrategy:
    keyword = _keywords_allowed(permanent_flags)
    if not processed_folder:
        return MarkingStrategy(keyword, "")
    if has_capability("MOVE"):
        return MarkingStrategy(keyword, "move", processed_folder)
    if has_capability("UIDPLUS"):
        return MarkingStrategy(keyword, "copy-expunge", processed_folder)
    return MarkingStrategy(keyword, "copy", processed_folder)


def lease_name(settings: ImapAccount) -> str:
    return f"imap:{account_name(settings)}/{settings.folder}"


def source_ref(settings: ImapAccount, uidvalidity: int, uid: int) -> str:
    """An RFC 5092 IMAP URL naming exactly one message."""
    user = quote(settings.username, safe="")
    return f"imap://{user}@{settings.host}/{quote(settings.folder)};UIDVALIDITY={uidvalidity}/;UID={uid}"


# --------------------------------------------------------------------------- polling


class _Lease:
    """The lease ``imap:<account>/<folder>``, renewed while a long poll runs."""

    def __init__(self, sink: IngestSink, name: str, holder: str, ttl: int, clock: Clock) -> None:
        self.sink, self.name, self.holder, self.ttl, self.clock = sink, name, holder, ttl, clock
        self.renewed_at = clock.monotonic()
        self.taken_over_from: str | None = None
        self.other: tuple[str, datetime] | None = None  # the live holder, when not acquired

    def acquire(self) -> bool:
        self.renewed_at = self.clock.monotonic()
        try:
            if self.sink.acquire_lease(self.name, self.holder, self.ttl):
                return True
            return self._take_over_if_dead()
        except Exception as exc:
            raise ImapSinkError(f"taking the lease {self.name} failed: {exc}") from exc

    def _take_over_if_dead(self) -> bool:
        info_of = getattr(self.sink, "lease_info", None)
        take_over = getattr(self.sink, "take_over_lease", None)
        if info_of is None:
            return False
        info = info_of(self.name)
        if info is None:  # released meanwhile
            return bool(self.sink.acquire_lease(self.name, self.holder, self.ttl))
        self.other = info
        old = info[0]
        if take_over is None or not holder_is_gone(old):
            return False
        if not take_over(self.name, old, self.holder, self.ttl):
            return False
        log.warning("IMAP lease %s: its holder %s is gone (no such process on this host); taken over by %s",
                    self.name, old, self.holder)
        self.taken_over_from, self.other = old, None
        return True

    def renew_if_due(self) -> bool:
        if self.clock.monotonic() - self.renewed_at < self.ttl / 3:
            return True
        return self.acquire()

    def release(self) -> None:
        try:
            self.sink.release_lease(self.name, self.holder)
        except Exception as exc:  # it expires by itself; do not hide the poll's own outcome
            log.warning("releasing the lease %s failed: %s", self.name, exc)


def poll_once(
    settings: ImapAccount,
    sink: IngestSink,
    *,
    holder: str,
    clock: Clock = SYSTEM_CLOCK,
    connector: Connector | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease_ttl_seconds: int = DEFAULT_LEASE_TTL_SECONDS,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
) -> PollResult:
    """Fetch every message above the cursor into ``sink``, then mark it on the server.

    A batch holds at most ``settings.batch_size`` messages and, by their
    RFC822.SIZE, at most ``max_batch_bytes`` (a bigger message is fetched alone).

    Reconnects with capped exponential backoff when the line drops (the attempt
    count starts again after every batch that got through). Raises ImapAuthError,
    ImapTlsError, ImapFolderError, ImapSinkError at once, ImapConnectionError
    after ``max_attempts`` failed connections in a row.
    """
    connector = connector or connect
    lease = _Lease(sink, lease_name(settings), holder, lease_ttl_seconds, clock)
    if not lease.acquire():
        holder, expires = lease.other or (None, None)
        log.info("IMAP poll of %s skipped: lease held by %s until %s", lease.name, holder or "another poller",
                 expires)
        return PollResult(skipped=True, lease_holder=holder, lease_expires_at=expires)
    result = PollResult(lease_taken_over_from=lease.taken_over_from)
    try:
        limits = _BatchLimits(max(1, settings.batch_size), max(1, max_batch_bytes))
        suspects = _Suspects()
        _with_reconnect(lambda: _poll_session(settings, sink, connector, result, lease, clock, limits, suspects),
                        settings, result, clock, max_attempts)
    finally:
        lease.release()
    log.info("IMAP poll of %s: fetched=%d new=%d duplicates=%d errors=%d reconnects=%d",
             lease.name, result.fetched, result.new, result.duplicates, result.errors, result.reconnects)
    return result


def _with_reconnect(session: Callable[[], int], settings: ImapAccount, result: PollResult,
                    clock: Clock, max_attempts: int) -> None:
    failures = 0
    while True:
        batches_before = _batches_done(result)
        try:
            session()
            return
        except TRANSIENT_ERRORS as exc:
            if _is_permanent_tls_failure(exc):
                raise ImapTlsError(f"TLS with {account_name(settings)} failed: {exc}") from exc
            failures = 1 if _batches_done(result) > batches_before else failures + 1
            if failures >= max_attempts:
                tries = f" after {failures} attempts" if failures > 1 else ""
                raise ImapConnectionError(
                    f"IMAP {account_name(settings)}:{settings.port} unreachable{tries}: {exc}") from exc
            delay = backoff_delay(failures)
            log.warning("IMAP %s: connection failed (%s); retry %d in %.1fs",
                        account_name(settings), exc, failures, delay)
            result.reconnects += 1
            clock.sleep(delay)


def _batches_done(result: PollResult) -> int:
    return result.fetched + result.errors


def _is_permanent_tls_failure(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLCertVerificationError)


@dataclass(frozen=True)
class _BatchLimits:
    messages: int
    bytes: int


@dataclass
class _Suspects:
    """What made the server hang up on a FETCH, kept across the reconnects of one poll.

    Dovecot answers a FETCH of a message it cannot read with ``* BYE`` and closes
    the line. A batch that got such an answer is fetched again one UID at a time;
    a UID that gets it POISON_AFTER times on its own is skipped with a problem,
    so one broken message cannot block the folder. Dropped lines (EOF, reset,
    timeout) never count: a flaky network must not make us skip mail.
    """

    ranges: list[tuple[int, int]] = field(default_factory=list)
    failures: dict[int, tuple[int, str]] = field(default_factory=dict)

    def covers(self, uid: int) -> bool:
        return any(low <= uid <= high for low, high in self.ranges)

    def is_poison(self, uid: int) -> bool:
        return self.failures.get(uid, (0, ""))[0] >= POISON_AFTER

    def record(self, uids: list[int], exc: BaseException) -> None:
        if len(uids) == 1:
            count = self.failures.get(uids[0], (0, ""))[0]
            self.failures[uids[0]] = (count + 1, str(exc))
        else:
            self.ranges.append((uids[0], uids[-1]))


POISON_AFTER = 2


def _is_server_hangup(exc: BaseException) -> bool:
    """The server said BYE to our command (not: the line broke)."""
    return isinstance(exc, imaplib.IMAP4.abort) and "socket error" not in str(exc)


def _poll_session(settings: ImapAccount, sink: IngestSink, connector: Connector,
                  result: PollResult, lease: _Lease, clock: Clock, limits: _BatchLimits,
                  suspects: _Suspects) -> int:
    client = connector(settings)
    try:
        return _FolderPoller(client, settings, sink, result, lease, clock, limits, suspects).run()
    except imap_exc.IMAPClientAbortError:
        raise
    except (imap_exc.IMAPClientError, imap_exc.ProtocolError) as exc:
        raise ImapFolderError(f"IMAP {account_name(settings)}/{settings.folder}: the server refused a "
                              f"command: {exc}") from exc
    finally:
        logout_quietly(client)


class _Outcome(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


class _FolderPoller:
    """One connection's worth of work on one folder."""

    def __init__(self, client: IMAPClient, settings: ImapAccount, sink: IngestSink,
                 result: PollResult, lease: _Lease, clock: Clock, limits: _BatchLimits,
                 suspects: _Suspects) -> None:
        self.client, self.settings, self.sink = client, settings, sink
        self.result, self.lease, self.clock, self.limits = result, lease, clock, limits
        self.suspects = suspects
        self.large: set[int] = set()  # UIDs of STREAM_ABOVE bytes or more, fetched in pieces
        self.account = account_name(settings)
        self.folder = settings.folder
        self.uidvalidity = 0
        self.strategy = MarkingStrategy(False, "")

    def run(self) -> int:
        info = self._select()
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.strategy = choose_strategy(self.client.has_capability, info.get(b"PERMANENTFLAGS", ()),
                                        self.settings.processed_folder)
        self.result.strategy = self.strategy
        if not self.strategy.keyword:
            log.info("IMAP %s/%s: server does not allow keywords; marking: %s",
                     self.account, self.folder, self.strategy.describe())
        if self.settings.processed_folder:
            if self.settings.processed_folder == self.folder:
                raise ImapFolderError(f"IMAP {self.account}: processed_folder is the polled folder "
                                      f"{self.folder!r}; messages would be fetched forever")
            self._ensure_folder(self.settings.processed_folder)
        uids = self._uids_above(self._start_uid())
        batches = 0
        for batch in self._batches(uids):
            if not self.lease.renew_if_due():
                log.warning("IMAP %s/%s: lease lost; stopping this poll", self.account, self.folder)
                self.result.lease_lost = True
                break
            self._ingest_batch(batch)
            batches += 1
        return batches

    def _batches(self, uids: list[int]) -> Iterator[list[int]]:
        """Batches of at most ``limits.messages`` UIDs and ``limits.bytes`` bytes."""
        for batch in _chunks(uids, self.limits.messages):
            if any(self.suspects.covers(uid) for uid in batch):
                yield from ([uid] for uid in batch)  # one at a time: find the one the server chokes on
                continue
            sizes = self._fetch(batch, [b"RFC822.SIZE"])
            known = {uid: int(d.get(b"RFC822.SIZE", 0)) for uid, d in sizes.items()}
            self.large.update(uid for uid, size in known.items() if size >= STREAM_ABOVE)
            yield from _split_by_size(batch, known, self.limits.bytes, alone_above=STREAM_ABOVE)

    def _select(self) -> dict[bytes, Any]:
        try:
            return self.client.select_folder(self.folder, readonly=False)
        except imap_exc.IMAPClientAbortError:
            raise
        except imap_exc.IMAPClientError as exc:
            raise ImapFolderError(f"cannot select folder {self.folder!r} of {self.account}: {exc}") from exc

    def _ensure_folder(self, name: str) -> None:
        try:
            if not self.client.folder_exists(name):
                log.info("IMAP %s: creating processed folder %r", self.account, name)
                self.client.create_folder(name)
        except imap_exc.IMAPClientAbortError:
            raise
        except imap_exc.IMAPClientError as exc:
            raise ImapFolderError(f"cannot create folder {name!r} on {self.account}: {exc}") from exc

    def _start_uid(self) -> int:
        cursor = self._sink_call("reading the cursor", self.sink.get_cursor, self.account, self.folder)
        if cursor is None:
            return 0
        uidvalidity, last_uid = cursor
        if uidvalidity != self.uidvalidity:
            log.warning("IMAP %s/%s: UIDVALIDITY changed %d -> %d; reading the whole folder again",
                        self.account, self.folder, uidvalidity, self.uidvalidity)
            self._set_cursor(0)
            return 0
        return last_uid

    def _set_cursor(self, last_uid: int) -> None:
        self._sink_call("saving the cursor", self.sink.set_cursor, self.account, self.folder,
                        self.uidvalidity, last_uid)

    def _sink_call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:
            raise ImapSinkError(f"IMAP {self.account}/{self.folder}: {what} failed: {exc}") from exc

    def _uids_above(self, last_uid: int) -> list[int]:
        # "n:*" always matches the highest UID, even when it is below n: filter.
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def _fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        try:
            return self.client.fetch(uids, items)
        except imaplib.IMAP4.abort as exc:
            if _is_server_hangup(exc):
                self.suspects.record(uids, exc)
            raise

    def _fetch_bodies(self, batch: list[int]) -> dict[int, dict[bytes, Any]]:
        response = self._fetch(batch, list(FETCH_ITEMS))
        missing = [uid for uid in batch if not isinstance(response.get(uid, {}).get(b"BODY[]"), bytes)]
        if missing:  # asked once more before a message is called gone
            response.update(self._fetch(missing, list(FETCH_ITEMS)))
        return response

    def _ingest_batch(self, batch: list[int]) -> None:
        if len(batch) == 1 and self.suspects.is_poison(batch[0]):
            reason = self.suspects.failures[batch[0]][1]
            self._skip(batch[0], f"服务器每次读取这封邮件都断开连接（已试 {POISON_AFTER} 次），已跳过，"
                                 f"请在邮箱中查看原件：{reason}")
            self._set_cursor(batch[0])
            return
        if len(batch) == 1 and batch[0] in self.large and hasattr(self.sink, "spool") \
                and hasattr(self.sink, "store_spooled"):
            self._ingest_streamed(batch[0])
            return
        response = self._fetch_bodies(batch)
        # \Deleted is set only after the COPY to the processed folder: such a message was copied by a run that
        # died before its EXPUNGE, and copying it again would leave two copies there
        copied = {uid for uid in batch if DELETED in (response.get(uid, {}).get(b"FLAGS") or ())}
        if getattr(self.sink, "store_batch", None) is not None:
            self._ingest_batch_at_once(batch, response, copied)
            return
        to_mark: list[int] = []
        passed = 0  # last UID fully dealt with (stored, duplicate or skipped)
        try:
            for uid in batch:
                outcome = self._store_one(uid, response.get(uid))
                if outcome is not _Outcome.SKIPPED:
                    to_mark.append(uid)
                passed = uid
        finally:
            # Even when a store failed, what committed before it is marked and passed.
            self._mark(to_mark, already_copied=copied)
            if passed:
                self._set_cursor(passed)

    def _ingest_batch_at_once(self, batch: list[int], response: dict[int, dict[bytes, Any]],
                              copied: set[int]) -> None:
        """The batch made durable in one go by a sink with ``store_batch`` (archive files, then one transaction),
        then marked on the server and the cursor passed: the same order of effects as one at a time."""
        items: list[tuple[int, bytes, datetime, str]] = []
        skipped: set[int] = set()
        for uid in batch:
            data = response.get(uid) or {}
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                self._skip(uid, NO_BODY)
                skipped.add(uid)
                continue
            items.append((uid, raw, self._received_at(uid, data.get(b"INTERNALDATE")),
                          source_ref(self.settings, self.uidvalidity, uid)))
        self.result.fetched += len(items)
        try:
            created = self.sink.store_batch([(raw, received_at, ref) for _uid, raw, received_at, ref in items])
        except Exception as exc:
            # nothing of the batch is committed: the cursor passes only the skipped UIDs before the first one
            passed = 0
            for uid in batch:
                if uid not in skipped:
                    break
                passed = uid
            if passed:
                self._set_cursor(passed)
            first = items[0][3] if items else "?"
            raise ImapSinkError(f"storing the batch from {first} ({len(items)} message(s)) failed: {exc}") from exc
        for is_new in created:
            if is_new:
                self.result.new += 1
            else:
                self.result.duplicates += 1
        self._mark([uid for uid, *_rest in items], already_copied=copied)
        self._set_cursor(batch[-1])

    def _store_one(self, uid: int, data: dict[bytes, Any] | None) -> _Outcome:
        raw = (data or {}).get(b"BODY[]")
        if not isinstance(raw, bytes):
            return self._skip(uid, NO_BODY)
        received_at = self._received_at(uid, (data or {}).get(b"INTERNALDATE"))
        self.result.fetched += 1
        ref = source_ref(self.settings, self.uidvalidity, uid)
        return self._store_with(uid, ref, lambda: self.sink.store(raw, received_at, ref))

    def _store_with(self, uid: int, ref: str, store: Callable[[], bool]) -> _Outcome:
        try:
            is_new = store()
        except MessageRejectedError as exc:
            return self._skip(uid, f"存储拒收这封邮件，已跳过：{exc}")
        except Exception as exc:
            raise ImapSinkError(f"storing {ref} failed: {exc}") from exc
        if is_new:
            self.result.new += 1
            return _Outcome.NEW
        self.result.duplicates += 1
        return _Outcome.DUPLICATE

    def _ingest_streamed(self, uid: int) -> None:
        """One large message fetched in pieces into the sink's spool, stored, then marked: the same order of
        effects as a batch (stored and committed before the server is told)."""
        meta = (self._fetch([uid], [b"INTERNALDATE", b"FLAGS"]) or {}).get(uid)
        ref = source_ref(self.settings, self.uidvalidity, uid)
        spool = self.sink.spool()
        try:
            offset = 0
            while True:
                piece = self._fetch([uid], [b"BODY.PEEK[]<%d.%d>" % (offset, STREAM_CHUNK)]).get(uid) or {}
                data = next((v for k, v in piece.items() if k.startswith(b"BODY[]")), None)
                if not isinstance(data, bytes) or not data:
                    break
                spool.write(data)
                offset += len(data)
                if len(data) < STREAM_CHUNK:
                    break
            if meta is None or offset == 0:
                outcome = self._skip(uid, NO_BODY)
            else:
                self.result.fetched += 1
                outcome = self._store_with(uid, ref, lambda: self.sink.store_spooled(
                    spool, self._received_at(uid, meta.get(b"INTERNALDATE")), ref))
        finally:
            spool.discard()  # a no-op once the sink adopted the file into the archive
        if outcome is not _Outcome.SKIPPED:
            copied = {uid} if DELETED in (meta.get(b"FLAGS") or ()) else set()
            self._mark([uid], already_copied=copied)
        self._set_cursor(uid)

    def _received_at(self, uid: int, internaldate: object) -> datetime:
        if isinstance(internaldate, datetime):
            if internaldate.tzinfo is None:  # only when a caller left normalise_times on
                return internaldate.astimezone()
            return internaldate
        log.warning("IMAP %s/%s UID %d: no INTERNALDATE; using the time of fetching",
                    self.account, self.folder, uid)
        return self.clock.now()

    def _skip(self, uid: int, why: str) -> _Outcome:
        problem = f"邮箱 {self.account} 文件夹“{self.folder}”UID {uid}（UIDVALIDITY {self.uidvalidity}）：{why}"
        log.error("%s", problem)
        self.result.errors += 1
        self.result.problems.append(problem)
        return _Outcome.SKIPPED

    def _mark(self, uids: list[int], already_copied: set[int] | frozenset[int] = frozenset()) -> None:
        if not uids:
            return
        if self.strategy.keyword:
            self.client.add_flags(uids, [INGESTED_KEYWORD], silent=True)
        target = self.strategy.target
        if self.strategy.folder == "move":
            self.client.move(uids, target)
        elif self.strategy.folder == "copy-expunge":
            if to_copy := [uid for uid in uids if uid not in already_copied]:
                self.client.copy(to_copy, target)
            self.client.add_flags(uids, [DELETED], silent=True)
            self.client.uid_expunge(uids)
        elif self.strategy.folder == "copy":
            self.client.copy(uids, target)
            log.info("IMAP %s: no MOVE nor UIDPLUS; copied %d message(s) to %r and left the originals",
                     self.account, len(uids), target)


def _keywords_allowed(permanent_flags: Sequence[bytes]) -> bool:
    wanted = {b"\\*", INGESTED_KEYWORD.lower()}
    return any(flag.lower() in wanted for flag in permanent_flags)


def _split_by_size(uids: list[int], sizes: dict[int, int], max_bytes: int,
                   alone_above: int | None = None) -> Iterator[list[int]]:
    """Batches of at most ``max_bytes`` (one bigger message goes alone); a message of ``alone_above`` bytes or
    more always goes alone (it is streamed)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if alone_above is not None and size >= alone_above:
            if batch:
                yield batch
                batch, total = [], 0
            yield [uid]
            continue
        if batch and total + size > max_bytes:
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


__all__ = [
    "INGESTED_KEYWORD",
    "Clock",
    "MarkingStrategy",
    "choose_strategy",
    "Connector",
    "ImapError",
    "ImapAccount",
    "IngestSink",
    "PollResult",
    "SystemClock",
    "WakeReason",
    "account_name",
    "backoff_delay",
    "holder_is_gone",
    "connect",
    "lease_name",
    "poll_once",
    "source_ref",
    "wait_for_new",
]
