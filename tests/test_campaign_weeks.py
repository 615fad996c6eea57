"""Twelve weeks of the campaign from the 21 cities, mailed and ingested through the real pipeline: outliers
against each city's own weeks, closing a week and its revisions, the history of figures, the range workbook.

Every date is explicit (2020-02-17 .. 2020-05-10); the App's clock follows the mail.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import select

from ingest.app import open_app
from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.outputs.range_workbook import export_range_workbook
from ingest.outputs.week_status import pending_checks, week_summary
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.workflows import staff
from ingest.workflows.outliers import is_outlier
from notify.transport import MemoryTransport
from parsers.cities import GUANGDONG_CITIES
from store.db import session_scope
from store.models import AuditEntry
from tests.campaign_mail import config_21, deliver, received, weekly_mail, zero_mail
from tests.conftest import Clock
from zxjyck import labels

FIRST = date(2020, 2, 17)
WEEKS = [FIRST + timedelta(weeks=n) for n in range(12)]
LAST = WEEKS[-1]
FOSHAN_SPIKE, HUIZHOU_JUMP, YUNFU_EARLY = WEEKS[8], WEEKS[7], WEEKS[3]
SHAOGUAN_ZERO, HEYUAN_MISSING, CHAOZHOU_LATE = WEEKS[5], WEEKS[4], WEEKS[6]


def people(city: str, week: date) -> int | None:
    """Each city's weekly 备案人数: steady with a little wobble, and the cases the test is about."""
    n = GUANGDONG_CITIES.index(city)
    k = WEEKS.index(week)
    if city == "河源市" and week == HEYUAN_MISSING:
        return None
    if city == "韶关市" and week == SHAOGUAN_ZERO:
        return 0
    if city == "佛山市" and week == FOSHAN_SPIKE:
        return 5000  # more than ten times its median (~60)
    if city == "惠州市" and week == HUIZHOU_JUMP:
        return 160  # under ten times its median, but a modified z-score far above 3.5
    if city == "云浮市":
        return 900 if week == YUNFU_EARLY else 30 + k % 3  # 900 after three weeks: too little history to judge
    return 40 + 2 * n + (k % 3) * 2


def rows_for(total: int) -> list[tuple[str, int, str]]:
    first = total // 2
    return [("甲制造有限公司", first, "粤学通"), ("乙物流有限公司", total - first, "技能通")]


def week_mail(week: date) -> dict[str, bytes]:
    mails = {}
    for city in GUANGDONG_CITIES:
        value = people(city, week)
        n = GUANGDONG_CITIES.index(city)
        if value is None:
            continue
        if value == 0:
            mails[f"{n:02d}.eml"] = zero_mail(city, week)
            continue
        when = received(week, day=8) if (city == "潮州市" and week == CHAOZHOU_LATE) else received(week, minute=n)
        mails[f"{n:02d}.eml"] = weekly_mail(city, week, [(f"{city}{name}", c, p) for name, c, p in rows_for(value)],
                                            when=when)
    return mails


def ingest_campaign(app, clock, folder: Path) -> None:
    """The twelve weeks' mail, week by week, the clock two hours after each week's last mail."""
    for week in WEEKS:
        clock.value = (received(week, day=8) + timedelta(hours=2)).astimezone(UTC)
        deliver(app, folder / f"in-{week}", week_mail(week))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """The campaign ingested once into a SQLite store (about 250 messages); each test works on a copy."""
    folder = tmp_path_factory.mktemp("campaign")
    clock = Clock(datetime(2020, 2, 24, 2, 0, tzinfo=UTC))
    app = open_app(load_settings(config_21(folder, "sqlite:///var/zxjyck.db"), environ={}), clock=clock)
    try:
        app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
        ingest_campaign(app, clock, folder)
    finally:
        app.close()
    return folder


