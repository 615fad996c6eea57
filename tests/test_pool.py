"""Several messages prepared at once: the sandbox pool and process_pending's look-ahead."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from sqlmodel import Session, select

from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.pipeline.run import process_pending
from ingest.runtime.poll import ingest_paths
from ingest.workflows.dispatch import run_workflows
from parsers.pool import SandboxPool
from store.models import Attachment, Message
from tests.conftest import FIXTURES, sqlite_app


class _Probe:
    """Stands in for a Sandbox: notes which thread uses it, and whether two ever use it at once."""

    def __init__(self, barrier: threading.Barrier, log: list):
        self.barrier, self.log, self.busy = barrier, log, threading.Lock()
        self.closed = False

    def analyze(self, data: bytes, filename: str, mail_date: date):
        if not self.busy.acquire(blocking=False):
            raise AssertionError("one sandbox used by two threads at once")
        try:
            self.barrier.wait()  # both calls must be inside a sandbox at the same time
            self.log.append((id(self), filename))
            return filename
        finally:
            self.busy.release()

    def close(self) -> None:
        self.closed = True


def test_pool_runs_calls_side_by_side_each_in_its_own_sandbox() -> None:
    barrier = threading.Barrier(2, timeout=60)  # a pool that serialised the calls would break the barrier
    log: list = []
    pool = SandboxPool(2, factory=lambda: _Probe(barrier, log))
    assert pool.parallel == 2
    with ThreadPoolExecutor(max_workers=2) as threads:
        results = list(threads.map(lambda name: pool.analyze(b"x", name, date(2020, 2, 24)), ["a.xlsx", "b.xlsx"]))
    assert results == ["a.xlsx", "b.xlsx"]
    assert len({sandbox for sandbox, _name in log}) == 2
    pool.close()
    assert all(sandbox.closed for sandbox in pool._all)


class _CountingAnalyzer(InProcessAnalyzer):
    """The in-process analyser, noting how many calls overlap."""

    def __init__(self, counter: dict, lock: threading.Lock):
        self.counter, self.lock = counter, lock

    def analyze(self, data: bytes, filename: str, mail_date: date):
        with self.lock:
            self.counter["now"] += 1
            self.counter["most"] = max(self.counter["most"], self.counter["now"])
        try:
            return super().analyze(data, filename, mail_date)
        finally:
            with self.lock:
                self.counter["now"] -= 1


def test_process_pending_with_a_pool_writes_what_one_at_a_time_writes(make_app, tmp_path: Path) -> None:
    mails = sorted((FIXTURES / "mail").glob("*.eml"))
    assert len(mails) >= 6

    def outcome(application) -> list[tuple]:
        with Session(application.engine) as s:
            rows = [(m.sha256, m.kind, m.status, m.city, tuple(m.problems))
                    for m in s.exec(select(Message).order_by(Message.sha256))]
            atts = sorted((a.sha256, a.format or "", a.category or "") for a in s.exec(select(Attachment)))
        return [*rows, *atts]

    (tmp_path / "serial").mkdir()
    (tmp_path / "pooled").mkdir()
    serial = sqlite_app(tmp_path / "serial", make_app)
    serial.analyzer = InProcessAnalyzer()
    ingest_paths(serial, [str(m) for m in mails])

    counter, lock = {"now": 0, "most": 0}, threading.Lock()
    pooled = sqlite_app(tmp_path / "pooled", make_app)
    pooled.analyzer = SandboxPool(2, factory=lambda: _CountingAnalyzer(counter, lock))
    ingest_paths(pooled, [str(m) for m in mails])
    assert outcome(pooled) == outcome(serial)
    assert any(status == "processed" for _sha, _kind, status, *_ in outcome(pooled)[:len(mails)])
    assert process_pending(pooled, workflows=run_workflows).processed == {}  # nothing left received
    assert 1 <= counter["most"] <= 2  # never more parses at once than the pool has sandboxes


def test_the_app_reads_attachments_with_as_many_sandboxes_as_parse_workers_says(tmp_path: Path, make_app) -> None:
    from ingest.config import load_settings
    from tests.conftest import write_config

    config = write_config(tmp_path, "sqlite:///var/z.db")
    config.write_text(config.read_text().replace('maildir = "mailbox"', 'maildir = "mailbox"\nparse_workers = 2'))
    app = make_app(load_settings(config, environ={}))
    assert app.settings.parse_workers == 2
    assert isinstance(app.analyzer, SandboxPool)
    assert app.analyzer.parallel == min(2, os.cpu_count() or 1)  # never more sandboxes than cores
    assert app.analyzer.limits is not None  # the production sandboxes' limits: large messages go to a child
