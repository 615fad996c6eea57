"""ingest.sources.imap against a real Dovecot on 127.0.0.1 (tests/dovecot.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from imapclient import IMAPClient

from ingest.sources.imap import (
    INGESTED_KEYWORD,
    WakeReason,
    account_name,
    backoff_delay,
    connect,
    lease_name,
    poll_once,
    source_ref,
    wait_for_new,
)
from ingest.sources.imap_errors import (
    ImapAuthError,
    ImapConnectionError,
    ImapFolderError,
    ImapSinkError,
    ImapTlsError,
    MessageRejectedError,
)
from tests import imap_helpers
from tests.conftest import write_config
from tests.dovecot import DovecotServer, ImapAccount, free_port
from tests.imap_helpers import (
    ClientLog,
    RecordingClock,
    RecordingSink,
    SqliteSink,
    logging_connector,
    make_message,
    sha256,
)

# dovecot, imap_account and cutting_proxy come from tests.dovecot (a plugin of
# tests/conftest.py); the sink fixture is bound here by assignment.
ingest_sink = imap_helpers.ingest_sink

SHANGHAI = timezone(timedelta(hours=8))
HOLDER = "test-poller"


def poll(settings, sink, **kwargs):
    kwargs.setdefault("clock", RecordingClock())
    return poll_once(settings, sink, holder=HOLDER, **kwargs)


def counts(result) -> tuple[int, int, int, int]:
    return result.fetched, result.new, result.duplicates, result.errors


# --------------------------------------------------------------------------- fetching


def test_first_poll_stores_every_message_and_a_second_poll_fetches_nothing(imap_account, ingest_sink):
    raws = [make_message(i) for i in range(3)]
    uids = [imap_account.append("INBOX", raw) for raw in raws]
    settings = imap_account.settings()
    sink = RecordingSink(ingest_sink)

    first = poll(settings, sink)
    second = poll(settings, sink)

    assert counts(first) == (3, 3, 0, 0)
    assert counts(second) == (0, 0, 0, 0)
    assert sink.new_raws() == raws
    validity = imap_account.uidvalidity("INBOX")
    assert [call.source_ref for call in sink.calls] == [source_ref(settings, validity, uid) for uid in uids]
    assert sink.get_cursor(account_name(settings), "INBOX") == (validity, uids[-1])


def test_fetching_does_not_mark_messages_seen_and_sets_the_keyword(imap_account, ingest_sink):
    for i in range(2):
        imap_account.append("INBOX", make_message(i))

    poll(imap_account.settings(), ingest_sink)

    flags = imap_account.flags("INBOX")
    assert sorted(flags) == [1, 2]
    for uid_flags in flags.values():
        assert INGESTED_KEYWORD in uid_flags
        assert b"\\Seen" not in uid_flags


def test_a_server_that_allows_no_keywords_gets_no_keyword_and_the_cursor_still_works(imap_account, ingest_sink):
    for i in range(2):
        imap_account.append("INBOX", make_message(i))
    connector = logging_connector(ClientLog(), no_keywords=True)

    first = poll(imap_account.settings(), ingest_sink, connector=connector)
    second = poll(imap_account.settings(), ingest_sink, connector=connector)

    assert counts(first) == (2, 2, 0, 0)
    assert counts(second) == (0, 0, 0, 0)
    assert all(INGESTED_KEYWORD not in f for f in imap_account.flags("INBOX").values())


def test_only_messages_above_the_cursor_are_fetched(imap_account, ingest_sink):
    imap_account.append("INBOX", make_message(1))
    settings = imap_account.settings()
    poll(settings, ingest_sink)
    late = make_message(2)
    imap_account.append("INBOX", late)
    sink = RecordingSink(ingest_sink)
    log = ClientLog()

    result = poll(settings, sink, connector=logging_connector(log))

    assert counts(result) == (1, 1, 0, 0)
    assert sink.new_raws() == [late]
    assert log.body_fetches() == [[2]]


@pytest.mark.parametrize(("messages", "batch_size", "expected_batches"), [
    (10, 3, [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]),
    (4, 200, [[1, 2, 3, 4]]),
    (2, 1, [[1], [2]]),
])
def test_messages_are_fetched_in_batches(imap_account, ingest_sink, messages, batch_size, expected_batches):
    imap_account.append_many("INBOX", [make_message(i) for i in range(messages)])
    log = ClientLog()

    result = poll(imap_account.settings(batch_size=batch_size), ingest_sink, connector=logging_connector(log))

    assert counts(result) == (messages, messages, 0, 0)
    assert log.body_fetches() == expected_batches
    assert {tuple(items) for _, items in log.fetches} <= {(b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS"), (b"RFC822.SIZE",)}


def test_batches_are_also_limited_by_bytes(imap_account, ingest_sink):
    imap_account.append_many("INBOX", [make_message(i, body_bytes=100_000) for i in range(4)]
                             + [make_message(9, body_bytes=400_000)])
    log = ClientLog()

    result = poll(imap_account.settings(), ingest_sink, connector=logging_connector(log),
                  max_batch_bytes=250_000)

    assert counts(result) == (5, 5, 0, 0)
    assert log.body_fetches() == [[1, 2], [3, 4], [5]]


def test_a_missing_folder_is_reported_and_not_retried(imap_account, ingest_sink):
    clock = RecordingClock()

    with pytest.raises(ImapFolderError, match=rf"'Nope' of {imap_account.username}@127.0.0.1"):
        poll(imap_account.settings(folder="Nope"), ingest_sink, clock=clock)

    assert clock.sleeps == []


def test_the_polled_folder_as_processed_folder_is_refused(imap_account, ingest_sink):
    with pytest.raises(ImapFolderError, match="processed_folder is the polled folder 'INBOX'"):
        poll(imap_account.settings(processed_folder="INBOX"), ingest_sink)


def test_internaldate_not_the_date_header_is_received_at(imap_account, ingest_sink):
    arrived = datetime(2020, 2, 24, 10, 2, 15, tzinfo=SHANGHAI)
    imap_account.append("INBOX", make_message(1, date_header="Sat, 01 Jan 2000 12:00:00 +0000"), arrived)
    sink = RecordingSink(ingest_sink)

    poll(imap_account.settings(), sink)

    received_at = sink.calls[0].received_at
    assert received_at.tzinfo is not None
    assert received_at == arrived
    assert received_at.astimezone(UTC) == datetime(2020, 2, 24, 2, 2, 15, tzinfo=UTC)


def test_a_20_mb_message_is_stored_intact(imap_account, ingest_sink):
    raw = make_message(1, body_bytes=20 * 1024 * 1024)
    assert len(raw) > 20 * 1024 * 1024
    imap_account.append("INBOX", raw)
    sink = RecordingSink(ingest_sink)

    result = poll(imap_account.settings(), sink)

    assert counts(result) == (1, 1, 0, 0)
    assert sha256(sink.calls[0].raw) == sha256(raw)


# --------------------------------------------------------------------------- order of effects


def test_a_failing_store_leaves_the_message_unmarked_and_the_next_poll_fetches_it(imap_account, ingest_sink):
    raws = [make_message(i) for i in range(3)]
    for raw in raws:
        imap_account.append("INBOX", raw)
    settings = imap_account.settings()
    broken = RecordingSink(ingest_sink, fail=lambda raw: RuntimeError("database is down") if raw == raws[1] else None)

    with pytest.raises(ImapSinkError, match=r"UID=2.*database is down"):
        poll(settings, broken)

    flags = imap_account.flags("INBOX")
    assert INGESTED_KEYWORD in flags[1]
    assert INGESTED_KEYWORD not in flags[2]
    assert INGESTED_KEYWORD not in flags[3]
    validity = imap_account.uidvalidity("INBOX")
    assert ingest_sink.get_cursor(account_name(settings), "INBOX") == (validity, 1)
    assert ingest_sink.acquire_lease(lease_name(settings), "someone-else", 60) is True  # released on error
    ingest_sink.release_lease(lease_name(settings), "someone-else")

    healed = RecordingSink(ingest_sink)
    result = poll(settings, healed)

    assert counts(result) == (2, 2, 0, 0)
    assert healed.new_raws() == raws[1:]
    assert all(INGESTED_KEYWORD in f for f in imap_account.flags("INBOX").values())


def test_a_rejected_message_is_skipped_with_a_problem_and_does_not_block_the_folder(imap_account, ingest_sink):
    raws = [make_message(i) for i in range(3)]
    for raw in raws:
        imap_account.append("INBOX", raw)
    settings = imap_account.settings()
    sink = RecordingSink(ingest_sink,
                         fail=lambda raw: MessageRejectedError("unreadable") if raw == raws[1] else None)

    first = poll(settings, sink)
    second = poll(settings, sink)

    assert counts(first) == (3, 2, 0, 1)
    assert first.problems == [f"邮箱 {account_name(settings)} 文件夹“INBOX”UID 2（UIDVALIDITY "
                              f"{imap_account.uidvalidity('INBOX')}）：存储拒收这封邮件，已跳过：unreadable"]
    assert counts(second) == (0, 0, 0, 0)
    assert INGESTED_KEYWORD not in imap_account.flags("INBOX")[2]


def test_a_message_expunged_between_search_and_fetch_is_skipped(imap_account, ingest_sink):
    for i in range(3):
        imap_account.append("INBOX", make_message(i))
    log = ClientLog()

    def expunge_uid_2_elsewhere(uids: list[int]) -> None:
        if len(log.body_fetches()) == 1:  # at the first fetch of bodies, after the search
            with imap_account.client() as other:
                other.select_folder("INBOX")
                other.add_flags([2], [b"\\Deleted"])
                other.uid_expunge([2])

    result = poll(imap_account.settings(), ingest_sink,
                  connector=logging_connector(log, before_fetch=expunge_uid_2_elsewhere))

    assert (result.new, result.errors) == (2, 1)
    assert result.problems == [f"邮箱 {imap_account.username}@127.0.0.1 文件夹“INBOX”UID 2（UIDVALIDITY "
                               f"{imap_account.uidvalidity('INBOX')}）：服务器没有返回邮件内容（可能已被删除），已跳过"]
    assert ingest_sink.get_cursor(account_name(imap_account.settings()), "INBOX")[1] == 3


def test_a_message_the_server_cannot_read_is_skipped_and_the_rest_stored(dovecot, imap_account, ingest_sink):
    raws = [make_message(i) for i in range(5)]
    imap_account.append_many("INBOX", raws)
    unreadable = next(path for path in dovecot.maildir(imap_account.username).glob("*/*")
                      if path.read_bytes() == raws[2].replace(b"\r\n", b"\n"))
    unreadable.chmod(0)  # Dovecot answers "* BYE FETCH failed: Internal error" and hangs up
    settings = imap_account.settings()
    sink = RecordingSink(ingest_sink)
    clock = RecordingClock()

    first = poll(settings, sink, clock=clock)
    second = poll(settings, sink, clock=clock)

    assert (first.new, first.errors) == (4, 1)
    assert len(first.problems) == 1
    assert first.problems[0].startswith(f"邮箱 {account_name(settings)} 文件夹“INBOX”UID 3（UIDVALIDITY ")
    assert "服务器每次读取这封邮件都断开连接（已试 2 次）" in first.problems[0]
    assert "FETCH failed" in first.problems[0]
    assert sorted(sink.new_raws()) == sorted(raws[:2] + raws[3:])
    assert counts(second) == (0, 0, 0, 0)
    assert ingest_sink.get_cursor(account_name(settings), "INBOX")[1] == 5
    assert (first.reconnects, clock.sleeps) == (3, [1.0, 1.0, 2.0])  # batch, UID 3 alone, UID 3 again


@pytest.mark.parametrize("hidden", [frozenset(), frozenset({"MOVE"})], ids=["MOVE", "COPY+UID-EXPUNGE"])
def test_processed_messages_are_moved_and_nothing_else_is_expunged(imap_account, ingest_sink, hidden):
    settings = imap_account.settings(processed_folder="Processed")
    someone_elses = make_message(0)
    imap_account.append("INBOX", someone_elses)
    with imap_account.client() as other:  # a message another client marked \Deleted, below our cursor
        other.select_folder("INBOX")
        other.add_flags([1], [b"\\Deleted"])
    ingest_sink.set_cursor(account_name(settings), "INBOX", imap_account.uidvalidity("INBOX"), 1)
    raws = [make_message(i) for i in range(1, 4)]
    for raw in raws:
        imap_account.append("INBOX", raw)

    result = poll(settings, ingest_sink, connector=logging_connector(ClientLog(), hide=hidden))

    assert counts(result) == (3, 3, 0, 0)
    assert list(imap_account.bodies("INBOX").values()) == [someone_elses]
    assert sorted(imap_account.bodies("Processed").values()) == sorted(raws)
    assert all(INGESTED_KEYWORD in f for f in imap_account.flags("Processed").values())
    assert counts(poll(settings, ingest_sink)) == (0, 0, 0, 0)


def test_a_changed_uidvalidity_rescans_and_stores_only_the_new_message(imap_account, ingest_sink):
    settings = imap_account.settings(folder="Reports")
    raws = [make_message(i) for i in range(3)]
    for raw in raws:
        imap_account.append("Reports", raw)
    poll(settings, ingest_sink)
    old_validity = imap_account.uidvalidity("Reports")

    imap_account.recreate_folder("Reports")
    newcomer = make_message(99)
    for raw in [*raws, newcomer]:
        imap_account.append("Reports", raw)
    sink = RecordingSink(ingest_sink)
    result = poll(settings, sink)

    new_validity = imap_account.uidvalidity("Reports")
    assert new_validity != old_validity
    assert counts(result) == (4, 1, 3, 0)
    assert sink.new_raws() == [newcomer]
    assert ingest_sink.get_cursor(account_name(settings), "Reports") == (new_validity, 4)


# --------------------------------------------------------------------------- failures of the line


def test_a_connection_dropped_mid_fetch_is_reconnected_and_finished(imap_account, ingest_sink, cutting_proxy):
    raws = [make_message(i, body_bytes=200_000) for i in range(10)]
    imap_account.append_many("INBOX", raws)
    settings = imap_account.settings(port=cutting_proxy.port, batch_size=4)
    sink = RecordingSink(ingest_sink)
    clock = RecordingClock()
    cutting_proxy.cut_after(300_000)  # inside the first batch's FETCH response

    result = poll(settings, sink, clock=clock)

    assert cutting_proxy.cuts == 1
    assert cutting_proxy.connections == 2
    assert (result.new, result.duplicates, result.reconnects) == (10, 0, 1)
    assert clock.sleeps == [1.0]
    assert sorted(sink.new_raws()) == sorted(raws)


def test_a_server_that_stops_answering_times_out_and_the_poll_finishes(imap_account, ingest_sink, cutting_proxy):
    raws = [make_message(i, body_bytes=200_000) for i in range(6)]
    imap_account.append_many("INBOX", raws)
    settings = imap_account.settings(port=cutting_proxy.port, batch_size=3, timeout_seconds=1)
    sink = RecordingSink(ingest_sink)
    clock = RecordingClock()
    cutting_proxy.stall_after(300_000)  # the first batch's FETCH response stops half way

    result = poll(settings, sink, clock=clock)

    assert cutting_proxy.stalls == 1
    assert (result.new, result.reconnects, clock.sleeps) == (6, 1, [1.0])
    assert sorted(sink.new_raws()) == sorted(raws)


def test_an_unreachable_server_is_retried_with_capped_backoff_then_reported(imap_account, ingest_sink):
    closed_port = free_port()  # bound then closed at once: nothing listens
    settings = imap_account.settings(port=closed_port, timeout_seconds=2)
    clock = RecordingClock()

    with pytest.raises(ImapConnectionError, match=rf"127.0.0.1:{closed_port} unreachable after 5 attempts"):
        poll(settings, ingest_sink, clock=clock, max_attempts=5)

    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_waiting_on_an_unreachable_server_raises_a_connection_error(imap_account, ingest_sink):
    settings = imap_account.settings(port=free_port())

    with pytest.raises(ImapConnectionError, match="unreachable"):
        wait_for_new(settings, ingest_sink, max_wait_seconds=1)


def test_a_wrong_password_fails_at_once_without_retrying(imap_account, ingest_sink):
    settings = imap_account.settings(password="wrong")
    clock = RecordingClock()
    log = ClientLog()

    with pytest.raises(ImapAuthError, match=rf"{imap_account.username}@127.0.0.1"):
        poll(settings, ingest_sink, clock=clock, connector=logging_connector(log))

    assert log.connections == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)])
def test_backoff_doubles_and_is_capped(attempt, delay):
    assert backoff_delay(attempt) == delay


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_a_trusted_certificate(dovecot, imap_account, ingest_sink, security):
    port = dovecot.tls_port if security == "tls" else dovecot.port
    settings = imap_account.settings(security=security, port=port)
    imap_account.append("INBOX", make_message(1))
    context = ssl.create_default_context(cafile=str(dovecot.ca_path))

    result = poll(settings, ingest_sink, connector=partial(connect, ssl_context=context))

    assert counts(result) == (1, 1, 0, 0)


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused_and_not_retried(dovecot, imap_account, ingest_sink, security):
    port = dovecot.tls_port if security == "tls" else dovecot.port
    clock = RecordingClock()

    with pytest.raises(ImapTlsError, match="certificate"):
        poll(imap_account.settings(security=security, port=port), ingest_sink, clock=clock)

    assert clock.sleeps == []


def test_the_ca_file_setting_is_trusted(dovecot, imap_account, ingest_sink):
    settings = imap_account.settings(security="tls", port=dovecot.tls_port)
    imap_account.append("INBOX", make_message(1))

    result = poll(_with_ca_file(settings, str(dovecot.ca_path)), ingest_sink)

    assert counts(result) == (1, 1, 0, 0)


def test_a_server_without_starttls_is_refused_not_downgraded(imap_account, ingest_sink):
    clock = RecordingClock()

    with pytest.raises(ImapTlsError, match="does not offer STARTTLS"):
        poll(imap_account.settings(security="starttls"), ingest_sink, clock=clock,
             connector=logging_connector(ClientLog(), hide=frozenset({"STARTTLS"})))

    assert clock.sleeps == []


def test_the_configuration_object_of_ingest_config_is_accepted(imap_account, ingest_sink):
    from pydantic import SecretStr

    from ingest.config import ImapSettings

    settings = ImapSettings(host="127.0.0.1", port=imap_account.port, security="none",
                            username=imap_account.username, password=SecretStr(imap_account.password),
                            batch_size=2, processed_folder="Done")
    for i in range(3):
        imap_account.append("INBOX", make_message(i))

    result = poll(settings, ingest_sink)

    assert counts(result) == (3, 3, 0, 0)
    assert imap_account.count("Done") == 3


@dataclasses.dataclass(frozen=True)
class _SettingsWithCa:
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str
    processed_folder: str | None
    batch_size: int
    timeout_seconds: float
    idle_seconds: float
    ca_file: str


def _with_ca_file(settings, ca_file: str) -> _SettingsWithCa:
    return _SettingsWithCa(**dataclasses.asdict(settings), ca_file=ca_file)


# --------------------------------------------------------------------------- leases


def test_a_held_lease_makes_a_second_poller_skip(imap_account, ingest_sink):
    imap_account.append("INBOX", make_message(1))
    settings = imap_account.settings()
    assert ingest_sink.acquire_lease(lease_name(settings), "other-host", 300)

    skipped = poll(settings, ingest_sink)
    ingest_sink.release_lease(lease_name(settings), "other-host")
    done = poll(settings, ingest_sink)

    assert skipped.skipped is True and counts(skipped) == (0, 0, 0, 0)
    assert done.skipped is False and counts(done) == (1, 1, 0, 0)


def test_a_poll_that_loses_its_lease_stops_after_the_current_batch(imap_account, ingest_sink):
    imap_account.append_many("INBOX", [make_message(i) for i in range(6)])
    settings = imap_account.settings(batch_size=2)
    log = ClientLog()

    def steal_expired_lease(uids: list[int]) -> None:
        if len(log.body_fetches()) == 1:  # during the first batch's FETCH of bodies
            assert ingest_sink.acquire_lease(lease_name(settings), "thief", 300)

    result = poll(settings, ingest_sink, connector=logging_connector(log, before_fetch=steal_expired_lease),
                  lease_ttl_seconds=0)

    assert (result.lease_lost, result.new) == (True, 2)
    assert log.body_fetches() == [[1, 2]]
    assert ingest_sink.acquire_lease(lease_name(settings), "third", 300) is False  # the thief's lease stands


def test_a_poll_started_while_another_runs_is_skipped(imap_account, ingest_sink):
    imap_account.append("INBOX", make_message(1))
    settings = imap_account.settings()
    inner_results = []

    def poll_concurrently(uids: list[int]) -> None:
        inner_results.append(poll_once(settings, ingest_sink, holder="second", clock=RecordingClock()))

    outer = poll(settings, ingest_sink, connector=logging_connector(ClientLog(), before_fetch=poll_concurrently))

    assert [r.skipped for r in inner_results] == [True]
    assert counts(outer) == (1, 1, 0, 0)


# --------------------------------------------------------------------------- waiting


def _wait_in_thread(settings, sink, **kwargs):
    waiting = threading.Event()
    outcome: list[WakeReason] = []
    thread = threading.Thread(target=lambda: outcome.append(
        wait_for_new(settings, sink, on_waiting=waiting.set, max_wait_seconds=60, **kwargs)))
    thread.start()
    assert waiting.wait(30), "wait_for_new never started waiting"
    return thread, outcome


@pytest.mark.parametrize("hidden", [frozenset(), frozenset({"IDLE"})], ids=["IDLE", "NOOP"])
def test_waiting_wakes_when_another_connection_appends(imap_account, ingest_sink, hidden):
    settings = imap_account.settings()
    poll(settings, ingest_sink)  # an empty folder: nothing pending when the wait begins
    thread, outcome = _wait_in_thread(settings, ingest_sink, noop_interval_seconds=0.2,
                                      connector=logging_connector(ClientLog(), hide=hidden))

    imap_account.append("INBOX", make_message(1))
    thread.join(90)

    assert outcome == [WakeReason.NEW]


def test_idle_is_reissued_every_idle_seconds(imap_account, ingest_sink):
    log = ClientLog()

    outcome = wait_for_new(imap_account.settings(idle_seconds=0.3), ingest_sink, max_wait_seconds=1.5,
                           connector=logging_connector(log))

    assert outcome is WakeReason.TIMEOUT
    assert log.idles >= 2


def test_waiting_reports_a_connection_dropped_during_idle(imap_account, ingest_sink, cutting_proxy):
    settings = imap_account.settings(port=cutting_proxy.port)
    thread, outcome = _wait_in_thread(settings, ingest_sink)

    cutting_proxy.cut_all()
    thread.join(90)

    assert outcome == [WakeReason.CONNECTION_LOST]


def test_waiting_returns_at_once_when_unfetched_messages_are_there(imap_account, ingest_sink):
    settings = imap_account.settings()
    imap_account.append("INBOX", make_message(1))
    poll(settings, ingest_sink)
    imap_account.append("INBOX", make_message(2))

    assert wait_for_new(settings, ingest_sink, max_wait_seconds=60) is WakeReason.PENDING
    poll(settings, ingest_sink)
    assert wait_for_new(settings, ingest_sink, max_wait_seconds=0.5) is WakeReason.TIMEOUT


def test_waiting_stops_when_asked(imap_account, ingest_sink):
    stop = threading.Event()
    stop.set()
    assert wait_for_new(imap_account.settings(), ingest_sink, stop=stop) is WakeReason.STOPPED


# --------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("sink_kind", ["sqlite-test-sink", "database"])
def test_polls_killed_at_random_points_end_with_every_message_stored_once(imap_account, tmp_path, sink_kind):
    total = 200
    raws = [make_message(i, body_bytes=2_000, seed=7) for i in range(total)]
    imap_account.append_many("INBOX", raws)
    settings = imap_account.settings(batch_size=7, processed_folder="Processed")
    root = Path(__file__).parent.parent
    if sink_kind == "database":
        where = ["--config", str(write_config(tmp_path, "sqlite:///var/zxjyck.db"))]
        stored_hashes = partial(_database_hashes, tmp_path / "config.toml")
        db_file = tmp_path / "var" / "zxjyck.db"
    else:
        where = ["--db", str(tmp_path / "sink.sqlite")]
        stored_hashes = partial(_stored_hashes, tmp_path / "sink.sqlite")
        db_file = tmp_path / "sink.sqlite"
    delay = "0.02"  # per message: a run lasts ~4 s plus start-up, so several kills land mid-poll
    command = [sys.executable, "-m", "tests.imap_helpers", *where, "--store-delay", delay,
               "--settings", json.dumps(dataclasses.asdict(settings))]
    env = {**os.environ, "PYTHONPATH": str(root)}
    rng = random.Random(20200224)
    stored_after_kills: list[int] = []
    for _ in range(40):  # a run takes a few seconds; kills land at random points until one finishes
        before = _stored_count(db_file) or 0  # no worker runs now: nothing holds a lock
        worker = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, env=env)
        # Start-up (imports, migrations) takes from a fraction of a second to several on a loaded machine:
        # wait until this run has stored something, then kill at a random point of its fetch loop.
        while worker.poll() is None and _stored_count(db_file) in (before, None):
            time.sleep(0.05)
        try:
            worker.wait(timeout=rng.uniform(0.0, 1.2))
            break
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            stored_after_kills.append(len(stored_hashes()))
    subprocess.run(command, cwd=root, stdout=subprocess.DEVNULL, env=env, check=True)

    assert any(0 < n < total for n in stored_after_kills), stored_after_kills
    assert sorted(stored_hashes()) == sorted(sha256(raw) for raw in raws)
    assert imap_account.count("INBOX") == 0
    assert sorted(imap_account.bodies("Processed").values()) == sorted(raws)


def _stored_count(db: Path) -> int | None:
    """Rows in the ``messages`` table of either sink, read-only and without waiting for a writer's lock."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)) as conn:
            return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or locked at this instant
        return None


