"""The workflows' ``decide`` steps with plain inputs and no database: what a message leads to.

``decide`` takes the message's facts, the attachment analyses, the state read beforehand
and the settings, and returns a frozen decision; ``record`` (tested end to end in
test_workflows.py and test_application_paths.py) only writes it.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, date, datetime
from email import message_from_bytes
from pathlib import Path

import pytest

from ingest.config import load_settings
from ingest.workflows import applications, bounces, reminders, weekly
from ingest.workflows.decisions import MessageFacts
from parsers.analysis import AttachmentAnalysis
from parsers.application import ApplicationData, ProjectData
from parsers.materials import MaterialGuess
from parsers.weekly import WeeklyReportData, WeeklyRowData
from store.models import (
    NEEDS_REVIEW,
    PROCESSED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
)
from tests.conftest import FIXTURES, write_config

sys.path.insert(0, str(FIXTURES))

from build_attachments import credit_code  # noqa: E402 - the fixtures folder is not a package

SENT = datetime(2020, 2, 24, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai, before the 16:00 deadline
FACTS = MessageFacts(sha256="ab" * 32, from_addr="gzrsj@example.gov.cn", subject="广州市周报", received_at=SENT,
                     mail_day=date(2020, 2, 24), city="广州市")


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db"), environ={})


def weekly_analysis(rows: list[tuple[str, int | None]], city: str = "广州市", filename: str = "周报.xlsx",
                    start: date | None = date(2020, 2, 17)) -> AttachmentAnalysis:
    data = WeeklyReportData(
        city=city, week_start=start, week_end=start and date(start.year, start.month, start.day + 6),
        period_text="2月17日-2月23日", filled_by="张三", phone="020-12345678",
        rows=[WeeklyRowData(n, name, count, "南粤工匠云课堂", str(count)) for n, (name, count) in enumerate(rows, 2)])
    return AttachmentAnalysis(filename=filename, format="xlsx", weekly=data)


# ------------------------------------------------------------------------------------------ weekly


def test_a_registered_citys_clean_form_is_accepted_with_a_receipt(settings):
    analysis = weekly_analysis([("甲公司", 120), ("乙公司", 85)])
    decision = weekly.decide(FACTS, [analysis], frozenset({"广州市"}), settings)
    [report] = decision.reports
    assert (report.city, report.week_start, report.status, report.late) == (
        "广州市", date(2020, 2, 17), REPORT_ACCEPTED, False)
    assert report.total_headcount == 205 and [r.enterprise for r in report.rows] == ["甲公司", "乙公司"]
    assert report.notice.kind == "receipt" and report.notice.dedupe_key == f"receipt:{FACTS.sha256}"
    assert report.notice.context.enterprise_count == 2 and report.notice.context.total_headcount == 205
    assert decision.status == PROCESSED and decision.problems == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.status = NEEDS_REVIEW  # type: ignore[misc]


def test_a_sender_not_registered_for_the_city_is_held_without_a_notice(settings):
    decision = weekly.decide(FACTS, [weekly_analysis([("甲公司", 120)])], frozenset({"深圳市"}), settings)
    [report] = decision.reports
    assert report.status == REPORT_NEEDS_REVIEW and report.notice is None
    assert decision.status == NEEDS_REVIEW
    assert any("不是广州市登记的报送邮箱" in p for p in decision.problems)


def test_duplicate_and_absurd_rows_ask_for_a_correction_and_leave_the_analysis_as_read(settings):
    analysis = weekly_analysis([("甲公司", 120), ("甲 公司", 30), ("乙公司", 10**9)])
    decision = weekly.decide(FACTS, [analysis], frozenset({"广州市"}), settings)
    [report] = decision.reports
    assert report.status == REPORT_NEEDS_CORRECTION
    assert [r.headcount for r in report.rows] == [120, 30, None]
    assert report.total_headcount == 120  # the repeated enterprise is not summed, the absurd figure is dropped
    assert report.notice.kind == "correction_request"
    assert [(p.filename, p.row) for p in report.notice.context.problems] == [("周报.xlsx", 3), ("周报.xlsx", 4)]
    assert [r.problems for r in analysis.weekly.rows] == [[], [], []]  # decide changed nothing it was given
    assert analysis.weekly.rows[2].headcount == 10**9


def test_two_cities_in_one_mail_registered_first_and_their_own_dedupe_keys(settings):
    analyses = [weekly_analysis([("丙公司", 5)], city="深圳市", filename="深圳.xlsx"),
                weekly_analysis([("甲公司", 120)], filename="广州.xlsx")]
    decision = weekly.decide(FACTS, analyses, frozenset({"广州市"}), settings)
    assert [(r.city, r.status) for r in decision.reports] == [("广州市", REPORT_ACCEPTED),
                                                              ("深圳市", REPORT_NEEDS_REVIEW)]
    assert decision.reports[0].notice.dedupe_key == f"receipt:{FACTS.sha256}"
    assert decision.reports[1].notice is None and decision.status == NEEDS_REVIEW
    assert any("同一封邮件含2个地市" in p and "深圳市" in p for p in decision.problems)


def test_no_city_anywhere_is_a_problem_and_no_report(settings):
    facts = dataclasses.replace(FACTS, city=None)
    decision = weekly.decide(facts, [weekly_analysis([("甲公司", 1)], city=None)], frozenset(), settings)
    assert decision.reports == () and decision.status == NEEDS_REVIEW
    assert any("无法确定报送地市" in p for p in decision.problems)


def test_an_undated_form_takes_the_week_before_the_mail_and_says_so(settings):
    decision = weekly.decide(FACTS, [weekly_analysis([("甲公司", 1)], start=None)], frozenset({"广州市"}), settings)
    [report] = decision.reports
    assert (report.week_start, report.week_end) == (date(2020, 2, 17), date(2020, 2, 23))
    assert report.status == REPORT_NEEDS_CORRECTION
    assert any("表内未填写报送时间" in p for p in report.problems)


# ------------------------------------------------------------------------------------------ applications


def form(platform: str, organization: str, code: str, email: str) -> ApplicationData:
    return ApplicationData(platform_name=platform, website="https://example.cn", organization=organization,
                           credit_code=code, contact="陈晓明", contact_title="经理", phone="020-38765432",
                           email=email, address="广州市天河区", intro="平台简介",
                           projects=[ProjectData("电工培训", "电工", "录播", 48, "线上考试", "自主开发", "免费", "48")])


def form_analysis(filename: str, data: ApplicationData) -> AttachmentAnalysis:
    return AttachmentAnalysis(filename=filename, format="docx", application=data,
                              material=MaterialGuess("basic_form", "文件名含“基本情况表”", 0.9))


def material(filename: str, category: str) -> AttachmentAnalysis:
    return AttachmentAnalysis(filename=filename, format="pdf", material=MaterialGuess(category, "文件名", 0.9))


MATERIALS = [("credentials", "营业执照.pdf"), ("construction", "平台建设.docx"), ("operation", "平台运行.docx"),
             ("content", "培训内容.docx")]
CODE_A, CODE_B = credit_code("91440106MA5D3K7P2"), credit_code("91440300MA5F8Q1X3")
FORM_A = form("南粤工匠云课堂", "广东南粤工匠职业培训有限公司", CODE_A, "chen@nanyue.example.cn")
FORM_B = form("岭南技工学堂", "广州岭南技工教育科技有限公司", CODE_B, "li@lingnan.example.cn")
APPLICANT = MessageFacts(sha256="cd" * 32, from_addr="apply@nanyue.example.cn", subject="申报材料", received_at=SENT,
                         mail_day=date(2020, 2, 24))


@pytest.fixture
def unstamped_ok(tmp_path: Path):
    return load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db",
                                      extra="[applications]\nrequire_stamped_form = false\n"), environ={})


def test_a_complete_application_gets_a_receipt_in_the_first_batch(unstamped_ok):
    analyses = [form_analysis("附件1.docx", FORM_A), *(material(name, cat) for cat, name in MATERIALS)]
    [group] = applications.application_groups(analyses)
    decision = applications.decide(APPLICANT, group, applications.ApplicationState(key="new"), unstamped_ok)
    assert decision.application_id is None and decision.complete is True and decision.batch == "首批"
    assert decision.values.credit_code == CODE_A and decision.credit_code_valid is True
    assert [m.category for m in decision.materials] == ["basic_form", "credentials", "construction", "operation",
                                                       "content"]
    assert decision.notice.kind == "receipt" and decision.notice.dedupe_key == f"receipt:{APPLICANT.sha256}"
    assert decision.copy is None and decision.recommended_by is None  # the platform applied itself
    assert decision.status == PROCESSED


def test_a_supplement_counts_the_materials_recorded_from_earlier_mail(unstamped_ok):
    state = applications.ApplicationState(id=7, key=f"credit:{CODE_A}", stored=FORM_A,
                                          materials_before=frozenset({"basic_form", "credentials"}),
                                          materials_elsewhere=frozenset({"basic_form", "credentials"}))
    [group] = applications.application_groups([material("培训内容.docx", "content")])
    decision = applications.decide(APPLICANT, group, state, unstamped_ok)
    assert decision.application_id == 7 and decision.values is None and decision.complete is False
    assert decision.notice.kind == "missing_items"
    assert decision.notice.context.materials_missing == ["construction", "operation"]
    assert decision.notice.context.platform_name == "南粤工匠云课堂"  # from the stored form


def test_the_stamped_form_rule_asks_the_sender_for_the_stamped_copy(settings):
    analyses = [form_analysis("附件1.docx", FORM_A), *(material(name, cat) for cat, name in MATERIALS)]
    [group] = applications.application_groups(analyses)
    decision = applications.decide(APPLICANT, group, applications.ApplicationState(key="new"), settings)
    assert decision.complete is False and decision.stamped is False
    assert decision.notice.context.materials_missing == ["stamped_form"]


def test_a_city_recommending_gets_the_receipt_and_the_form_contact_a_copy(unstamped_ok):
    facts = dataclasses.replace(APPLICANT, from_addr="gzrsj@example.gov.cn", from_name="广州市人社局")
    analyses = [form_analysis("附件1.docx", FORM_A), *(material(name, cat) for cat, name in MATERIALS)]
    [group] = applications.application_groups(analyses)
    decision = applications.decide(facts, group, applications.ApplicationState(key="new", sender_city="广州市"),
                                   unstamped_ok)
    assert decision.recommended_by == "广州市（广州市人社局 <gzrsj@example.gov.cn>）"
    assert decision.copy.to == "chen@nanyue.example.cn"
    assert decision.copy.dedupe_key == f"receipt-copy:{facts.sha256}" and decision.copy.context.salutation is None


def test_a_stranger_saying_it_recommends_makes_the_bureau_write_to_nobody_else(unstamped_ok):
    """Anyone can write 推荐: the receipt goes to the sender alone, and staff decide about the form's contact."""
    facts = dataclasses.replace(APPLICANT, from_addr="someone@qq.com", from_name="某协会",
                                subject="推荐线上培训平台", body="我会推荐该平台参加征集。")
    analyses = [form_analysis("附件1.docx", FORM_A), *(material(name, cat) for cat, name in MATERIALS)]
    [group] = applications.application_groups(analyses)
    decision = applications.decide(facts, group, applications.ApplicationState(key="new"), unstamped_ok)
    assert decision.recommended_by == "某协会 <someone@qq.com>"
    assert decision.complete is True and decision.notice.kind == "receipt"
    assert decision.copy is None
    assert decision.status == NEEDS_REVIEW
    assert any("chen@nanyue.example.cn" in p and "未抄送" in p for p in decision.staff_problems)


