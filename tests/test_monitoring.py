"""/healthz, /metrics, the dismiss action and the access log through the real console server (uvicorn on a
loopback port), and the log formats of a real `zxjyck` process."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from ingest.config import WebSettings
from store.db import session_scope
from store.models import AuditEntry, Message, Outbox
from tests.conftest import FIXTURES, write_config
from tests.console_server import running_console
from tests.test_daemon import zxjyck_cmd
from tests.web_support import NOW, STAFF, csrf_of, filled_app
from web.monitoring import client_allowed

PERSONAL = ("gzrsj@example.gov.cn", "someone@qq.com", "@", "广州")


@pytest.fixture
def store_url() -> str:
    return "sqlite:///var/zxjyck.db"  # what is served does not depend on the backend (health: tests/test_alerts.py)


@pytest.fixture
def filled(app, clock, tmp_path: Path):
    clock.value = NOW
    return filled_app(app, tmp_path)


def fail_first_notice(app) -> int:
    with session_scope(app.engine) as session:
        row = session.exec(select(Outbox).where(Outbox.to.is_not(None)).order_by(Outbox.id)).first()
        row.status, row.reason, row.attempts = "failed", "550 5.1.1 gzrsj@example.gov.cn: no such user", 8
        session.add(row)
        return row.id


def sign_in(client: httpx.Client, user: tuple[str, str]) -> None:
    page = client.get("/login")
    done = client.post("/login", data={"username": user[0], "password": user[1], "csrf_token": csrf_of(page.text),
                                       "next": "/"})
    assert done.status_code == 303, done.text


def test_healthz_answers_without_a_login_and_a_dismissed_failure_no_longer_counts(filled, caplog) -> None:
    oid = fail_first_notice(filled)
    caplog.set_level(logging.INFO, logger="web.access")
    with running_console(filled) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        sick = client.get("/healthz")
        assert sick.status_code == 503 and sick.headers["content-type"] == "application/json"
        assert sick.json() == {"status": "unhealthy", "checks": {"last_poll": "ok", "pickup": "ok", "daemon": "ok",
                                                                  "notices": "fail", "disk": "ok"}}
        assert not any(text in sick.text for text in PERSONAL)  # names and verdicts only

        sign_in(client, STAFF)  # a staff member deals with it: the console's outbox page and its button
        page = client.get("/outbox")
        assert f'action="/outbox/{oid}/dismiss"' in page.text and "标记为已处理" in page.text
        assert f'action="/outbox/{oid}/resend"' not in page.text  # resending stays an admin's action
        without_token = client.post(f"/outbox/{oid}/dismiss", data={"note": "x"})
        assert without_token.status_code == 403
        done = client.post(f"/outbox/{oid}/dismiss", data={"csrf_token": csrf_of(page.text),
                                                          "note": "已电话告知广州市"})
        assert done.status_code == 200 and "已标记为已处理" in done.text
        assert f"notice-{oid}" not in client.get("/outbox").text
        again = client.post(f"/outbox/{oid}/dismiss", data={"csrf_token": csrf_of(page.text)})
        assert again.status_code == 400 and "已由 clerk 标记为已处理" in again.text

        well = client.get("/healthz")
        assert well.status_code == 200 and well.json()["status"] == "ok"
        assert set(well.json()["checks"].values()) == {"ok"}
        client.get("/messages", params={"q": "secret-search-words"})
    with session_scope(filled.engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "dismiss")).all()
        assert entry.actor == "clerk" and "已电话告知广州市" in entry.detail
    lines = [r.getMessage() for r in caplog.records if r.name == "web.access"]
    assert any(re.fullmatch(r"127\.0\.0\.1 GET /healthz 503 \d+ms \d+B", line) for line in lines), lines
    assert any(line.startswith("127.0.0.1 POST /outbox/") and " 200 " in line for line in lines)
    assert any(" GET /messages 200 " in line for line in lines)
    assert not any("secret-search-words" in line or "?" in line or "zxjyck_session" in line for line in lines)


def test_metrics_is_off_by_default_and_then_only_for_allowed_addresses(filled) -> None:
    with running_console(filled) as base:
        assert httpx.get(f"{base}/metrics").status_code == 404
    filled.settings = replace(filled.settings, web=WebSettings(metrics=True, metrics_allow=["10.0.0.0/8"]))
    with running_console(filled) as base:
        assert httpx.get(f"{base}/metrics").status_code == 403
    filled.settings = replace(filled.settings, web=WebSettings(metrics=True))  # default: 127.0.0.1 and ::1
    fail_first_notice(filled)
    with session_scope(filled.engine) as session:
        stored = list(session.exec(select(Message.status, Message.processing_ms)))
    with running_console(filled) as base:
        response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    by_status = {s.labels["status"]: s.value for s in families["zxjyck_messages"].samples}
    assert sum(by_status.values()) == len(stored) == 8
    assert by_status["processed"] == sum(1 for status, _ in stored if status == "processed")
    assert families["zxjyck_backlog_messages"].samples[0].value == 0
    outbox = {s.labels["status"]: s.value for s in families["zxjyck_outbox_notices"].samples}
    assert outbox["failed"] == 1
    assert {s.labels["check"]: s.value for s in families["zxjyck_check_failing"].samples}["notices"] == 1
    assert families["zxjyck_healthy"].samples[0].value == 0
    processing = {s.name: s for s in families["zxjyck_processing_seconds"].samples if "le" not in s.labels}
    assert all(ms is not None and ms >= 0 for _, ms in stored)  # each processing stored its duration
    assert processing["zxjyck_processing_seconds_count"].value == 8
    assert processing["zxjyck_processing_seconds_sum"].value == pytest.approx(sum(ms for _, ms in stored) / 1000)
    buckets = [s for s in families["zxjyck_processing_seconds"].samples if "le" in s.labels]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 8
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)  # cumulative
    assert "zxjyck_ocr_seconds" in families  # no scans in the sample mail: an empty histogram, not a missing one
    assert "zxjyck_last_good_poll_age_seconds" not in families  # ingested from files: never polled, no made-up age


@pytest.mark.parametrize(("address", "allowed", "ok"), [
    ("127.0.0.1", ["127.0.0.1", "::1"], True), ("::1", ["127.0.0.1", "::1"], True),
    ("10.1.2.3", ["10.0.0.0/8"], True), ("10.1.2.3", ["127.0.0.1"], False), ("fe80::1%eth0", ["fe80::/10"], True),
    ("testclient", ["127.0.0.1"], False), (None, ["127.0.0.1"], False),
])
def test_metrics_allow_matches_addresses_and_networks(address, allowed, ok) -> None:
    assert client_allowed(address, allowed) is ok


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_carry_their_utc_offset_in_both_formats(tmp_path: Path, fmt: str) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=f'[log]\nformat = "{fmt}"\n'
                       '[schedule]\ntimezone = "Asia/Shanghai"\n')
    done = subprocess.run(zxjyck_cmd(cfg, "-v", "ingest", str(FIXTURES / "mail" / "01-guangzhou-weekly.eml")),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("processed message id=1" in line for line in lines)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00"
    for line in lines:
        if fmt == "json":
            doc = json.loads(line)
            assert re.fullmatch(stamp, doc["time"]) and doc["level"] and doc["logger"] and "message" in doc
        else:
            assert re.match(stamp + r" (INFO|WARNING|ERROR|DEBUG) \S+ ", line), line


def test_outbox_list_and_dismiss_on_the_command_line_make_status_healthy_again(tmp_path: Path) -> None:
    from ingest.app import open_app
    from ingest.config import load_settings

    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    with open_app(load_settings(cfg, environ={})) as app, session_scope(app.engine) as session:
        row = Outbox(dedupe_key="receipt:cli", kind="receipt", to=["gzrsj@example.gov.cn"], subject="回执：广州市周报",
                     message_id="<cli@163.com>", status="failed", reason="550 5.1.1 no such user", attempts=8,
                     created_at=NOW)
        session.add(row)
        session.flush()
        oid = row.id

    def zxjyck(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "200"}  # one table row a line
        return subprocess.run(zxjyck_cmd(cfg, *args), capture_output=True, text=True, timeout=120, env=env)

    assert zxjyck("status").returncode == 1
    listed = zxjyck("outbox", "list")
    assert listed.returncode == 0 and "gzrsj@example.gov.cn" in listed.stdout and "550 5.1.1" in listed.stdout
    done = zxjyck("outbox", "dismiss", str(oid), "--note", "已电话告知")
    assert done.returncode == 0 and "dismissed" in done.stdout
    again = zxjyck("outbox", "dismiss", str(oid))
    assert again.returncode == 1 and "already dismissed" in again.stderr
    assert zxjyck("outbox", "dismiss", "999").returncode == 1
    assert "gzrsj" not in zxjyck("outbox", "list").stdout
    status = zxjyck("status")
    assert status.returncode == 0, status.stdout
    doc = json.loads(zxjyck("export", "--format", "json").stdout)
    [notice] = doc["outbox"]
    assert notice["dismissed_at"].endswith("+08:00") and notice["dismissed_by"]
