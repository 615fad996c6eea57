"""The console's pages about the campaign over time, over HTTP: /trends and its SVG charts, a city's page,
/platforms and the staff link (CSRF, audit), on 13 weeks of 21 cities' mail (tests/campaign_support.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from store.db import session_scope
from store.models import Application, AuditEntry, PlatformLink
from tests.campaign_support import WEEKS, expected_people
from tests.web_support import STAFF, csrf_of, sign_in
from web.app import create_app
from web.security import CSP

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def client(campaign):
    with TestClient(create_app(campaign), base_url="http://testserver", follow_redirects=False) as c:
        yield sign_in(c, STAFF)


def _cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr[^>]*id="{row_id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]


def test_trends_grid_rates_and_charts(client) -> None:
    response = client.get("/trends")
    assert response.status_code == 200 and response.headers["content-security-policy"] == CSP
    html = response.text
    heads = re.findall(r'<th scope="col" class="wk"><a href="/week/([0-9-]+)"', html)
    assert heads == [w.isoformat() for w in WEEKS[1:]]
    shaoguan = _cells(html, "trend-6")  # the 6th city
    assert shaoguan[0] == "韶关市" and shaoguan[1:] == ["按时", "按时", "未报送", "未报送"] + ["按时"] * 8
    assert _cells(html, "trend-7")[2] == "逾期" and _cells(html, "trend-8")[5] == "经更正"
    assert _cells(html, "row-on-time")[1:4] == ["100%", "95%", "95%"]
    assert _cells(html, "row-reporting")[1:4] == ["100%", "100%", "95%"]
    assert _cells(html, "row-people")[-1] == str(sum(expected_people(WEEKS[-1], c) for c in _all_cities()))
    assert '<a href="/cities/%E5%B9%BF%E5%B7%9E%E5%B8%82">广州市</a>' in html
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 2 and "<script" not in html and " style=" not in html and "on" + "load" not in html
    for svg in svgs:
        root = ElementTree.fromstring(svg)
        assert root.get("viewBox") == "0 0 400 250" and root.get("role") == "img"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert "备案人数" in title.text and desc.text.count("当周") == 12
    bars = ElementTree.fromstring(svgs[0]).findall(f"{SVG}rect")
    heights = [float(b.get("height")) for b in bars]
    assert len(bars) == 12 and heights.index(max(heights)) == 6  # the week of 2020-04-06 (广州市 sent 200 more)
    assert "5/11当周：" in svgs[1]


def _all_cities() -> tuple[str, ...]:
    from parsers.cities import GUANGDONG_CITIES

    return GUANGDONG_CITIES


def test_the_console_clock_decides_the_weeks_shown(campaign, client) -> None:
    campaign.clock.value = datetime(2020, 4, 20, 7, 59, tzinfo=UTC)  # Monday 15:59: the week of 04-13 not due
    heads = re.findall(r'class="wk"><a href="/week/([0-9-]+)"', client.get("/trends").text)
    assert heads[-1] == "2020-04-06" and len(heads) == 12 and heads[0] == "2020-01-20"
    campaign.clock.value = datetime(2020, 4, 20, 8, 0, tzinfo=UTC)
    assert re.findall(r'class="wk"><a href="/week/([0-9-]+)"', client.get("/trends").text)[-1] == "2020-04-13"


def test_a_citys_page(client) -> None:
    response = client.get("/cities/" + quote("广州市"))
    assert response.status_code == 200
    html = response.text
    assert "<h1>广州市" in html and "c01@example.gov.cn" in html and "填报人2号" in html
    row = _cells(html, f"week-{WEEKS[7].isoformat()}")
    assert row[2] == "按时" and row[4] == str(expected_people(WEEKS[7], "广州市")) and "有多个版本" in row[6]
    assert "已被替代" in html and "→" in html
    meizhou = client.get("/cities/" + quote("梅州市")).text
    assert "经更正后确认" in _cells(meizhou, f"week-{WEEKS[5].isoformat()}")[6]
    for bad in ("/cities/" + quote("广州"), "/cities/" + quote("<script>"), "/cities/x%00y"):
        missing = client.get(bad)
        assert missing.status_code == 404 and "没有这个地市" in missing.text and "<script>" not in missing.text


def test_platforms_page_and_a_staff_link(campaign, client) -> None:
    html = client.get("/platforms").text
    assert "粤技通 在线学习" in html and "“南粤职培云”APP" in html
    unmatched = re.search(r'id="platforms-unmatched".*?</table>', html, re.S).group(0)
    assert "岭南匠心课堂" in unmatched and "ＡＢＣ学堂网" in unmatched and "南粤职培云" not in unmatched
    with session_scope(campaign.engine) as session:
        target = session.exec(select(Application.id).where(Application.platform_name == "南粤职培云")).one()
    form = {"name": "岭南匠心课堂", "application": str(target)}
    assert client.post("/platforms/link", data=form).status_code == 403  # no CSRF token
    done = client.post("/platforms/link", data={**form, "csrf_token": csrf_of(html)})
    assert done.status_code == 200 and "已将" in done.text
    with session_scope(campaign.engine) as session:
        link = session.get(PlatformLink, "岭南匠心课堂")
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "platform_link")).one()
    assert link.application_id == target and link.linked_by == STAFF[0] and audit.actor == STAFF[0]
    after = client.get("/platforms").text
    assert "人工关联" in after and "岭南匠心课堂" not in re.search(r'id="platforms-unmatched".*?</table>', after,
                                                                  re.S).group(0)
    refused = client.post("/platforms/link", data={"name": "x", "application": "abc", "csrf_token": csrf_of(html)})
    assert refused.status_code == 400 and "请选择" in refused.text
    undo = client.post("/platforms/link", data={"name": "岭南匠心课堂", "application": "none",
                                                "csrf_token": csrf_of(html)})
    assert undo.status_code == 200 and "取消" in undo.text


def test_new_pages_need_a_session(campaign) -> None:
    with TestClient(create_app(campaign), base_url="http://testserver", follow_redirects=False) as anonymous:
        for path in ("/trends", "/cities/" + quote("广州市"), "/platforms"):
            assert anonymous.get(path).status_code == 303
        assert anonymous.post("/platforms/link", data={"name": "x", "application": "1"}).status_code == 303


@pytest.fixture
def store_url() -> str:
    return "sqlite:///var/zxjyck.db"  # the empty store's pages do not depend on the backend


def test_the_new_pages_of_an_empty_store(app) -> None:
    from ingest.workflows.staff import add_user

    add_user(app, "test", STAFF[0], "staff", STAFF[1])
    with TestClient(create_app(app), base_url="http://testserver", follow_redirects=False) as c:
        sign_in(c, STAFF)
        trends = c.get("/trends")
        assert trends.status_code == 200 and trends.text.count("未报送") >= 21 * 12
        assert "暂无数据" not in trends.text and trends.text.count("<svg") == 2
        city = c.get("/cities/" + quote("韶关市"))  # no report, no registered address
        assert city.status_code == 200 and "没有登记的邮箱" in city.text and "共 0 周" in city.text
        platforms = c.get("/platforms")
        assert platforms.status_code == 200 and "还没有与申报对应的平台" in platforms.text
