"""Screenshots of the staff console's main pages at 390 px (a phone) and 1280 px (a desktop).

    PYTHONPATH=. python scripts/console_screenshots.py [OUT_DIR]   (default docs/console)
    PYTHONPATH=. python scripts/console_screenshots.py --campaign [OUT_DIR]

Builds a throw-away store from the sample mail in fixtures/mail, serves the console on the loopback
and photographs it with Debian's headless chromium. ``--campaign``: the pages about the campaign over
time (/trends, /cities/广州市, /platforms) from 13 weeks of 21 cities' mail (tests/campaign_support.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGES = [("week", "/week/2020-02-17"), ("pending", "/pending"), ("message", "/messages/{held}"),
         ("applications", "/applications"), ("outbox", "/outbox"), ("health", "/health"),
         ("scan", "/messages/{scan}#ocr-0"), ("audit", "/audit"), ("login", "/login")]


def main(out: Path) -> int:
    from ingest.app import open_app
    from ingest.config import load_settings
    from tests.conftest import Clock, write_config
    from tests.console_server import chromium, running_console
    from tests.web_support import ADMIN, NOW, filled_app, message_id_from

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(write_config(Path(tmp), "sqlite:///var/zxjyck.db"), environ={})
        app = open_app(settings, clock=Clock(NOW))
        filled_app(app, Path(tmp))
        held = message_id_from(app, "someone@qq.com")
        _some_trouble(app)
        scan = _scanned_form(app, Path(tmp))
        with running_console(app) as base:
            for width in (390, 1280):
                driver = chromium(width=width, height=900)
                try:
                    driver.get(f"{base}/login")
                    driver.find_element("name", "username").send_keys(ADMIN[0])
                    driver.find_element("name", "password").send_keys(ADMIN[1])
                    for name, path in PAGES:
                        if name == "login":
                            driver.delete_all_cookies()
                        elif "/login" in driver.current_url:
                            driver.find_element("css selector", "form button[type=submit]").click()
                        driver.get(base + path.format(held=held, scan=scan))
                        _full_page(driver, width, out / f"{name}-{width}.png")
                finally:
                    driver.quit()
        app.close()
    print(f"screenshots written to {out}")
    return 0


CAMPAIGN_PAGES = [("trends", "/trends"), ("city", "/cities/广州市"), ("platforms", "/platforms")]


def campaign(out: Path) -> int:
    from ingest.app import open_app
    from ingest.config import load_settings
    from ingest.workflows.staff import add_user
    from tests.campaign_support import NOW, cities_toml, ingest_campaign
    from tests.conftest import Clock, write_config
    from tests.console_server import chromium, running_console
    from tests.web_support import ADMIN

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(write_config(Path(tmp), "sqlite:///var/zxjyck.db", cities=cities_toml()), environ={})
        app = open_app(settings, clock=Clock(NOW))
        ingest_campaign(app, Path(tmp) / "mail-in")
        add_user(app, "test", ADMIN[0], "admin", ADMIN[1])
        with running_console(app) as base:
            for width in (390, 1280):
                driver = chromium(width=width, height=900)
                try:
                    driver.get(f"{base}/login")
                    driver.find_element("name", "username").send_keys(ADMIN[0])
                    driver.find_element("name", "password").send_keys(ADMIN[1])
                    driver.find_element("css selector", "form button[type=submit]").click()
                    for name, path in CAMPAIGN_PAGES:
                        driver.get(base + path)
                        _full_page(driver, width, out / f"{name}-{width}.png")
                finally:
                    driver.quit()
        app.close()
    print(f"screenshots written to {out}")
    return 0


def _some_trouble(app) -> None:
    """What the outbox, health and applications pages exist for: a bounce, a failed poll, a review note, an
    open alert."""
    from datetime import timedelta

    from sqlmodel import select

    from ingest.workflows.staff import set_review_state
    from store.alerts import observe
    from store.db import session_scope
    from store.models import Application, Outbox, PollRun

    now = app.now()
    with session_scope(app.engine) as session:
        notice = session.exec(select(Outbox).order_by(Outbox.id)).first()
        notice.status, notice.attempts = "failed", 8
        notice.reason = "发送失败 / delivery failed: 550 5.1.1 用户不存在 (mailbox unavailable)"
        session.add(notice)
        for minutes, ok in ((30, True), (20, True), (10, False)):
            session.add(PollRun(source="imap:zxjyck@163.com@imap.163.com/INBOX", started_at=now - timedelta(minutes=minutes),
                                finished_at=now - timedelta(minutes=minutes - 1), ok=ok, fetched=3 if ok else 0,
                                new=1 if ok else 0, trigger="daemon",
                                error=None if ok else "IMAP login failed: [UNAVAILABLE] 服务器繁忙，请稍后再试"))
        first = session.exec(select(Application.id).order_by(Application.id)).first()
        observe(session, "stalled", True, "最近一次成功收取：2020-02-25 08:41，已超过 30 分钟", now - timedelta(minutes=1))
    set_review_state(app, "wang", first, "材料齐全", "已核对营业执照原件扫描件")


def _scanned_form(app, tmp: Path) -> int:
    """A grayscale scan of 附件1 read by the real OCR worker: the page staff see beside the values read."""
    from datetime import UTC, datetime

    from ingest.runtime.poll import ingest_paths
    from parsers.sandbox import Sandbox
    from tests.test_application_paths import MATERIALS, mail
    from tests.web_support import message_id_from

    scan = REPO / "fixtures" / "attachments" / "scans" / "basic_form_gray.pdf"
    mail(tmp / "scan-in", "scan.eml", sender="apply@yxt-edu.example.cn", subject="线上培训平台申报材料",
         when=datetime(2020, 2, 24, 3, 0, tzinfo=UTC),
         files={"附件1_基本情况表（盖章扫描件）.pdf": scan.read_bytes(), **MATERIALS})
    analyzer = app.analyzer
    with Sandbox() as sandbox:
        app.analyzer = sandbox
        ingest_paths(app, [tmp / "scan-in"])
    app.analyzer = analyzer
    return message_id_from(app, "apply@yxt-edu.example.cn")


def _full_page(driver, width: int, target: Path) -> None:
    """The whole page at ``width`` CSS pixels (a phone's viewport when narrow), at most 4000 px high."""
    import base64

    mobile = width < 600
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile})
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": min(max(height, 600), 4000), "deviceScaleFactor": 1,
                            "mobile": mobile})
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    target.write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--campaign"]
    target = Path(args[0]) if args else REPO / "docs" / "console"
    raise SystemExit(campaign(target) if "--campaign" in sys.argv[1:] else main(target))
