"""A disk that fills while mail is stored and processed (a real tmpfs filled to ENOSPC), then space is freed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, service_env, write_config
from tests.test_daemon import deliver, fresh_report
from zxjyck.clock import StartedClock

COUNT = 30


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: the store and the archive live on it (root mounts it, as CI runs)."""
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _zxjyck(cfg: Path, timeline: StartedClock, *args: str) -> subprocess.CompletedProcess:
    env = {**service_env(timeline), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(cfg), *args], capture_output=True,
                          text=True, timeout=600, env=env)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` up to ``leave`` bytes free."""
    filler = folder / "filler"
    stat = os.statvfs(folder)
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def test_a_disk_that_fills_stops_the_run_with_the_path_and_the_next_run_finishes_every_message(
        tmp_path: Path, small_disk: Path, timeline: StartedClock) -> None:
    cfg = write_config(tmp_path, f"sqlite:///{small_disk}/zxjyck.db", notify="max_per_sender_per_day = 1000")
    text = cfg.read_text().replace('archive_dir = "var/archive"', f'archive_dir = "{small_disk}/archive"')
    cfg.write_text(text)
    first = _zxjyck(cfg, timeline, "poll")  # the store and the archive are made on the small disk
    assert first.returncode == 0, first.stderr
    for n in range(COUNT):
        deliver(tmp_path / "mailbox", f"{n}.eml", fresh_report(3000 + n, timeline()), timeline())
    filler = _fill(small_disk, 96 * 1024)
    full = _zxjyck(cfg, timeline, "poll")
    assert full.returncode == 1, (full.stdout, full.stderr)
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "磁盘已满" in lines[0] and str(small_disk) in lines[0], full.stderr
    assert "Traceback" not in full.stderr and "internal error" not in full.stderr.lower()
    filler.unlink()  # the operator frees space
    again = _zxjyck(cfg, timeline, "ingest", str(tmp_path / "mailbox" / "new"))
    assert again.returncode == 0, again.stderr
    assert _zxjyck(cfg, timeline, "poll").returncode == 0
    doc = json.loads(_zxjyck(cfg, timeline, "export", "--format", "json").stdout)
    assert Counter(m["status"] for m in doc["messages"]) == {"processed": COUNT}, [
        (m["status"], m["problems"]) for m in doc["messages"] if m["status"] != "processed"]
    answered = Counter(o["about_message_id"] for o in doc["outbox"])
    assert len(answered) == COUNT and set(answered.values()) == {1}  # each answered once