@pytest.fixture
def campaign(ingested: Path, tmp_path: Path, make_app, clock):
    """A copy of the ingested campaign (store, archive, config: paths are relative to the config)."""
    copy = tmp_path / "campaign"
    shutil.copytree(ingested, copy, ignore=shutil.ignore_patterns("in-*"))
    clock.value = datetime(2020, 5, 11, 10, 0, tzinfo=UTC)
    app = make_app(load_settings(copy / "config.toml", environ={}))
    app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
    return app


def test_the_outlier_rule() -> None:
    steady = [40, 42, 44, 40, 42]
    assert is_outlier(500, steady) and is_outlier(60, steady)  # 10x / z far above 3.5
    assert not is_outlier(46, steady)  # a little high: normal
    assert not is_outlier(0, steady) and not is_outlier(None, steady)  # a zero report never
    assert not is_outlier(10, steady)  # low figures are not flagged
    assert not is_outlier(900, [30, 31, 32])  # three weeks are not enough history
    assert is_outlier(500, [40, 40, 40, 40]) and not is_outlier(41, [40, 40, 40, 40])  # no spread: only 10x
    assert is_outlier(60, [40, 40, 40, 40, 44])  # MAD 0: the mean absolute deviation stands in


def test_twelve_weeks_flag_only_unusual_highs_and_keep_them_in_the_totals(campaign) -> None:
    state = export_state(campaign.engine)
    current = {(r["city"], r["week_start"]): r for r in state["weekly_reports"] if not r["superseded"]}
    assert len(current) == 12 * 21 - 1  # 河源市 missed one week
    flagged = sorted((c, w) for (c, w), r in current.items() if r["flags"])
    assert flagged == [("佛山市", FOSHAN_SPIKE.isoformat()), ("惠州市", HUIZHOU_JUMP.isoformat())]
    assert current[("佛山市", FOSHAN_SPIKE.isoformat())]["flags"] == ["outlier"]
    zero = current[("韶关市", SHAOGUAN_ZERO.isoformat())]
    assert (zero["status"], zero["total_headcount"], zero["zero_report"], zero["flags"]) == ("accepted", 0, True, [])
    assert current[("云浮市", YUNFU_EARLY.isoformat())]["flags"] == []
    late = current[("潮州市", CHAOZHOU_LATE.isoformat())]
    assert (late["late"], late["on_time"]) == (True, False)
    assert all(r["on_time"] for (c, w), r in current.items() if (c, w) != ("潮州市", CHAOZHOU_LATE.isoformat()))
    # never an automatic mail about an outlier: 佛山市 got its ordinary receipt only
    spike_mail = [o for o in state["outbox"] if o["about_message_id"] == current[
        ("佛山市", FOSHAN_SPIKE.isoformat())]["message_id"]]
    assert [o["kind"] for o in spike_mail] == ["receipt"]
    tz = campaign.settings.schedule.calendar().tz
    with session_scope(campaign.engine) as session:
        summary = week_summary(session, FOSHAN_SPIKE, tz)
    assert [c.city for c in summary.to_check] == ["佛山市"]
    assert summary.total_headcount == sum(people(c, FOSHAN_SPIKE) or 0 for c in GUANGDONG_CITIES)  # still counted
    assert [(p.city, p.week_start, p.what) for p in pending_checks(campaign.engine)] == [
        ("惠州市", HUIZHOU_JUMP, "请核实 outlier"), ("佛山市", FOSHAN_SPIKE, "请核实 outlier")]