def test_several_organisations_forms_become_groups_with_their_own_materials():
    analyses = [form_analysis("南粤工匠/附件1.docx", FORM_A), form_analysis("岭南技工学堂基本情况表.docx", FORM_B),
                material("南粤工匠/营业执照.pdf", "credentials"), material("岭南技工-营业执照.pdf", "credentials"),
                material("平台运行说明.docx", "operation")]
    groups = applications.application_groups(analyses)
    assert [g.form.platform_name for g in groups] == ["南粤工匠云课堂", "岭南技工学堂"]
    assert [[a.filename for a in g.members] for g in groups] == [
        ["南粤工匠/附件1.docx", "南粤工匠/营业执照.pdf", "平台运行说明.docx"],
        ["岭南技工学堂基本情况表.docx", "岭南技工-营业执照.pdf", "平台运行说明.docx"]]
    assert all(g.shared == ("平台运行说明.docx",) and g.several == 2 for g in groups)


def test_shared_materials_are_flagged_for_staff_and_each_receipt_has_its_own_key(unstamped_ok):
    facts = dataclasses.replace(APPLICANT, from_addr="gzrsj@example.gov.cn")
    analyses = [form_analysis("附件1-南粤.docx", FORM_A), form_analysis("附件1-岭南.docx", FORM_B),
                *(material(name, cat) for cat, name in MATERIALS)]
    groups = applications.application_groups(analyses)
    decisions = [applications.decide(facts, g, applications.ApplicationState(key="new", sender_city="广州市"),
                                     unstamped_ok) for g in groups]
    assert [d.complete for d in decisions] == [True, True]
    assert [d.notice.dedupe_key for d in decisions] == [f"receipt:{facts.sha256}", f"receipt:{facts.sha256}:1"]
    assert [d.copy.to for d in decisions] == ["chen@nanyue.example.cn", "li@lingnan.example.cn"]
    assert all(d.status == NEEDS_REVIEW and any("无法按文件名或文件夹对应" in p for p in d.staff_problems)
               for d in decisions)
    assert decisions[1].problems[0].startswith("岭南技工学堂：")


