"""The 99 real messages of fixtures/peer-mail (other projects' test mail) go through without a crash or a reply."""

from __future__ import annotations

from sqlmodel import Session, select

from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from store.models import Message
from tests.conftest import PEER_MAIL


def test_peer_corpus_ingests_without_crash_and_without_forms(app) -> None:
    assert PEER_MAIL.is_dir(), f"the peer corpus is missing: {PEER_MAIL}"
    app.analyzer = InProcessAnalyzer()
    report = ingest_paths(app, [PEER_MAIL])
    assert report.seen == 99
    assert report.new == 99
    assert report.unreadable == []
    with Session(app.engine) as s:
        rows = list(s.exec(select(Message)))
    assert len(rows) == 99
    assert all(app.archive.has(m.sha256) for m in rows)
    assert {m.status for m in rows} <= {"processed", "needs_review", "failed"}
    assert all(m.kind not in ("application", "weekly_report") for m in rows)
    for m in rows:  # every subject decoded, or marked as repaired/undecodable
        clean = "\ufffd" not in m.subject and not any("\udc80" <= c <= "\udcff" for c in m.subject)
        assert clean or any(d.startswith("subject:") for d in m.defects), m.source_ref
    doc = export_state(app.engine)
    assert doc["weekly_reports"] == [] and doc["applications"] == []
    assert doc["outbox"] == []
    again = ingest_paths(app, [PEER_MAIL])
    assert (again.new, again.duplicates) == (0, 99)