def test_verifying_an_outlier_is_audited_and_recorded(campaign) -> None:
    state = export_state(campaign.engine)
    spike = next(r for r in state["weekly_reports"] if (r["city"], r["week_start"]) == ("佛山市", FOSHAN_SPIKE.isoformat()))
    assert main(["--config", str(campaign.settings.path), "week", "verify", str(spike["id"])]) == 0
    state = export_state(campaign.engine)
    spike = next(r for r in state["weekly_reports"] if r["id"] == spike["id"])
    assert spike["flags"] == ["outlier", "verified"]
    [change] = [c for c in state["figure_changes"] if c["reason"] == "verified"]
    assert (change["city"], change["old"], change["new"]) == ("佛山市", {"enterprises": 2, "people": 5000},
                                                              {"enterprises": 2, "people": 5000})
    assert main(["--config", str(campaign.settings.path), "week", "verify", str(spike["id"])]) == 1  # once
    with session_scope(campaign.engine) as session:
        assert [a.action for a in session.exec(select(AuditEntry).where(AuditEntry.action == "verify"))] == ["verify"]
    assert [p.city for p in pending_checks(campaign.engine)] == ["惠州市"]


def test_a_closed_week_keeps_its_figures_until_staff_accept_a_revision(campaign, clock, tmp_path: Path) -> None:
    tz = campaign.settings.schedule.calendar().tz
    week = WEEKS[9]
    with session_scope(campaign.engine) as session:
        before = week_summary(session, week, tz).total_headcount
    cfg = str(campaign.settings.path)
    with pytest.raises(SystemExit) as usage:
        main(["--config", cfg, "week", "close", "2020-04-21"])
    assert usage.value.code == 2  # not a Monday: a usage error
    clock.value = datetime(2020, 5, 11, 10, 0, tzinfo=UTC)
    staff.close_week(campaign, "工作人员甲", week)  # the console's and the CLI's action, with the test's clock
    assert main(["--config", cfg, "week", "close", week.isoformat()]) == 1  # already closed
    assert main(["--config", cfg, "week", "close", WEEKS[8].isoformat()]) == 0
    # 广州市 corrects the closed week: a revision that waits
    clock.value = datetime(2020, 5, 12, 2, 0, tzinfo=UTC)
    fixed = weekly_mail("广州市", week, [("广州甲公司", 100, "粤学通"), ("广州乙公司", 20, "粤学通"),
                                          ("广州丙公司", 5, "技能通")], when=datetime(2020, 5, 12, 9, 0, tzinfo=UTC),
                        subject="广州市4月20日周报（更正）", tag=".fix")
    deliver(campaign, tmp_path / "revision", {"fix.eml": fixed})
    with session_scope(campaign.engine) as session:
        summary = week_summary(session, week, tz)
        assert summary.total_headcount == before and summary.closed is not None
        [pending] = summary.revisions
        pending_id = pending.id
    state = export_state(campaign.engine)
    revision = next(r for r in state["weekly_reports"] if r["id"] == pending_id)
    assert (revision["revision"], revision["superseded"], revision["status"]) == ("pending", True, "accepted")
    assert ("广州市", week, "待接受修订 revision") in [(p.city, p.week_start, p.what)
                                                   for p in pending_checks(campaign.engine)]
    from ingest.outputs.digest import build_digest, render_digest

    clock.value = datetime(2020, 5, 13, 2, 0, tzinfo=UTC)
    _subject, text, _html = render_digest(build_digest(campaign, date(2020, 5, 13)))
    assert f"广州市04月20日一周已关闭后收到的修订（周报编号 {pending_id}），待接受后才计入" in text
    assert main(["--config", cfg, "week", "accept", str(pending_id)]) == 0
    with session_scope(campaign.engine) as session:
        after = week_summary(session, week, tz).total_headcount
    old_gz = people("广州市", week)
    assert after == before - old_gz + 125
    changes = [c for c in export_state(campaign.engine)["figure_changes"]
               if (c["city"], c["week_start"]) == ("广州市", week.isoformat())]
    assert [(c["reason"], c["old"], c["new"]) for c in changes] == [
        ("report", None, {"enterprises": 2, "people": old_gz}),
        ("revision_accepted", {"enterprises": 2, "people": old_gz}, {"enterprises": 3, "people": 125})]
    assert changes[0]["actor"] == "city01@example.gov.cn" and changes[1]["actor"] != changes[0]["actor"]
    assert main(["--config", cfg, "week", "accept", str(pending_id)]) == 1  # nothing pending any more
    with session_scope(campaign.engine) as session:
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert "week_close" in actions and "accept_revision" in actions