def test_an_editable_form_and_its_scan_are_one_organisation_even_when_ocr_misreads_a_character():
    scan = form_analysis("附件1（盖章扫描件）.pdf", dataclasses.replace(FORM_A, platform_name="南粤工匠云课当",
                                                                credit_code=CODE_A[:-1] + "X"))
    scan.scanned = True
    groups = applications.application_groups([form_analysis("附件1.docx", FORM_A), scan])
    assert len(groups) == 1 and len(groups[0].copies) == 2 and groups[0].several == 0


def test_values_ocr_doubts_never_make_a_scan_another_organisation():
    scan = form_analysis("附件1（盖章扫描件）.jpg", form("亩粤丄匠", "厂东南粤", CODE_B, "chen@nanyue.example.cn"))
    scan.scanned, scan.low_confidence_fields = True, ["platform_name", "organization", "credit_code"]
    [group] = applications.application_groups([form_analysis("附件1.docx", FORM_A), scan])
    assert len(group.copies) == 2 and group.form.platform_name == "南粤工匠云课堂"


def test_a_form_that_names_nobody_does_not_start_another_application():
    nameless = form_analysis("附件1（空白）.docx", ApplicationData(credit_code="123"))
    [group] = applications.application_groups([form_analysis("附件1.docx", FORM_A), nameless])
    assert group.form.platform_name == "南粤工匠云课堂"


