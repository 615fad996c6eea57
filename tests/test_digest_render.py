"""The staff digest as a person sees it: rendered by Chromium at a phone's 390 px and a desktop's 1280 px.

The HTML part of the digest of the seeded week (see test_digest.py) plus a held
message with a bilingual reason and long sender text is loaded into one
headless Chromium per module. At 390 px nothing may scroll sideways, no column
may shrink to one character a line, city names and figures stay on one line,
the figures of a column line up on the right (the 合计 row too), and cities
needing attention come first. The screenshots are written to the test's
folder; with ZXJYCK_UPDATE_DOCS=1 also to docs/digest/, where the committed
ones are checked to be real renders of both widths.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from ingest.outputs.digest import build_digest, render_digest
from store.db import session_scope
from tests.browser import browser, full_page_png, set_viewport  # noqa: F401  (browser is a fixture)
from tests.conftest import REPO, sqlite_app
from tests.test_digest import DAY, Seeder, seed_week, sh

DOCS = REPO / "docs" / "digest"
WIDTHS = {"phone": 390, "desktop": 1280}

# Every visible text box that holds at least two characters must be at least this many
# characters wide, so no column reads one character per line.
MEASURE = """
const out = {};
out.scrollWidth = document.documentElement.scrollWidth;
out.innerWidth = window.innerWidth;
const narrow = [];
for (const cell of document.querySelectorAll('td, th, div, p, span')) {
  const text = (cell.innerText || '').trim();
  if (text.length < 2 || cell.children.length > 0 && cell.tagName !== 'TD' && cell.tagName !== 'TH') continue;
  const style = getComputedStyle(cell);
  if (style.display === 'inline') continue;  // measured through its block
  const fs = parseFloat(style.fontSize);
  const inner = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  if (inner < Math.min(text.length, 3) * fs * 0.95) narrow.push([cell.tagName, text.slice(0, 20), inner, fs]);
}
out.narrow = narrow;
function lines(el) {
  const r = document.createRange(); r.selectNodeContents(el);
  const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
  return tops.size;
}
const grid = document.querySelector('table');
out.cityLines = [...grid.querySelectorAll('tr')].map(tr => tr.cells[0]).filter(c => c && c.colSpan === 1)
  .map(c => [c.innerText.trim(), lines(c)]);
const numCols = {2: [], 3: []};
for (const tr of grid.querySelectorAll('tr')) {
  if (tr.cells.length !== 4) continue;
  for (const i of [2, 3]) {
    const c = tr.cells[i];
    const r = document.createRange(); r.selectNodeContents(c);
    const rects = [...r.getClientRects()];
    numCols[i].push([c.innerText.trim(), getComputedStyle(c).textAlign,
                     rects.length ? Math.round(rects[rects.length - 1].right) : null, lines(c)]);
  }
}
out.numCols = numCols;
out.groups = [...grid.querySelectorAll('td[colspan]')].map(c => c.innerText.trim());
out.gridHeight = grid.getBoundingClientRect().height;
out.styleTags = document.querySelectorAll('style, link[rel=stylesheet]').length;
return out;
"""


@pytest.fixture
def digest_html(tmp_path: Path, make_app) -> Path:
    app = sqlite_app(tmp_path, make_app)  # the layout does not depend on the database
    seed_week(app)
    with session_scope(app.engine) as session:
        seeder = Seeder(session)
        seeder.n = 500  # after the seeded week's messages
        seeder.message(
            sh(2, 24, 18), status="needs_review", kind="weekly_report", subject="河源市企业职工线上适岗技能提升培训备案情况统计表（第二周）",
            from_addr="a.very.long.personal.mailbox.name.for.testing@some-provider.example.com",
            problems=["发件人 a.very.long.personal.mailbox.name.for.testing@some-provider.example.com 不是河源市登记的"
                      "报送邮箱，已暂存待工作人员确认 / sender is not a registered address of 河源市"])
    _subject, _text, html = render_digest(build_digest(app, DAY))
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    return page


def _shoot(browser, page: Path, width: int, name: str) -> tuple[dict, bytes]:  # noqa: F811
    set_viewport(browser, width, 900)
    browser.get(page.as_uri())
    facts = browser.execute_script(MEASURE)
    png = full_page_png(browser, width)
    (page.parent / f"{name}.png").write_bytes(png)
    if os.environ.get("ZXJYCK_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / f"digest-{width}px.png").write_bytes(png)
    return facts, png


def test_phone_width_reads_without_sideways_scrolling_or_one_character_columns(browser, digest_html: Path) -> None:  # noqa: F811
    facts, png = _shoot(browser, digest_html, WIDTHS["phone"], "phone")
    assert facts["styleTags"] == 0  # mail clients strip <style>: everything is inline
    assert facts["scrollWidth"] <= facts["innerWidth"] == 390
    assert facts["narrow"] == []
    assert all(n == 1 for _city, n in facts["cityLines"]), facts["cityLines"]  # 广州市, never 广州/市
    assert facts["groups"] == ["需关注（3个市）", "已收到（1个市）"]  # attention first; 未报送 is one line below
    assert [c for c, _n in facts["cityLines"]] == ["城市", "深圳市", "珠海市", "佛山市", "广州市", "合计（已确认）",
                                                   "待核对/待更正"]  # the held figures beside the total
    for column in facts["numCols"].values():
        assert {align for _t, align, _r, _l in column} == {"right"}, column
        assert len({right for _t, _a, right, _l in column}) == 1, column  # one right edge, 合计 included
        assert all(n == 1 for _t, _a, _r, n in column), column
    assert facts["gridHeight"] < 450  # not a 21-row table a thousand pixels tall
    _check_png(png, 390)


def test_desktop_width_keeps_one_readable_column(browser, digest_html: Path) -> None:  # noqa: F811
    facts, png = _shoot(browser, digest_html, WIDTHS["desktop"], "desktop")
    assert facts["scrollWidth"] <= 1280 and facts["narrow"] == []
    _check_png(png, 1280)


def test_page_text_is_chinese_for_staff(browser, digest_html: Path) -> None:  # noqa: F811
    set_viewport(browser, 390, 900)
    browser.get(digest_html.as_uri())
    text = browser.execute_script("return document.body.innerText")
    assert "sender is not" not in text and "Automated notice" not in text
    assert "不是河源市登记的报送邮箱" in text
    assert re.search(r"未报送（\d+个市）：汕头市、韶关市", text.replace("\n", ""))


def _check_png(png: bytes, width: int) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.width == width and image.height > 600
    assert len(image.getcolors(1 << 24) or []) > 50  # text was drawn, not a blank page


def test_committed_screenshots_are_renders_at_both_widths() -> None:
    from PIL import Image

    for width in WIDTHS.values():
        path = DOCS / f"digest-{width}px.png"
        assert path.is_file(), f"{path} missing: run this module with ZXJYCK_UPDATE_DOCS=1"
        assert Image.open(path).width == width