def test_a_newer_report_of_an_open_week_is_recorded_old_to_new(campaign, clock, tmp_path: Path) -> None:
    week = WEEKS[10]
    clock.value = datetime(2020, 5, 12, 2, 0, tzinfo=UTC)
    deliver(campaign, tmp_path / "again", {"sz.eml": weekly_mail(
        "深圳市", week, [("深圳甲公司", 7, "粤学通")], when=datetime(2020, 5, 12, 1, 0, tzinfo=UTC), tag=".2")})
    changes = [c for c in export_state(campaign.engine)["figure_changes"]
               if (c["city"], c["week_start"]) == ("深圳市", week.isoformat())]
    old = people("深圳市", week)
    assert [(c["reason"], c["old"], c["new"], c["actor"]) for c in changes] == [
        ("report", None, {"enterprises": 2, "people": old}, "city02@example.gov.cn"),
        ("report", {"enterprises": 2, "people": old}, {"enterprises": 1, "people": 7}, "city02@example.gov.cn")]


def test_closing_a_week_before_its_deadline_is_refused(campaign, clock) -> None:
    clock.value = datetime(2020, 5, 11, 7, 0, tzinfo=UTC)  # Monday 15:00, the deadline of the week of 05-04 is 16:00
    with pytest.raises(staff.NotAllowed):
        staff.close_week(campaign, "tester", LAST)
    clock.value = datetime(2020, 5, 11, 8, 0, tzinfo=UTC)
    assert staff.close_week(campaign, "tester", LAST).week_start == LAST


def test_the_range_workbook(campaign, tmp_path: Path) -> None:
    out = tmp_path / "range.xlsx"
    assert main(["--config", str(campaign.settings.path), "export", "--format", "xlsx", "--from", FIRST.isoformat(),
                 "--to", LAST.isoformat(), "--out", str(out)]) == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["备案人数", "企业数", "按时报送", "全省趋势"]
    grid = wb["按时报送"]
    assert [c.value for c in grid[2]][:4] == ["序号", "地市", "2月17日", "2月24日"]
    on_time = {grid.cell(r, 2).value: [grid.cell(r, c).value for c in range(3, 15)] for r in range(3, 24)}
    assert set(on_time) == set(GUANGDONG_CITIES)
    assert all(state in labels.TIMELINESS.values() for row in on_time.values() for state in row)
    assert on_time["河源市"][4] == "未报送"  # the week 河源市 sent nothing
    assert grid.cell(24, 1).value == "报送率" and grid.cell(25, 1).value == "按时率"
    assert all(str(grid.cell(25, c).value).endswith("/21") for c in range(3, 15))
    ws = wb["备案人数"]
    assert [c.value for c in ws[2]][:4] == ["序号", "地市", "2月17日", "2月24日"] and ws.cell(2, 15).value == "本期合计"
    by_city = {ws.cell(r, 2).value: [ws.cell(r, c).value for c in range(3, 15)] for r in range(3, 24)}
    assert by_city["广州市"] == [people("广州市", w) for w in WEEKS]
    assert by_city["河源市"][4] is None and by_city["韶关市"][5] == 0
    totals = [ws.cell(24, c).value for c in range(3, 15)]
    assert totals == [sum(people(c, w) or 0 for c in GUANGDONG_CITIES) for w in WEEKS]
    cumulative = [ws.cell(25, c).value for c in range(3, 15)]
    assert cumulative[-1] == sum(totals) and cumulative[0] == totals[0]
    spike = ws.cell(3 + GUANGDONG_CITIES.index("佛山市"), 3 + WEEKS.index(FOSHAN_SPIKE))
    assert spike.value == 5000 and spike.fill.fgColor.rgb.endswith("FFD8A8") and "请核实" in spike.comment.text
    assert wb["企业数"].cell(3, 3).value == 2
    trend = wb["全省趋势"]
    assert [trend.cell(3, c).value for c in range(1, 7)] == [1, "2月17日", 21, 42, totals[0], totals[0]]
    assert len(trend._charts) == 1
    for sheet in wb.worksheets:
        assert int(sheet.page_setup.paperSize) == 9 and sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1
    # a later range counts the weeks before it in the cumulative total
    later = export_range_workbook(campaign, tmp_path / "later.xlsx", WEEKS[10], LAST)
    ws = openpyxl.load_workbook(later)["备案人数"]
    assert [ws.cell(25, c).value for c in (3, 4)] == cumulative[10:12]
    with pytest.raises(SystemExit) as usage:
        main(["--config", str(campaign.settings.path), "export", "--format", "xlsx", "--from", "2020-02-18",
              "--to", LAST.isoformat(), "--out", str(out)])
    assert usage.value.code == 2
    assert main(["--config", str(campaign.settings.path), "export", "--format", "xlsx", "--from", LAST.isoformat(),
                 "--to", FIRST.isoformat(), "--out", str(out)]) == 1


