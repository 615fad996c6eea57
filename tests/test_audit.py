"""The audit log records reads: logins (with the client's address), message and attachment views, downloads,
exports and backups; admins read it at /audit (filtered and paged in the database) and with `zxjyck audit`."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from ingest.outputs.audit_log import AuditFilter, audit_entries
from store.models import AuditEntry
from tests.conftest import FIXTURES, write_config
from tests.test_backup import zx
from tests.web_support import ADMIN, NOW, STAFF, csrf_of, filled_app, message_id_from, sign_in
from web.app import create_app

REPO_DOCS = Path(__file__).resolve().parent.parent / "docs" / "console"


def entries(app) -> list[tuple[str, str, int | None, str]]:
    with Session(app.engine) as s:
        return [(e.actor, e.action, e.message_pk, e.address)
                for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))]


def test_console_reads_are_audited_with_the_client_address(app, clock, tmp_path: Path) -> None:
    clock.value = NOW
    filled_app(app, tmp_path)
    pk = message_id_from(app, "apply@ydt-edu.example.com")
    with TestClient(create_app(app), base_url="http://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        bad = client.post("/login", data={"username": STAFF[0], "password": "wrong password!",
                                          "csrf_token": csrf_of(page.text), "next": "/"})
        assert bad.status_code == 401
        sign_in(client, STAFF)
        assert client.get(f"/messages/{pk}").status_code == 200
        assert client.get(f"/messages/{pk}/attachments/0").status_code == 200
        assert client.get("/exports/applications.xlsx").status_code == 200
        assert client.get("/audit").status_code == 403, "the log is for admins"
        home = client.get("/pending")
        assert client.post("/logout", data={"csrf_token": csrf_of(home.text)}).status_code == 303
    seen = [e for e in entries(app) if e[0] == STAFF[0]]
    assert seen == [(STAFF[0], "login_failed", None, "testclient"), (STAFF[0], "login", None, "testclient"),
                    (STAFF[0], "view_message", pk, "testclient"), (STAFF[0], "download_attachment", pk, "testclient"),
                    (STAFF[0], "export", None, "testclient"), (STAFF[0], "logout", None, "testclient")]


def test_the_audit_page_filters_and_pages_in_the_database(app, clock, tmp_path: Path) -> None:
    clock.value = NOW
    filled_app(app, tmp_path)
    with Session(app.engine) as s:
        for n in range(120):  # one a day going back from NOW: 2019-10-28 .. 2020-02-24
            s.add(AuditEntry(at=NOW - timedelta(days=n), actor="clerk" if n % 2 else "boss", action="view_message",
                             detail=f"entry {n} <script>", address="10.0.0.1"))
        s.commit()
    page = audit_entries(app, AuditFilter(user="clerk", action="view_message", limit=50))
    assert page.total == 60 and len(page.entries) == 50
    assert audit_entries(app, AuditFilter(since=datetime(2020, 2, 1).date(), until=datetime(2020, 2, 10).date(),
                                          action="view_message")).total == 10
    with TestClient(create_app(app), base_url="http://testserver", follow_redirects=False) as client:
        sign_in(client, ADMIN)
        first = client.get("/audit", params={"user": "clerk", "action": "view_message"})
        assert first.status_code == 200 and "共 60 条" in first.text and "第 1 / 2 页" in first.text
        assert "&lt;script&gt;" in first.text and "<script>" not in first.text
        second = client.get("/audit", params={"user": "clerk", "action": "view_message", "page": "2"})
        assert len(re.findall(r"<tr><td>20", second.text)) == 10
        assert client.get("/audit", params={"since": "not a date"}).status_code == 400
        assert client.get("/audit", params={"page": "0"}).status_code == 404


@pytest.mark.integration
def test_cli_reads_exports_and_backups_are_audited(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    zx(config, "ingest", str(FIXTURES / "mail" / "08-question.eml"))
    zx(config, "show", "1")
    zx(config, "export", "--format", "json")
    zx(config, "backup", "--out", str(tmp_path / "backup"))
    listed = zx(config, "audit", "--since", "2020-01-01").stdout
    for label in ("查看邮件 message viewed", "导出 export", "备份 backup"):
        assert label in listed
    only = zx(config, "audit", "--since", "2020-01-01", "--action", "export").stdout
    assert "json (stdout)" in only and "备份 backup" not in only
    nobody = zx(config, "audit", "--since", "2020-01-01", "--user", "nobody").stdout
    assert "(0 / 0)" in nobody


@pytest.mark.browser
def test_the_audit_page_in_a_browser(app, clock, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import full_page_png
    from tests.console_server import chromium, running_console

    clock.value = NOW
    filled_app(app, tmp_path)
    with Session(app.engine) as s:
        for n, (who, action, addr) in enumerate([("clerk", "login", "10.12.0.31"), ("clerk", "view_message", "10.12.0.31"),
                                                 ("clerk", "download_attachment", "10.12.0.31"),
                                                 ("boss", "export", "10.12.0.7"), ("x", "login_failed", "203.0.113.9")]):
            s.add(AuditEntry(at=datetime(2020, 2, 24, 2, n * 7, tzinfo=UTC), actor=who, action=action,
                             message_pk=5 if "message" in action or "attach" in action else None, address=addr,
                             detail="附件 attachment 1" if "attach" in action else ""))
        s.commit()
    driver = chromium()
    try:
        with running_console(app) as base:
            driver.get(f"{base}/login")
            driver.find_element(By.NAME, "username").send_keys(ADMIN[0])
            driver.find_element(By.NAME, "password").send_keys(ADMIN[1])
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            driver.get(f"{base}/audit")
            assert "审计日志" in driver.find_element(By.TAG_NAME, "h1").text
            for width in (390, 1280):  # written to the test's folder; with ZXJYCK_UPDATE_DOCS=1 to docs/console
                png = full_page_png(driver, width)
                (tmp_path / f"audit-{width}.png").write_bytes(png)
                if os.environ.get("ZXJYCK_UPDATE_DOCS") == "1":
                    (REPO_DOCS / f"audit-{width}.png").write_bytes(png)
                assert driver.execute_script("return document.documentElement.scrollWidth") <= width
                assert "下载附件 attachment downloaded" in driver.find_element(By.TAG_NAME, "table").text
    finally:
        driver.quit()
