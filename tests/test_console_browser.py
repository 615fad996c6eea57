"""The console in a real browser (Debian's chromium, headless, via chromedriver): a member of staff's day.

Log in, read the week, confirm a held report from an unregistered sender and see the city's figures and
the totals change, replay a failed message, download the week's workbook, log out.
"""

from __future__ import annotations

import time
from pathlib import Path

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from store.db import session_scope
from store.models import Message
from tests.console_server import chromium, running_console
from tests.web_support import ADMIN, NOW, WEEK, filled_app, message_id_from

pytestmark = pytest.mark.browser


@pytest.fixture
def store_url() -> str:
    return "sqlite:///var/zxjyck.db"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    driver = chromium(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _city_row(driver, city: str) -> list[str]:
    for row in driver.find_elements(By.CSS_SELECTOR, "table.grid tbody tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        if cells and cells[0] == city:
            return cells
    raise AssertionError(f"{city} not on the page")


def _click_and_wait(driver, element) -> None:
    """Click, then wait until the browser has left the page (a click returns before the navigation ends)."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(staleness_of(page))


def _number(driver, element_id: str) -> int:
    return int(driver.find_element(By.ID, element_id).text)


def test_a_day_of_staff_work_in_the_browser(browser, app, clock, tmp_path: Path) -> None:
    clock.value = NOW
    filled_app(app, tmp_path)
    foshan = message_id_from(app, "someone@qq.com")
    question = message_id_from(app, "citizen@example.com")
    with session_scope(app.engine) as session:  # a message whose processing crashed, waiting for a replay
        msg = session.get(Message, question)
        msg.status, msg.problems = "failed", ["处理失败（内部错误 ValueError），已记录，管理员修复后可重放"]
        session.add(msg)
    with running_console(app) as base:
        b = browser
        b.get(f"{base}/week/{WEEK}")
        assert "/login" in b.current_url
        b.find_element(By.NAME, "username").send_keys(ADMIN[0])
        b.find_element(By.NAME, "password").send_keys(ADMIN[1])
        _click_and_wait(b, b.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
        assert b.current_url.endswith(f"/week/{WEEK}")
        assert "本周报送" in b.find_element(By.TAG_NAME, "h1").text
        total, held = _number(b, "total-headcount"), _number(b, "held-headcount")
        assert _city_row(b, "佛山市")[1:5] == ["待人工核对", "", "1", "60"]
        assert _city_row(b, "韶关市")[1] == "未报送"

        _click_and_wait(b, b.find_element(By.LINK_TEXT, "待处理"))
        card = b.find_element(By.ID, f"pending-{foshan}")
        assert "不是佛山市登记的报送邮箱" in card.text
        form = card.find_element(By.CSS_SELECTOR, f"form[action='/messages/{foshan}/confirm']")
        Select(form.find_element(By.NAME, "city")).select_by_visible_text("佛山市")
        _click_and_wait(b, form.find_element(By.CSS_SELECTOR, "button"))
        assert "已确认发件人" in b.find_element(By.CSS_SELECTOR, "p.notice").text

        b.get(f"{base}/week/{WEEK}")
        assert _city_row(b, "佛山市")[1:5] == ["已收到", "", "1", "60"]
        assert _number(b, "total-headcount") == total + 60
        assert _number(b, "held-headcount") == held - 60

        b.get(f"{base}/messages/{question}")
        assert "处理失败" in b.find_element(By.TAG_NAME, "h1").text
        _click_and_wait(b, b.find_element(By.CSS_SELECTOR, f"form[action='/messages/{question}/replay'] button"))
        assert "已重新处理" in b.find_element(By.CSS_SELECTOR, "p.notice").text
        b.get(f"{base}/messages/{question}")
        assert "已处理" in b.find_element(By.TAG_NAME, "h1").text

        _click_and_wait(b, b.find_element(By.LINK_TEXT, "导出"))
        b.find_element(By.CSS_SELECTOR, f"a[href='/exports/week/{WEEK}.xlsx']").click()
        target = b.downloads / f"周报汇总-{WEEK}.xlsx"
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert target.exists(), sorted(p.name for p in b.downloads.iterdir())
        ws = openpyxl.load_workbook(target)["汇总"]
        totals = next(r for r in ws.iter_rows(values_only=True) if r[0] == "合计")
        assert totals[5] == total + 60

        _click_and_wait(b, b.find_element(By.CSS_SELECTOR, "form.who button"))
        assert "/login" in b.current_url
        b.get(f"{base}/pending")
        assert "/login" in b.current_url
