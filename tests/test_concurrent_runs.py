"""Two runs at once on one store and one Maildir: they share the work, and nothing ends failed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from tests.conftest import REPO, service_env, write_config
from tests.test_daemon import deliver, fresh_report
from zxjyck.clock import StartedClock


def _poll(cfg: Path, timeline: StartedClock) -> subprocess.Popen:
    env = service_env(timeline, {**service_env(timeline), "PYTHONPATH": str(REPO)})
    return subprocess.Popen([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "poll"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_polls_started_together_process_every_weekly_report_once(tmp_path: Path, timeline: StartedClock) -> None:
    """Three rounds of 30 weekly reports, each taken by two `zxjyck poll` started 0, 0.5 and 1 s apart."""
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", notify="max_per_sender_per_day = 1000")
    box = tmp_path / "mailbox"
    sent = 0
    for gap in (0.0, 0.5, 1.0):
        for _ in range(30):
            deliver(box, f"{sent}.eml", fresh_report(1000 + sent, timeline() - timedelta(minutes=1)),
                    timeline() - timedelta(minutes=1))
            sent += 1
        first = _poll(cfg, timeline)
        time.sleep(gap)
        second = _poll(cfg, timeline)
        results = [(run.wait(timeout=600), *run.communicate()) for run in (first, second)]
        assert [code for code, _, _ in results] == [0, 0], results
        assert all("Traceback" not in err and "IntegrityError" not in err for _, _, err in results), results
    out = subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "export", "--format", "json"],
                         capture_output=True, text=True, timeout=120, env=service_env(timeline))
    doc = json.loads(out.stdout)
    assert len(doc["messages"]) == sent
    assert Counter(m["status"] for m in doc["messages"]) == {"processed": sent}, [
        (m["status"], m["problems"]) for m in doc["messages"] if m["status"] != "processed"]
    answered = Counter(o["about_message_id"] for o in doc["outbox"])
    assert len(answered) == sent and set(answered.values()) == {1}  # each report answered exactly once
    assert len(doc["weekly_reports"]) == sent
    assert sum(not r["superseded"] for r in doc["weekly_reports"]) == 1
