"""The staff digest built from a stored week (SQLite and PostgreSQL), its rendering, queueing and schedule.

``seed_week`` (also used by test_workbooks.py) stores the reporting week
2020-02-17 .. 2020-02-23 directly as rows; the digest of Tuesday 2020-02-25
(08:30 Asia/Shanghai) is checked against it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from ingest.app import App
from ingest.cli.main import main
from ingest.config import StaffSettings
from ingest.outputs.digest import (
    DigestRecipientsMissing,
    build_digest,
    digest_command,
    render_digest,
)
from ingest.runtime.daemon import timed_jobs
from store.db import session_scope
from store.models import (
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    Message,
    Outbox,
    PollRun,
    WeeklyReport,
    WeeklyRow,
)
from zxjyck.calendar import reporting_week

SH = ZoneInfo("Asia/Shanghai")
WEEK = date(2020, 2, 17)
DAY = date(2020, 2, 25)
HOSTILE_SUBJECT = "<script>alert(1)</script>周报"
HOSTILE_ENTERPRISE = '=HYPERLINK("http://evil.example","点我")'


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2020, month, day, hour, minute, tzinfo=SH)


class Seeder:
    def __init__(self, session: Session):
        self.s = session
        self.n = 0

    def message(self, received: datetime, *, status: str = "processed", kind: str | None = "weekly_report",
                subject: str = "周报", from_addr: str = "someone@example.org", problems: list[str] | None = None,
                city: str | None = None) -> Message:
        self.n += 1
        msg = Message(sha256=hashlib.sha256(f"message {self.n}".encode()).hexdigest(), size=1000 + self.n,
                      message_id=f"<m{self.n}@example.org>", from_addr=from_addr, subject=subject,
                      received_at=received, stored_at=received, kind=kind, status=status,
                      problems=problems or [], city=city)
        self.s.add(msg)
        self.s.flush()
        return msg

    def report(self, city: str, received: datetime, rows: list[tuple[str, int | None, str]], *,
               status: str = "accepted", late: bool = False, superseded: bool = False, week: date = WEEK,
               total: int | None | str = "sum", msg_status: str = "processed", problems: list[str] | None = None,
               from_addr: str = "city@example.gov.cn") -> WeeklyReport:
        msg = self.message(received, status=msg_status, subject=f"{city}周报", from_addr=from_addr,
                           problems=problems, city=city)
        if total == "sum":
            total = sum(r[1] or 0 for r in rows)
        report = WeeklyReport(message_pk=msg.id, city=city, week_start=week, week_end=date.fromordinal(
            week.toordinal() + 6), status=status, late=late, superseded=superseded, received_at=received,
            filled_by="张三", phone="020-12345678", total_headcount=total, problems=problems or [])
        self.s.add(report)
        self.s.flush()
        for pos, (enterprise, headcount, platform) in enumerate(rows, start=1):
            self.s.add(WeeklyRow(report_id=report.id, position=pos, enterprise=enterprise, headcount=headcount,
                                 platform=platform))
        return report

    def application(self, received: datetime, *, key: str, platform: str, organization: str, complete: bool,
                    materials: list[str], projects: list[tuple[str, int | None]], credit_valid: bool,
                    form_problems: list[str] | None = None) -> Application:
        msg = self.message(received, kind="application", subject=f"{platform}申报材料", from_addr=f"{key}@corp.example")
        app = Application(key=key, from_addr=msg.from_addr, platform_name=platform, website="https://p.example.cn",
                          organization=organization, credit_code="91440101MA59ABCD1X", credit_code_valid=credit_valid,
                          contact="李四", contact_title="运营总监", phone="13800138000", email="lisi@corp.example",
                          address="广州市天河区体育西路100号", intro="面向企业职工的线上职业技能培训平台。",
                          form_problems=form_problems or [], complete=complete, first_received_at=received,
                          updated_at=received)
        self.s.add(app)
        self.s.flush()
        self.s.add(ApplicationMessage(application_id=app.id, message_pk=msg.id, received_at=received))
        for category in materials:
            self.s.add(ApplicationMaterial(application_id=app.id, message_pk=msg.id, category=category,
                                           filename=f"{category}.pdf"))
        for pos, (name, hours) in enumerate(projects, start=1):
            self.s.add(ApplicationProject(application_id=app.id, position=pos, name=name, occupation="电工",
                                          format="线上", hours=hours, assessment="考试", source="自有",
                                          fee="免费"))
        return app

    def outbox(self, created: datetime, *, status: str, key: str, bounced: bool = False, reason: str = "",
               attempts: int = 0, to: str = "gzrsj@example.gov.cn", subject: str = "回执") -> Outbox:
        row = Outbox(dedupe_key=key, kind="receipt", to=[to], subject=subject, message_id=f"<{key}@zxjyck>",
                     status=status, reason=reason, attempts=attempts, created_at=created, bounced=bounced)
        self.s.add(row)
        return row


def seed_week(app: App) -> None:
    """Five cities reported (one late, one to correct, one held, one after the 2-25 digest), 16 missing."""
    with session_scope(app.engine) as session:
        seed = Seeder(session)
        seed.report("广州市", sh(2, 17, 10), [("旧版企业", 50, "学习强国")], week=date(2020, 2, 10))
        seed.report("广州市", sh(2, 21, 9), [("广州旧数据公司", 50, "学习强国")], superseded=True)
        seed.report("广州市", sh(2, 24, 10, 2), [("广州市越秀科技有限公司", 120, "粤培通线上学习平台"),
                                                ("广州珠江制造有限公司", 85, "学习强国"),
                                                ("广州白云物流有限公司", 40, "腾讯课堂")])
        seed.report("深圳市", sh(2, 24, 17, 30), [("深圳湾电子有限公司", 200, "学习强国"),
                                                 ("深圳南山软件有限公司", 100, "粤培通线上学习平台")], late=True)
        seed.report("珠海市", sh(2, 24, 11), [("珠海横琴物流有限公司", None, "腾讯课堂"),
                                              ("珠海香洲制造有限公司", 30, " 腾讯课堂 ")],
                    status="needs_correction", total=None, problems=["附件“周报.xlsx”第4行“备案人数”为空"])
        seed.report("佛山市", sh(2, 24, 12), [(HOSTILE_ENTERPRISE, 60, "学习强国")], status="needs_review",
                    msg_status="needs_review", problems=["发件地址未登记为佛山市的报送地址"],
                    from_addr="stranger@example.com")
        seed.report("汕头市", sh(2, 25, 9), [("汕头澄海玩具有限公司", 10, "学习强国")], late=True)
        seed.application(sh(2, 24, 14), key="app-complete", platform="粤技通在线学习平台",
                         organization="广东粤技通教育科技有限公司", complete=True, credit_valid=True,
                         materials=["basic_form", "credentials", "construction", "operation", "content"],
                         projects=[("电工技能提升", 48), ("焊工安全培训", 32)])
        seed.application(sh(2, 24, 20), key="app-missing", platform="云课堂", organization="某某网络科技有限公司",
                         complete=False, credit_valid=False, materials=["basic_form", "credentials"],
                         projects=[("客服礼仪", None)], form_problems=["联系电话“123”格式不正确"])
        seed.message(sh(2, 24, 15), status="failed", kind="weekly_report", subject=HOSTILE_SUBJECT,
                     from_addr="mzrsj@example.gov.cn", problems=["附件“周报.rar”无法解压：文件已损坏"])
        seed.message(sh(2, 24, 23), status="received", kind=None, subject="还没处理")
        bounce = seed.message(sh(2, 24, 16), kind="bounce", subject="退信", from_addr="postmaster@example.gov.cn")
        seed.outbox(sh(2, 24, 10, 5), status="sent", key="receipt:gz", bounced=True, reason="550 用户不存在",
                    subject="回执：广州市 2020年2月17日—2月23日 周报已收到").bounce_message_pk = bounce.id
        seed.outbox(sh(2, 24, 11, 30), status="failed", key="corr:zh", reason="554 内容被拒绝", attempts=8,
                    to="zhrsj@example.gov.cn", subject="更正通知：珠海市 周报需更正后重新报送")
        seed.outbox(sh(2, 24, 23), status="pending", key="pending:1")
        seed.outbox(sh(2, 25, 9), status="pending", key="pending:after-digest")
        session.add(PollRun(source="imap", started_at=sh(2, 25, 8, 19), finished_at=sh(2, 25, 8, 20), ok=True))
        session.add(PollRun(source="imap", started_at=sh(2, 25, 9), finished_at=sh(2, 25, 9, 1), ok=True))


@pytest.fixture
def week_app(app: App) -> App:
    seed_week(app)
    return app


# ---------------------------------------------------------------- the reporting week


@pytest.mark.parametrize(("day", "deadline_weekday", "expected"), [
    (date(2020, 2, 24), 0, (date(2020, 2, 17), date(2020, 2, 23))),  # the deadline Monday itself
    (date(2020, 2, 25), 0, (date(2020, 2, 17), date(2020, 2, 23))),
    (date(2020, 3, 1), 0, (date(2020, 2, 17), date(2020, 2, 23))),  # Sunday: still last week's grid
    (date(2020, 2, 23), 0, (date(2020, 2, 10), date(2020, 2, 16))),
    (date(2020, 2, 26), 2, (date(2020, 2, 17), date(2020, 2, 23))),  # Wednesday deadline
    (date(2020, 2, 25), 2, (date(2020, 2, 10), date(2020, 2, 16))),
    (date(2020, 1, 1), 0, (date(2019, 12, 23), date(2019, 12, 29))),  # across the year
])
def test_reporting_week(day: date, deadline_weekday: int, expected: tuple[date, date]) -> None:
    assert reporting_week(day, deadline_weekday) == expected


# ---------------------------------------------------------------- the context


def test_grid_has_all_21_cities_with_the_current_report_as_at_the_digest_time(week_app: App) -> None:
    ctx = build_digest(week_app, DAY)
    assert (ctx.week_start, ctx.week_end) == (WEEK, date(2020, 2, 23))
    grid = {row.city: row for row in ctx.cities}
    assert len(ctx.cities) == 21 and ctx.cities[0].city == "广州市" and ctx.cities[-1].city == "云浮市"
    got = {city: (row.status, row.late, row.enterprise_count, row.total_headcount)
           for city, row in grid.items() if row.status != "missing"}
    assert got == {
        "广州市": ("accepted", False, 3, 245),  # not the superseded version (1 row, 50)
        "深圳市": ("accepted", True, 2, 300),
        "珠海市": ("needs_correction", False, 2, 30),  # no stored total: the readable rows
        "佛山市": ("needs_review", False, 1, 60),
    }
    assert grid["汕头市"].status == "missing"  # its report came at 09:00, after the 08:30 digest
    assert grid["广州市"].received_at == sh(2, 24, 10, 2)
    # the totals count accepted reports only; the held and to-be-corrected ones are shown apart
    assert (ctx.cities_reported, ctx.cities_accepted, ctx.total_enterprises, ctx.total_headcount) == (4, 2, 5, 545)
    assert (ctx.cities_held, ctx.held_enterprises, ctx.held_headcount) == (2, 3, 90)


def test_a_later_day_sees_the_later_report(week_app: App) -> None:
    ctx = build_digest(week_app, date(2020, 2, 26))
    shantou = next(row for row in ctx.cities if row.city == "汕头市")
    assert (shantou.status, shantou.late, shantou.total_headcount) == ("accepted", True, 10)
    assert ctx.applications == []  # both arrived on 2-24, reported by the 2-25 digest


def test_applications_review_items_outbox_and_health(week_app: App) -> None:
    ctx = build_digest(week_app, DAY)
    assert [(a.platform_name, a.complete, a.missing, a.problem_count) for a in ctx.applications] == [
        ("粤技通在线学习平台", True, [], 0),
        ("云课堂", False, ["construction", "operation", "content"], 1),
    ]
    assert [(r.sender, r.subject, r.reason) for r in ctx.review_items] == [
        ("stranger@example.com", "佛山市周报", "发件地址未登记为佛山市的报送地址"),
        ("mzrsj@example.gov.cn", HOSTILE_SUBJECT, "附件“周报.rar”无法解压：文件已损坏"),
    ]
    assert [(o.status, o.to, o.detail, o.attempts) for o in ctx.outbox_problems] == [
        ("bounced", ["gzrsj@example.gov.cn"], "550 用户不存在", 0),
        ("failed", ["zhrsj@example.gov.cn"], "554 内容被拒绝", 8),
    ]
    h = ctx.health
    assert (h.last_poll, h.backlog, h.failed_messages, h.outbox_pending, h.outbox_failed, h.note) == (
        sh(2, 25, 8, 20), 1, 1, 1, 1, "")
    assert ctx.messages_received == 9  # 2-24 08:30 .. 2-25 08:30


def test_empty_store_digest_lists_every_city_missing(app: App) -> None:
    ctx = build_digest(app, DAY)
    assert [row.status for row in ctx.cities] == ["missing"] * 21
    assert (ctx.applications, ctx.review_items, ctx.outbox_problems, ctx.health.last_poll) == ([], [], [], None)
    _subject, text, _html = render_digest(ctx)
    assert "最近一次收取：无记录" in text and "已报送 0/21 个市" in text


def test_failed_last_poll_is_noted(app: App) -> None:
    with session_scope(app.engine) as session:
        session.add(PollRun(source="imap", started_at=sh(2, 25, 8), finished_at=sh(2, 25, 8, 1), ok=False,
                            error="LOGIN failed"))
    assert build_digest(app, DAY).health.note == "最近一次收取失败：LOGIN failed"


# ---------------------------------------------------------------- rendering


def test_text_shows_grid_totals_applications_review_and_health(week_app: App) -> None:
    text = digest_command(week_app, DAY, send=False)
    assert text.startswith("每日汇总：2020年2月25日 线上培训报送情况\n")
    for line in [
        "一、各市周报（2020年2月17日—2月23日）",
        "已报送 4/21 个市，其中已确认 2 个；已确认的企业合计 5 家，备案人数合计 545 人；另有 2 个市待核对或待更正（企业 3 家，90 人），未计入合计。",
        "本周按时报送 1/21，上周 1/21。",  # 广州市 both weeks; 深圳市 late, 珠海市 to correct, 佛山市 held
        "广州市：已收到，2020年2月24日 10:02收到，企业3家，245人",
        "深圳市：已收到（逾期），2020年2月24日 17:30收到，企业2家，300人",
        "珠海市：待更正，2020年2月24日 11:00收到，企业2家，30人",
        "佛山市：待人工核对，2020年2月24日 12:00收到，企业1家，60人",
        "未报送（17个市）：汕头市、韶关市、河源市、梅州市、惠州市、汕尾市、东莞市、中山市、江门市、阳江市、湛江市、"
        "茂名市、肇庆市、清远市、潮州市、揭阳市、云浮市",
        "二、新收到的平台申报（2件）",
        "1. “粤技通在线学习平台”（广东粤技通教育科技有限公司）：材料齐全",
        "2. “云课堂”（某某网络科技有限公司）：缺平台建设材料、平台运行材料、平台培训内容材料；基本情况表1处需更正",
        "三、待人工处理（2件）",
        f"2. [{_id_of(week_app, HOSTILE_SUBJECT)}] mzrsj@example.gov.cn《{HOSTILE_SUBJECT}》：附件“周报.rar”无法解压：文件已损坏",
        "四、发送失败与退信（2件）",
        "1. 被退信：gzrsj@example.gov.cn《回执：广州市 2020年2月17日—2月23日 周报已收到》，550 用户不存在",
        "2. 发送失败：zhrsj@example.gov.cn《更正通知：珠海市 周报需更正后重新报送》，已尝试8次，554 内容被拒绝",
        "近24小时收到邮件 9 封；最近一次收取：2020年2月25日 08:20；待处理 1 封；处理失败 1 封；待发送 1 封；发送失败 1 封。",
    ]:
        assert line in text, line
    assert "：未报送" not in text  # the 未报送 cities are one line, not 17
    grid = [line.strip().split("：")[0] for line in text.split("一、")[1].split("二、")[0].splitlines()[3:] if line]
    # cities needing attention first (late, to correct, held) in the usual order, then the ones received
    assert grid == ["深圳市", "珠海市", "佛山市", "广州市", "未报送（17个市）"]
    assert "Automated notice" not in text  # staff text in Chinese only
    assert "：未报送" not in text  # the 未报送 cities are one line, not 17
    grid = [line.strip().split("：")[0] for line in text.split("一、")[1].split("二、")[0].splitlines()[3:] if line]
    # cities needing attention first (to correct, held, late), in the usual order; then the ones received
    assert grid == ["深圳市", "珠海市", "佛山市", "广州市", "未报送（17个市）"]
    assert "sender is" not in text and "Automated notice" not in text  # staff text in Chinese only


def _id_of(app: App, subject: str) -> int:
    with session_scope(app.engine) as session:
        return session.exec(select(Message.id).where(Message.subject == subject)).one()


def test_html_has_the_same_values_and_escapes_hostile_text(week_app: App) -> None:
    subject, _text, html = render_digest(build_digest(week_app, DAY))
    assert subject == "每日汇总：2020年2月25日 线上培训报送情况"
    for value in ("广州市", "已收到（逾期）", "待更正", "待人工核对", "245", "545", "云课堂", "材料齐全",
                  "550 用户不存在", "2020年2月25日 08:20", "未报送"):
        assert value in html, value
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;周报" in html
    assert '<meta name="viewport"' in html  # readable on a phone


# ---------------------------------------------------------------- sending and scheduling


def _outbox(app: App) -> list[Outbox]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "digest")))


def test_send_queues_one_digest_per_day(week_app: App) -> None:
    first = digest_command(week_app, DAY, send=True)
    assert "已加入发件箱 queued for staff@example.org" in first
    second = digest_command(week_app, DAY, send=True)
    assert "already queued for staff@example.org" in second
    rows = _outbox(week_app)
    assert [(r.dedupe_key, r.to, r.status, r.subject) for r in rows] == [
        ("digest:2020-02-25", ["staff@example.org"], "pending", "每日汇总：2020年2月25日 线上培训报送情况")]
    assert "Auto-Submitted: auto-generated" in rows[0].raw
    assert "In-Reply-To" not in rows[0].raw


def _without_recipients(app: App) -> App:
    settings = dataclasses.replace(app.settings, staff=StaffSettings(digest_to=[]))
    return App(settings=settings, engine=app.engine, archive=app.archive, clock=app.clock)


def test_send_without_recipients_is_a_clear_error(app: App) -> None:
    with pytest.raises(DigestRecipientsMissing, match="staff.digest_to is empty"):
        digest_command(_without_recipients(app), DAY, send=True)
    assert _outbox(app) == []
    assert "每日汇总" in digest_command(_without_recipients(app), DAY, send=False)  # printing needs nobody


def test_default_day_is_today_in_shanghai(app: App, clock) -> None:
    clock.value = datetime(2020, 2, 24, 17, 0, tzinfo=UTC)  # 2020-02-25 01:00 in Shanghai
    assert digest_command(app, None, send=False).startswith("每日汇总：2020年2月25日")


def test_timed_digest_runs_at_digest_time_of_the_service_clock(app: App, clock) -> None:
    # the clock says Monday 2020-02-24 10:00 Shanghai: today's 08:30 has passed, the next is tomorrow's
    [digest] = [job for job in timed_jobs(app) if job.name == "digest"]
    assert digest.due == sh(2, 25, 8, 30)
    assert not digest.tick(sh(2, 25, 8, 29))
    assert _outbox(app) == []
    clock.value = sh(2, 25, 8, 30)
    assert digest.tick(clock())
    assert [r.dedupe_key for r in _outbox(app)] == ["digest:2020-02-25"]
    assert digest.due == sh(2, 26, 8, 30)
    clock.value = sh(2, 27, 9, 0)  # a tick that comes late (the machine slept) runs it once, for that day
    assert digest.tick(clock())
    assert digest.due == sh(2, 28, 8, 30)
    assert [r.dedupe_key for r in _outbox(app)] == ["digest:2020-02-25", "digest:2020-02-27"]


def test_no_digest_job_without_recipients(app: App) -> None:
    names = [job.name for job in timed_jobs(_without_recipients(app))]
    assert "digest" not in names and "reminders" in names


# ---------------------------------------------------------------- command line


def test_cli_digest_for_a_past_date(week_app: App, config_path: Path, capsys) -> None:
    assert main(["--config", str(config_path), "digest", "--date", "2020-02-25"]) == 0
    out = capsys.readouterr().out
    assert "广州市：已收到，2020年2月24日 10:02收到，企业3家，245人" in out
    assert "企业合计 5 家，备案人数合计 545 人" in out
    assert _outbox(week_app) == []


def test_cli_digest_send(week_app: App, config_path: Path, capsys) -> None:
    assert main(["--config", str(config_path), "digest", "--date", "2020-02-25", "--send"]) == 0
    printed = capsys.readouterr().out
    assert "queued for staff@example.org" in printed
    assert "goes out with the next cycle: zxjyck poll" in printed and "下一次收取" in printed  # says when
    assert [r.dedupe_key for r in _outbox(week_app)] == ["digest:2020-02-25"]
