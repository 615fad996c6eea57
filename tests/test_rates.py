"""Reporting rates, the digest's on-time line, the JSON export's weeks, platform usage and a city's history,
over 13 weeks of 21 cities' mail ingested through the real path (tests/campaign_support.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from ingest.outputs.city_history import city_history
from ingest.outputs.digest import build_digest, digest_command
from ingest.outputs.export import export_state
from ingest.outputs.platforms import platform_usage
from ingest.outputs.rates import CORRECTED, LATE, MISSING, ON_TIME, PENDING, due_weeks, rates, trends
from ingest.workflows import staff
from parsers.cities import GUANGDONG_CITIES
from store.db import session_scope
from store.models import Application, AuditEntry
from tests.campaign_support import NOW, WEEKS, expected_people
from zxjyck.platform_names import match_platform, platform_key


def _cal(app):
    return app.settings.schedule.calendar()


def _grid(app, weeks=None):
    with session_scope(app.engine) as session:
        found = rates(session, weeks or WEEKS, _cal(app))
    return {(w.week_start, c.city): c for w in found for c in w.cities}, found


def test_each_city_week_is_judged_against_its_deadline(campaign) -> None:
    grid, weeks = _grid(campaign)
    exceptions = {(WEEKS[3], "韶关市"): MISSING, (WEEKS[4], "韶关市"): MISSING, (WEEKS[2], "河源市"): LATE,
                  (WEEKS[5], "梅州市"): CORRECTED, (WEEKS[6], "惠州市"): PENDING, (WEEKS[8], "汕尾市"): PENDING}
    for (week, city), cell in grid.items():
        assert cell.state == exceptions.get((week, city), ON_TIME), (week, city)
    assert grid[(WEEKS[5], "梅州市")].flags == ["late", "corrected", "revised"]  # corrected on the Tuesday
    assert grid[(WEEKS[7], "广州市")].flags == ["revised"]  # two versions, both before the deadline
    assert grid[(WEEKS[8], "汕尾市")].flags == ["held"] and grid[(WEEKS[8], "汕尾市")].people is None
    assert grid[(WEEKS[6], "惠州市")].status == "needs_correction" and grid[(WEEKS[6], "惠州市")].people is None
    by_week = {w.week_start: w for w in weeks}
    assert [(by_week[w].reported, by_week[w].on_time) for w in WEEKS[:9]] == [
        (21, 21), (21, 21), (21, 20), (20, 20), (20, 20), (21, 20), (20, 20), (21, 21), (20, 20)]
    assert by_week[WEEKS[3]].expected == 21 and by_week[WEEKS[3]].reporting_rate == pytest.approx(20 / 21)


def test_figures_and_the_cumulative_total_count_accepted_current_reports(campaign) -> None:
    grid, weeks = _grid(campaign)
    running = 0
    for w in weeks:
        counted = [c for c in GUANGDONG_CITIES if grid[(w.week_start, c)].state in (ON_TIME, LATE, CORRECTED)]
        assert w.people == sum(expected_people(w.week_start, c) for c in counted)
        running += w.people
        assert w.cumulative_people == running
    assert grid[(WEEKS[7], "广州市")].people == expected_people(WEEKS[7], "广州市")  # the later version
    # asked for the last weeks only, the cumulative total still adds every week before them
    _, tail = _grid(campaign, WEEKS[-3:])
    assert [w.cumulative_people for w in tail] == [w.cumulative_people for w in weeks[-3:]]


def test_a_fixed_number_of_queries_whatever_the_number_of_weeks(campaign) -> None:
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(campaign.engine, "before_cursor_execute", count)
    try:
        sizes = []
        for weeks in (WEEKS[8:9], WEEKS[5:12], WEEKS):  # each with held mail (汕尾市, week 8): the most queries
            statements.clear()
            _grid(campaign, weeks)
            sizes.append(len(statements))
    finally:
        event.remove(campaign.engine, "before_cursor_execute", count)
    assert sizes[0] == sizes[1] == sizes[2] <= 6, sizes


def test_the_trends_are_the_last_twelve_weeks_whose_deadline_passed(campaign) -> None:
    cal = _cal(campaign)
    assert due_weeks(cal, NOW)[-1] == WEEKS[-1] and len(due_weeks(cal, NOW)) == 12
    # Monday 15:59 of the deadline day: the week just ended is not due yet; 16:00 it is
    monday = datetime(2020, 5, 18, 7, 59, tzinfo=UTC)
    assert due_weeks(cal, monday)[-1] == WEEKS[-2]
    assert due_weeks(cal, monday + timedelta(minutes=1))[-1] == WEEKS[-1]
    with session_scope(campaign.engine) as session:
        weeks = trends(session, cal, NOW)
    assert [w.week_start for w in weeks] == WEEKS[1:]


def test_the_json_export_has_one_object_per_week(campaign) -> None:
    doc = export_state(campaign.engine, _cal(campaign).tz, calendar=_cal(campaign), now=NOW)
    weeks = doc["weeks"]
    assert [w["week_start"] for w in weeks] == [w.isoformat() for w in WEEKS]
    _, summaries = _grid(campaign)
    for obj, w in zip(weeks, summaries, strict=True):
        assert obj == {"week_start": w.week_start.isoformat(), "expected": 21, "reported": w.reported,
                       "on_time": w.on_time, "enterprises": w.enterprises, "people": w.people,
                       "cumulative_people": w.cumulative_people, "closed": False}
    assert weeks[2]["on_time"] == 20 and weeks[3]["reported"] == 20
    # without a clock the weeks run to the last one reported
    assert export_state(campaign.engine)["weeks"][-1]["week_start"] == WEEKS[-1].isoformat()


def test_the_digest_says_how_many_reported_on_time_this_week_and_last(campaign) -> None:
    # Tuesday 2020-03-10 08:30: the week of 03-02 (河源市 late) and the week before (all on time)
    text = digest_command(campaign, date(2020, 3, 10), send=False)
    assert "本周按时报送 20/21，上周 21/21。" in text
    # the digest of Monday 2020-03-30 at 08:30 is as it stood then: 梅州市's week of 03-16 not yet corrected,
    # and the week of 03-23 not yet sent by anyone (they send at 10:00)
    context = build_digest(campaign, date(2020, 3, 30))
    assert (context.on_time_this_week, context.on_time_last_week) == (0, 20)
    assert digest_command(campaign, date(2020, 3, 30), send=False) == digest_command(campaign, date(2020, 3, 30),
                                                                                    send=False)


def test_platform_names_are_normalised_in_one_rule() -> None:
    assert platform_key(" 粤技通 在线学习平台 ") == platform_key("粤技通在线学习") == "粤技通在线学习"
    assert platform_key("“南粤职培云”APP") == platform_key("《南粤职培云》在线平台") == "南粤职培云"
    assert platform_key("ＡＢＣ学堂网") == "abc学堂"
    assert platform_key("平台") == "平台" and platform_key("  ") == ""
    apps = {platform_key("粤技通在线学习平台"): 1, platform_key("南粤职培云"): 2}
    assert match_platform("粤技通在线学习", apps) == 1  # the same key
    assert match_platform("南粤职培云（企业版）", apps) == 2  # containment
    assert match_platform("职培", apps) is None  # too short to contain or be contained
    assert match_platform("南粤职培云粤技通在线学习", {"南粤职培云": 2, "粤技通在线学习": 1}) == 1  # the longest
    assert match_platform("某某平台", apps) is None


def test_platform_usage_and_a_staff_link(campaign) -> None:
    with session_scope(campaign.engine) as session:
        report = platform_usage(session, due_weeks(_cal(campaign), NOW))
        apps = {a.platform_name: a.id for a in session.exec(select(Application))}
    matched = {u.title: u for u in report.matched}
    assert set(matched) == {"粤技通在线学习平台", "南粤职培云"}
    assert set(matched["粤技通在线学习平台"].names) == {"粤技通在线学习平台", "粤技通 在线学习"}
    assert set(matched["南粤职培云"].names) == {"“南粤职培云”APP", "南粤职培云"}
    assert {u.title for u in report.unmatched} == {"ＡＢＣ学堂网", "岭南匠心课堂"}
    _, weeks = _grid(campaign)
    assert sum(u.people for u in report.matched + report.unmatched) == weeks[-1].cumulative_people
    assert sum(u.week(WEEKS[-1])[1] for u in report.matched + report.unmatched) == weeks[-1].people

    staff.link_platform(campaign, "clerk", "岭南匠心课堂", apps["南粤职培云"])
    with session_scope(campaign.engine) as session:
        after = platform_usage(session, due_weeks(_cal(campaign), NOW))
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "platform_link")).one()
    linked = next(u for u in after.matched if u.title == "南粤职培云")
    assert linked.linked_names == ["岭南匠心课堂"]
    assert linked.people == matched["南粤职培云"].people + next(u.people for u in report.unmatched
                                                              if u.title == "岭南匠心课堂")
    assert [u.title for u in after.unmatched] == ["ＡＢＣ学堂网"]
    assert entry.actor == "clerk" and "岭南匠心课堂" in entry.detail
    with pytest.raises(staff.UnknownRecord):
        staff.link_platform(campaign, "clerk", "ＡＢＣ学堂网", 999)
    staff.link_platform(campaign, "clerk", "岭南匠心课堂", None)
    with session_scope(campaign.engine) as session:
        assert len(platform_usage(session, []).unmatched) == 2


def test_a_citys_history_keeps_every_version_and_change(campaign) -> None:
    with session_scope(campaign.engine) as session:
        gz = city_history(session, "广州市", _cal(campaign), NOW)
        mz = city_history(session, "梅州市", _cal(campaign), NOW)
    assert [w.week_start for w in gz.weeks] == list(reversed(WEEKS))
    assert len(gz.versions[WEEKS[7]]) == 2 and gz.versions[WEEKS[7]][0].report.superseded
    (change,) = gz.changes
    assert change.week_start == WEEKS[7] and change.new == (change.old[0], change.old[1] + 100 * change.old[0])
    assert [a.address for a in gz.addresses] == ["c01@example.gov.cn"]
    assert {c.filled_by for c in gz.contacts} == {"填报人1号", "填报人2号", "填报人3号"}
    assert sum(c.reports for c in gz.contacts) == 14  # 13 weeks, one of them sent twice
    (mz_change,) = mz.changes  # the correction gave the week its figures
    assert mz_change.old[1] is not None and mz_change.status == "accepted"
    assert mz.weeks[len(WEEKS) - 1 - 5].state == CORRECTED


def test_rates_read_the_same_on_postgresql(campaign_pg, campaign) -> None:
    pg, sqlite = _grid(campaign_pg)[0], _grid(campaign)[0]
    assert {k: (c.state, c.flags, c.people, c.enterprises) for k, c in pg.items()} == {
        k: (c.state, c.flags, c.people, c.enterprises) for k, c in sqlite.items()}
    with session_scope(campaign_pg.engine) as session:
        assert len(platform_usage(session, WEEKS).matched) == 2
        assert len(city_history(session, "广州市", _cal(campaign_pg), NOW).changes) == 1


def test_each_weekly_report_says_whether_it_was_on_time(campaign) -> None:
    doc = export_state(campaign.engine, _cal(campaign).tz, calendar=_cal(campaign), now=NOW)
    by_key: dict[tuple[str, str], list[bool]] = {}
    for report in doc["weekly_reports"]:
        by_key.setdefault((report["city"], report["week_start"]), []).append(report["on_time"])
    assert by_key[("河源市", WEEKS[2].isoformat())] == [False]  # late
    assert by_key[("梅州市", WEEKS[5].isoformat())] == [False, False]  # sent back, corrected after the deadline
    assert by_key[("惠州市", WEEKS[6].isoformat())] == [False]  # waiting for a correction
    assert by_key[("汕尾市", WEEKS[8].isoformat())] == [False]  # held for staff
    assert by_key[("广州市", WEEKS[7].isoformat())] == [True, True]  # sent again before the deadline
    assert sum(flag for flags in by_key.values() for flag in flags) == 21 * 13 - 6 + 1
