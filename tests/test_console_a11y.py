"""Every console page passes axe-core's WCAG 2.1 A and AA rules at 390 px (a phone) and 1280 px (a desktop).

axe-core is the npm package's axe.min.js, vendored into .vendor/axe-core/ by ``scripts/install.sh --dev``
(axe-selenium-python on PyPI bundles axe-core 3.1, which predates the WCAG 2.1 rules), injected into
Debian's headless chromium after each page loads (through the driver, so the console's CSP stays as it is). The store is the 13-week
campaign of 21 cities (tests/campaign_support.py) plus a scanned application form, a failed notice and a
failed poll, so every page shows what it exists for.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import select

from ingest.runtime.poll import ingest_paths
from parsers.application import ApplicationData
from store.db import session_scope
from store.models import Message, Outbox, PollRun
from tests.campaign_support import NOW, WEEKS
from tests.conftest import FIXTURES, REPO
from tests.console_server import chromium, running_console
from tests.test_application_paths import ScriptedAnalyzer, mail
from tests.web_support import ADMIN, message_id_from

pytestmark = pytest.mark.browser

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
SCAN_SENDER = "apply@yxt-edu.example.cn"
AXE = REPO / ".vendor" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def _scan_and_trouble(app, tmp: Path) -> tuple[int, int]:
    """A scanned 附件1 (what OCR read is scripted), a failed notice, a failed poll; (held id, scan id)."""
    analyzer = app.analyzer
    scripted = ScriptedAnalyzer()
    scripted.ocr["附件1_基本情况表（盖章扫描件）.pdf"] = {
        "scanned": True, "stamped": None, "ocr_fields": {"organization": 0.95, "credit_code": 0.52},
        "low_confidence_fields": ["credit_code"],
        "application": ApplicationData(organization="广州粤学通教育科技有限公司", credit_code="91440106MA5CQ7XK30")}
    app.analyzer = scripted
    mail(tmp / "scan-in", "scan.eml", sender=SCAN_SENDER, subject="线上培训平台申报材料",
         when=NOW - timedelta(hours=20),
         files={"附件1_基本情况表（盖章扫描件）.pdf":
                (FIXTURES / "attachments" / "scans" / "basic_form_stamped.pdf").read_bytes()})
    ingest_paths(app, [tmp / "scan-in"])
    app.analyzer = analyzer
    with session_scope(app.engine) as session:
        notice = session.exec(select(Outbox).order_by(Outbox.id)).first()
        notice.status, notice.attempts, notice.reason = "failed", 8, "550 5.1.1 用户不存在 (mailbox unavailable)"
        session.add(notice)
        session.add(PollRun(source="imap:zxjyck@163.com@imap.163.com/INBOX", started_at=NOW - timedelta(minutes=5),
                            finished_at=NOW - timedelta(minutes=4), ok=False, trigger="daemon",
                            error="IMAP login failed: [UNAVAILABLE] 服务器繁忙，请稍后再试"))
        held = session.exec(select(Message.id).where(Message.from_addr == "someone@qq.com")).first()
    return held, message_id_from(app, SCAN_SENDER)


def _sign_in(driver, base: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "username").send_keys(ADMIN[0])
    driver.find_element(By.NAME, "password").send_keys(ADMIN[1])
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 30).until(staleness_of(page))


def _axe_source() -> str:
    if not AXE.is_file():
        raise RuntimeError(f"{AXE} is missing: scripts/install.sh --dev vendors axe-core from npm")
    return AXE.read_text(encoding="utf-8")


def _violations(driver) -> list[str]:
    driver.execute_script(_axe_source())
    driver.set_script_timeout(180)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"axe.run(document, {json.dumps(WCAG_21_AA)}).then(r => done(r)).catch(e => done({{error: String(e)}}));")
    assert "error" not in result, result
    assert result["passes"], "axe-core ran no rule"
    return [f"{v['id']} ({len(v['nodes'])}): {v['help']} e.g. {v['nodes'][0]['target']}" for v in result["violations"]]


def test_every_console_page_passes_wcag_21_aa_at_390_and_1280(browser, campaign, tmp_path: Path) -> None:
    held, scan = _scan_and_trouble(campaign, tmp_path)
    campaign.clock.value = NOW
    pages = ["/login", f"/week/{WEEKS[8].isoformat()}", f"/week/{WEEKS[6].isoformat()}", "/messages",
             f"/messages/{held}", "/pending", "/outbox", "/applications", "/health", f"/messages/{scan}",
             "/exports", "/admin/users", "/admin/cities", "/trends", "/cities/" + quote("广州市"),
             "/cities/" + quote("梅州市"), "/platforms", "/cities/" + quote("不存在市")]  # the last: the 404 page
    found: list[str] = []
    with running_console(campaign) as base:
        for width, height in ((390, 844), (1280, 900)):
            browser.set_window_size(width + 16, height)  # the window; the viewport is set exactly below
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1,
                                     "mobile": width < 600})
            browser.delete_all_cookies()
            for path in pages:
                if path == "/login":
                    browser.delete_all_cookies()
                    browser.get(base + path)
                else:
                    if "/login" in browser.current_url or not browser.get_cookies():
                        _sign_in(browser, base)
                    browser.get(base + path)
                    assert "/login" not in browser.current_url, path
                assert browser.execute_script("return document.documentElement.clientWidth") == width
                if path == f"/messages/{scan}":  # the scan view: the page image beside the values read
                    assert browser.find_elements(By.CSS_SELECTOR, "figure.scan img"), "no scan view"
                found.extend(f"{width}px {path}: {v}" for v in _violations(browser))
    assert not found, "\n".join(found)