def test_a_closed_week_is_closed_in_the_exports_weeks(campaign, clock) -> None:
    clock.value = datetime(2020, 5, 11, 10, 0, tzinfo=UTC)
    staff.close_week(campaign, "工作人员甲", WEEKS[8])
    weeks = {w["week_start"]: w["closed"] for w in export_state(
        campaign.engine, campaign.settings.schedule.calendar().tz, calendar=campaign.settings.schedule.calendar(),
        now=clock())["weeks"]}
    assert weeks[WEEKS[8].isoformat()] is True and weeks[WEEKS[7].isoformat()] is False


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_the_campaign_on_postgresql(tmp_path: Path, store_url: str, make_app, clock) -> None:
    app = make_app(load_settings(config_21(tmp_path, store_url), environ={}))
    app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
    ingest_campaign(app, clock, tmp_path)
    state = export_state(app.engine)
    current = {(r["city"], r["week_start"]): r for r in state["weekly_reports"] if not r["superseded"]}
    assert sorted((c, w) for (c, w), r in current.items() if r["flags"]) == [
        ("佛山市", FOSHAN_SPIKE.isoformat()), ("惠州市", HUIZHOU_JUMP.isoformat())]
    staff.close_week(app, "tester", WEEKS[9])
    clock.advance(hours=1)  # the revision arrives after the closing
    deliver(app, tmp_path / "revision", {"fix.eml": weekly_mail(
        "广州市", WEEKS[9], [("广州甲公司", 125, "粤学通")], when=clock.value - timedelta(minutes=5), tag=".fix")})
    [pending] = [p for p in pending_checks(app.engine) if p.what.startswith("待接受修订")]
    tz = app.settings.schedule.calendar().tz
    with session_scope(app.engine) as session:
        before = week_summary(session, WEEKS[9], tz).total_headcount
    staff.accept_revision(app, "tester", pending.report_id)
    with session_scope(app.engine) as session:
        assert week_summary(session, WEEKS[9], tz).total_headcount == before - people("广州市", WEEKS[9]) + 125