# ------------------------------------------------------------------------------------------ bounces


def test_a_bounce_decision_names_our_message_ids():
    raw = (b"From: MAILER-DAEMON@163.com\r\nTo: zxjyck@163.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; 163.com\r\n\r\n"
           b"Final-Recipient: rfc822; nobody@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <n1@zxjyck>\r\nSubject: x\r\n--b--\r\n")
    decision = bounces.decide(message_from_bytes(raw))
    assert "<n1@zxjyck>" in decision.message_ids or "n1@zxjyck" in decision.message_ids
    assert bounces.decide(None).message_ids == []


# ------------------------------------------------------------------------------------------ late reminders

CITIES = {"广州市": ("gzrsj@example.gov.cn",), "深圳市": ("szrsj@example.gov.cn", "sz2@example.gov.cn"),
          "珠海市": ("zhrsj@example.gov.cn",), "汕头市": ()}
AFTER_DEADLINE = datetime(2020, 2, 24, 9, 0, tzinfo=UTC)  # Monday 17:00 in Shanghai


def test_reminders_go_to_cities_without_an_accepted_report_once(settings):
    decision = reminders.decide_reminders(settings, date(2020, 2, 17), CITIES, frozenset({"广州市"}),
                                          frozenset({reminders.reminder_key("珠海市", date(2020, 2, 17))}),
                                          AFTER_DEADLINE)
    [notice] = decision.notices
    assert (notice.city, notice.to, notice.dedupe_key) == (
        "深圳市", ("szrsj@example.gov.cn", "sz2@example.gov.cn"), "late_reminder:深圳市:2020-02-17")
    assert notice.context.week_end == date(2020, 2, 23) and notice.context.submit_address == "zxjyck@163.com"
    assert (decision.reported, decision.already) == (("广州市",), ("珠海市",))  # 汕头市 has no address


@pytest.mark.parametrize(("week", "now", "cities", "reason"), [
    (date(2020, 2, 18), AFTER_DEADLINE, CITIES, "not a Monday"),
    (date(2020, 2, 17), AFTER_DEADLINE, {}, "no cities"),
    (date(2020, 2, 17), datetime(2020, 2, 24, 7, 59, tzinfo=UTC), CITIES, "not reached"),
])
def test_no_reminder_before_its_time(settings, week, now, cities, reason):
    with pytest.raises(reminders.ReminderError, match=reason):
        reminders.decide_reminders(settings, week, cities, frozenset(), frozenset(), now)