def _database_hashes(config: Path) -> list[str]:
    from sqlmodel import Session, select

    from ingest.app import open_app
    from ingest.config import load_settings
    from store.models import Message

    app = open_app(load_settings(config, environ={}))
    try:
        with Session(app.engine) as session:
            return list(session.exec(select(Message.sha256)))
    finally:
        app.close()


def _stored_hashes(db: Path) -> list[str]:
    if not db.exists():
        return []
    sink = SqliteSink(str(db))
    try:
        return sink.stored_hashes()
    finally:
        sink.close()


def test_the_sqlite_sink_used_by_the_kill_test_dedupes_and_leases(tmp_path):
    sink = SqliteSink(str(tmp_path / "s.sqlite"))
    when = datetime(2020, 2, 24, tzinfo=UTC)
    assert [sink.store(b"a", when, "r1"), sink.store(b"a", when, "r2"), sink.store(b"b", when, "r3")] == [
        True, False, True]
    assert sink.acquire_lease("l", "one", 60) and not sink.acquire_lease("l", "two", 60)
    sink.release_lease("l", "one")
    assert sink.acquire_lease("l", "two", 60)
    sink.close()


def test_imapclient_is_the_client_class_by_default(imap_account):
    client = connect(imap_account.settings())
    try:
        assert type(client) is IMAPClient
        assert client.normalise_times is False
    finally:
        client.logout()


def test_dovecot_fixture_serves_the_account(dovecot: DovecotServer, imap_account: ImapAccount):
    assert imap_account.append("INBOX", make_message(1)) == 1
    assert imap_account.count("INBOX") == 1