def test_staff_see_to_check_in_the_digest_the_week_workbook_and_the_console(campaign, clock, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from ingest.outputs.digest import build_digest, render_digest
    from ingest.outputs.workbooks import export_workbook
    from tests.web_support import STAFF, csrf_of, sign_in
    from web.app import create_app

    day = FOSHAN_SPIKE + timedelta(days=8)  # the Tuesday after the week's deadline
    clock.value = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)
    _subject, text, html = render_digest(build_digest(campaign, day))
    assert "佛山市：已收到" in text and "5,000人（请核实：备案人数远高于本市以往各周）" in text.replace("5000", "5,000")
    assert "请核实" in html and text.count("请核实") == 1
    book = openpyxl.load_workbook(export_workbook(campaign, tmp_path / "week.xlsx", week=FOSHAN_SPIKE,
                                                  applications=False))
    row = 3 + GUANGDONG_CITIES.index("佛山市")
    assert book["汇总"].cell(row, 2).value == "佛山市" and book["汇总"].cell(row, 10).value.startswith("请核实")
    staff.add_user(campaign, "tester", STAFF[0], "staff", STAFF[1])
    with TestClient(create_app(campaign), base_url="http://testserver", follow_redirects=False) as client:
        sign_in(client, STAFF)
        pending = client.get("/pending")
        assert f'<a href="/week/{FOSHAN_SPIKE.isoformat()}">佛山市 {FOSHAN_SPIKE}</a>：请核实（5000人' in pending.text
        page = client.get(f"/week/{FOSHAN_SPIKE.isoformat()}")
        assert page.status_code == 200 and 'id="to-check"' in page.text and "佛山市（5000人）" in page.text
        spike = re.search(r'action="/reports/(\d+)/verify"', page.text)
        response = client.post(f"/reports/{spike.group(1)}/verify", data={"csrf_token": csrf_of(page.text),
                                                                          "back": "/"})
        assert response.status_code == 200 and "已核实" in response.text
        page = client.get(f"/week/{FOSHAN_SPIKE.isoformat()}")
        assert 'id="to-check"' not in page.text and '<span class="flag ok">已核实</span>' in page.text
        assert 'id="close-week"' in page.text
        response = client.post(f"/week/{FOSHAN_SPIKE.isoformat()}/close", data={"csrf_token": csrf_of(page.text)})
        assert response.status_code == 200
        page = client.get(f"/week/{FOSHAN_SPIKE.isoformat()}")
        assert 'id="week-closed"' in page.text and 'id="close-week"' not in page.text
        this_week = client.get(f"/week/{(LAST + timedelta(weeks=1)).isoformat()}")
        assert 'id="close-week"' not in this_week.text  # its deadline has not passed
    with session_scope(campaign.engine) as session:
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["verify", "week_close"]


def test_a_corrected_spike_is_no_longer_to_check(campaign, clock, tmp_path: Path) -> None:
    clock.value = datetime(2020, 5, 12, 2, 0, tzinfo=UTC)
    deliver(campaign, tmp_path / "fix", {"fs.eml": weekly_mail(
        "佛山市", FOSHAN_SPIKE, [("佛山甲公司", 30, "粤学通"), ("佛山乙公司", 20, "粤学通")],
        when=datetime(2020, 5, 12, 1, 0, tzinfo=UTC), subject="佛山市4月13日周报（更正）", tag=".fix")})
    current = [r for r in export_state(campaign.engine)["weekly_reports"]
               if (r["city"], r["week_start"], r["superseded"]) == ("佛山市", FOSHAN_SPIKE.isoformat(), False)]
    assert [(r["total_headcount"], r["flags"]) for r in current] == [(50, [])]
    assert [p.city for p in pending_checks(campaign.engine)] == ["惠州市"]


def test_the_range_workbook_takes_its_on_time_grid_from_the_writer_given(campaign, tmp_path: Path) -> None:
    """The on-time grid comes from the rates module through ``on_time_grid``; here a writer of the test's."""
    seen: list[list[date]] = []

    def grid(ws, session, weeks, tz) -> None:
        seen.append(weeks)
        ws.append(["地市", *[w.isoformat() for w in weeks]])

    path = export_range_workbook(campaign, tmp_path / "with-grid.xlsx", WEEKS[2], WEEKS[4], on_time_grid=grid)
    wb = openpyxl.load_workbook(path)
    assert seen == [WEEKS[2:5]]
    assert wb.sheetnames == ["备案人数", "企业数", "按时报送", "全省趋势"]
    assert [c.value for c in wb["按时报送"][1]] == ["地市", "2020-03-02", "2020-03-09", "2020-03-16"]
