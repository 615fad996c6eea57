"""Decode -> classify -> parse -> store -> outbox, through the whole pipeline with the sample mail."""

from __future__ import annotations

import email.policy
import shutil
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.reminders import deliver, queue_reminders
from ingest.workflows.staff import replay
from notify.transport import MemoryTransport
from tests.conftest import FIXTURES, write_config

MAIL = FIXTURES / "mail"
ATT = FIXTURES / "attachments"


@pytest.fixture
def settings(tmp_path: Path, store_url: str):
    # materials and forms here; the stamped-form rule is tests/test_application_paths.py's: editable forms suffice
    return load_settings(write_config(tmp_path, store_url, extra="[applications]\nrequire_stamped_form = false\n"),
                         environ={})


@pytest.fixture
def app(app, clock):
    clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)  # the day after the deadline: within the reply window
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    return app


def run(app, tmp_path: Path, *names: str) -> dict:
    folder = tmp_path / f"in-{len(list(tmp_path.glob('in-*')))}"
    folder.mkdir()
    for name in names:
        shutil.copy(MAIL / name, folder / name)
    ingest_paths(app, [folder])
    return export_state(app.engine, require_stamped_form=False)


def reports_by_city(doc: dict) -> dict[str, dict]:
    return {r["city"]: r for r in doc["weekly_reports"] if not r["superseded"]}


def outbox(doc: dict, kind: str) -> list[dict]:
    return [o for o in doc["outbox"] if o["kind"] == kind]


def test_weekly_reports_statuses_lateness_and_notices(app, tmp_path: Path) -> None:
    doc = run(app, tmp_path, "01-guangzhou-weekly.eml", "02-shenzhen-weekly-late.eml",
              "03-zhuhai-weekly-bad-row.eml", "04-foshan-weekly-personal-address.eml")
    by_city = reports_by_city(doc)
    gz = by_city["广州市"]
    assert (gz["status"], gz["late"], gz["week_start"], gz["week_end"]) == ("accepted", False, "2020-02-17", "2020-02-23")
    assert [r["headcount"] for r in gz["rows"]] == [120, 85, 40] and gz["total_headcount"] == 245
    assert (gz["filled_by"], gz["phone"]) == ("张三", "020-12345678")
    sz = by_city["深圳市"]
    assert (sz["status"], sz["late"], sz["total_headcount"]) == ("accepted", True, 450)
    zh = by_city["珠海市"]
    assert zh["status"] == "needs_correction"
    assert [r["headcount"] for r in zh["rows"]] == [88, None]
    fs = by_city["佛山市"]
    assert fs["status"] == "needs_review"
    assert any("someone@qq.com" in p for p in fs["problems"])
    receipts = outbox(doc, "receipt")
    assert sorted(o["to"][0] for o in receipts) == ["gzrsj@example.gov.cn", "szrsj@example.gov.cn"]
    assert [o["to"] for o in outbox(doc, "correction_request")] == [["zhrsj@example.gov.cn"]]
    assert not [o for o in doc["outbox"] if "someone@qq.com" in o["to"]]  # held: staff decide, nothing sent
    statuses = {m["from"]: m["status"] for m in doc["messages"]}
    assert statuses["someone@qq.com"] == "needs_review"
    sent = app.transport.sent
    assert len(sent) == 3
    gz_receipt = next(m for m in sent if m["To"] == "gzrsj@example.gov.cn")
    assert gz_receipt["In-Reply-To"] == "<gz-0224@example.gov.cn>"
    assert gz_receipt["Auto-Submitted"] == "auto-replied"
    assert "广州市" in gz_receipt.get_body(("plain",)).get_content()


def test_replay_after_registering_the_sender_accepts_the_held_report_once(app, tmp_path: Path, make_app) -> None:
    doc = run(app, tmp_path, "04-foshan-weekly-personal-address.eml")
    [held] = doc["messages"]
    cfg = write_config(tmp_path, app.settings.store_url, cities='[cities]\n"佛山市" = ["someone@qq.com"]\n')
    app2 = make_app(load_settings(cfg, environ={}))
    app2.analyzer, app2.transport = InProcessAnalyzer(), MemoryTransport()
    app2.clock = app.clock
    assert replay(app2, [held["id"]]) == {held["id"]: "processed"}
    assert replay(app2, [held["id"]]) == {held["id"]: "processed"}
    deliver(app2)
    doc = export_state(app2.engine, require_stamped_form=False)
    [report] = doc["weekly_reports"]
    assert report["status"] == "accepted"
    assert len(outbox(doc, "receipt")) == 1
    assert len(app2.transport.sent) == 1


def _resend(src: Path, dst: Path, subject: str, when: datetime, msgid: str) -> None:
    raw = src.read_bytes()
    body = raw[raw.index(b"\nFrom:") + 1:]  # drop our Received/Subject prefix lines
    msg = email.message_from_bytes(body, policy=email.policy.default)
    del msg["Message-ID"], msg["Date"]
    msg["Message-ID"], msg["Date"], msg["Subject"] = msgid, format_datetime(when), subject
    dst.write_bytes(msg.as_bytes())


def test_a_later_report_supersedes_the_earlier(app, tmp_path: Path) -> None:
    run(app, tmp_path, "01-guangzhou-weekly.eml")
    second = tmp_path / "correction"
    second.mkdir()
    _resend(MAIL / "01-guangzhou-weekly.eml", second / "x.eml", "更正：广州市周报，以此为准",
            datetime(2020, 2, 24, 11, 0, tzinfo=UTC), "<gz-0224-b@example.gov.cn>")
    ingest_paths(app, [second])
    doc = export_state(app.engine, require_stamped_form=False)
    gz = [r for r in doc["weekly_reports"] if r["city"] == "广州市"]
    assert [r["superseded"] for r in gz] == [True, False]
    assert gz[1]["message_id"] == "<gz-0224-b@example.gov.cn>"


def test_applications_complete_missing_and_supplement_by_reply(app, tmp_path: Path) -> None:
    doc = run(app, tmp_path, "05-application-complete.eml", "06-application-missing-items.eml")
    apps = {a["platform_name"]: a for a in doc["applications"]}
    done = apps["粤技通在线学习平台"]
    assert done["complete"] is True and done["missing"] == [] and done["credit_code_valid"] is True
    assert done["materials"] == ["basic_form", "credentials", "construction", "operation", "content"]
    assert [p["hours"] for p in done["projects"]] == [48, 32]
    partial = apps["南粤职培云"]
    assert partial["complete"] is False
    assert partial["missing"] == ["credentials", "construction", "operation", "content"]
    assert partial["credit_code_valid"] is False
    [notice] = outbox(doc, "missing_items")
    assert notice["to"] == ["apply@nyzp.example.com"]
    text = next(m for m in app.transport.sent if m["To"] == "apply@nyzp.example.com").get_body(("plain",)).get_content()
    assert "校验位" in text and "平台建设材料" in text
    # the applicant answers our notice with the missing material
    reply = EmailMessage()
    reply["From"], reply["To"] = "apply@nyzp.example.com", "zxjyck@163.com"
    reply["Subject"], reply["Message-ID"] = "Re: 补充材料", "<app-2-b@nyzp.example.com>"
    reply["In-Reply-To"] = notice["message_id"]
    reply["Date"] = format_datetime(datetime(2020, 2, 24, 12, 0, tzinfo=UTC))
    reply.set_content("补充材料见附件。")
    reply.add_attachment((ATT / "营业执照.pdf").read_bytes(), maintype="application", subtype="pdf",
                         filename="营业执照.pdf")
    (tmp_path / "sup").mkdir()
    (tmp_path / "sup" / "r.eml").write_bytes(reply.as_bytes())
    ingest_paths(app, [tmp_path / "sup"])
    doc = export_state(app.engine, require_stamped_form=False)
    assert len(doc["applications"]) == 2
    partial = next(a for a in doc["applications"] if a["platform_name"] == "南粤职培云")
    assert "credentials" in partial["materials"]
    assert partial["message_ids"] == ["<app-2@nyzp.example.com>", "<app-2-b@nyzp.example.com>"]


def test_robots_and_questions_get_no_mail(app, tmp_path: Path) -> None:
    doc = run(app, tmp_path, "07-auto-reply.eml", "08-question.eml")
    kinds = {m["from"]: m["kind"] for m in doc["messages"]}
    assert kinds == {"leader@example.gov.cn": "auto_reply", "citizen@example.com": "other"}
    assert doc["outbox"] == []


def test_old_mail_is_recorded_but_never_answered(app, tmp_path: Path, clock) -> None:
    clock.value = datetime(2021, 1, 1, tzinfo=UTC)
    doc = run(app, tmp_path, "01-guangzhou-weekly.eml")
    [row] = doc["outbox"]
    assert row["status"] == "suppressed" and "7" in row["reason"]
    assert app.transport.sent == []


def test_replay_never_sends_twice(app, tmp_path: Path) -> None:
    doc = run(app, tmp_path, "01-guangzhou-weekly.eml", "05-application-complete.eml")
    ids = [m["id"] for m in doc["messages"]]
    replay(app, ids)
    replay(app, ids)
    deliver(app)
    assert len(app.transport.sent) == 2
    assert len(export_state(app.engine, require_stamped_form=False)["outbox"]) == 2


def test_bounce_of_our_notice_marks_its_outbox_row(app, tmp_path: Path) -> None:
    doc = run(app, tmp_path, "01-guangzhou-weekly.eml")
    [receipt] = outbox(doc, "receipt")
    dsn = (
        "From: MAILER-DAEMON@mx.example.gov.cn\r\nTo: zxjyck@163.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx>\r\nDate: Tue, 25 Feb 2020 09:00:00 +0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n--R\r\n"
        "Content-Type: text/plain\r\n\r\nmailbox full\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; gzrsj@example.gov.cn\r\nAction: failed\r\n"
        "Status: 5.2.2\r\n\r\n--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {receipt['message_id']}\r\nSubject: x\r\n\r\n--R--\r\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "dsn.eml").write_text(dsn)
    ingest_paths(app, [tmp_path / "b"])
    doc = export_state(app.engine, require_stamped_form=False)
    [receipt] = outbox(doc, "receipt")
    assert receipt["bounced"] is True and receipt["status"] == "failed"
    bounce = next(m for m in doc["messages"] if m["kind"] == "bounce")
    assert bounce["status"] == "processed"
    assert len(doc["outbox"]) == 1  # nothing sent to the MTA


def test_late_reminders_once_per_city_and_week(app, tmp_path: Path) -> None:
    from datetime import date

    run(app, tmp_path, "01-guangzhou-weekly.eml")
    first = queue_reminders(app, date(2020, 2, 17))
    assert sorted(first.queued) == ["深圳市", "珠海市"] and first.reported == ["广州市"]
    second = queue_reminders(app, date(2020, 2, 17))
    assert second.queued == [] and sorted(second.already) == ["深圳市", "珠海市"]
    deliver(app)
    reminders = [m for m in app.transport.sent if "Auto-Submitted" in m and m["Auto-Submitted"] == "auto-generated"]
    assert sorted(m["To"] for m in reminders) == ["szrsj@example.gov.cn, sz-backup@example.gov.cn",
                                                 "zhrsj@example.gov.cn"]


class BrokenAnalyzer:
    """A parser bug: every attachment analysis raises."""

    def analyze(self, data: bytes, filename: str, mail_date):
        raise RuntimeError("parser bug")


def test_a_message_that_failed_before_a_fix_is_processed_by_replay(app, tmp_path: Path) -> None:
    app.analyzer = BrokenAnalyzer()
    doc = run(app, tmp_path, "01-guangzhou-weekly.eml")
    [failed] = doc["messages"]
    assert failed["status"] == "failed"
    assert failed["problems"] == ["处理失败（内部错误 RuntimeError），已记录，管理员修复后可重放 / processing failed "
                                  "(internal error RuntimeError); an administrator can replay it"]
    assert doc["outbox"] == [] and app.transport.sent == []
    app.analyzer = InProcessAnalyzer()  # the fix
    assert replay(app, status="failed") == {failed["id"]: "processed"}
    deliver(app)
    doc = export_state(app.engine, require_stamped_form=False)
    assert doc["messages"][0]["problems"] == []
    assert doc["weekly_reports"][0]["status"] == "accepted"
    assert len(app.transport.sent) == 1


def test_a_missed_deadline_is_caught_up_once_at_start(app, tmp_path: Path, clock) -> None:
    from ingest.runtime.daemon import catch_up

    run(app, tmp_path, "01-guangzhou-weekly.eml")
    clock.value = datetime(2020, 2, 24, 9, 0, tzinfo=UTC)  # Monday 17:00 Asia/Shanghai: the deadline has passed
    catch_up(app)
    catch_up(app)  # a second start the same evening
    reminders = outbox(export_state(app.engine, require_stamped_form=False), "late_reminder")
    assert sorted(o["to"][0] for o in reminders) == ["szrsj@example.gov.cn", "zhrsj@example.gov.cn"]
    clock.value = datetime(2020, 2, 27, 9, 0, tzinfo=UTC)  # days later: no longer relevant
    catch_up(app)
    assert len(outbox(export_state(app.engine, require_stamped_form=False), "late_reminder")) == 2


def test_materials_first_then_the_form_make_one_application(app, tmp_path: Path) -> None:
    def mail(msgid: str, subject: str, files: list[tuple[str, bytes]], hour: int) -> bytes:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = "apply@ydt-edu.example.com", "zxjyck@163.com", subject, msgid
        m["Date"] = format_datetime(datetime(2020, 2, 24, hour, 0, tzinfo=UTC))
        m.set_content("见附件")
        for name, data in files:
            m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
        return m.as_bytes()

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "1.eml").write_bytes(mail("<m1@ydt>", "线上培训平台申报材料（一）", [
        ("营业执照.pdf", (ATT / "营业执照.pdf").read_bytes()),
        ("平台架构说明.docx", (ATT / "平台架构说明.docx").read_bytes())], 1))
    (tmp_path / "m" / "2.eml").write_bytes(mail("<m2@ydt>", "线上培训平台申报材料（二）", [
        ("附件1 基本情况表.docx", (ATT / "application.docx").read_bytes())], 2))
    ingest_paths(app, [tmp_path / "m"])
    doc = export_state(app.engine, require_stamped_form=False)
    assert [m["kind"] for m in doc["messages"]] == ["application", "application"]
    [application] = doc["applications"]
    assert application["platform_name"] == "粤技通在线学习平台"
    assert application["materials"] == ["basic_form", "credentials", "construction"]
    assert application["missing"] == ["operation", "content"]
    assert application["message_ids"] == ["<m1@ydt>", "<m2@ydt>"]


def test_problem_sentences_name_their_file_once() -> None:
    from ingest.workflows.problems import about_file

    assert about_file("周报.xlsx", "附件“周报.xlsx”含有不安全的内容") == "附件“周报.xlsx”含有不安全的内容"
    assert about_file("周报.xlsx", "第3行“备案人数”为空") == "附件“周报.xlsx”：第3行“备案人数”为空"
    assert about_file("", "邮件中没有附件") == "邮件中没有附件"


def test_a_basic_form_known_only_by_its_name_asks_for_an_editable_copy(app, tmp_path: Path) -> None:
    from ingest.workflows.applications import UNREADABLE_FORM

    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "apply@scan.example.com", "zxjyck@163.com", "平台申报材料", "<s1@x>"
    m["Date"] = format_datetime(datetime(2020, 2, 24, 1, 0, tzinfo=UTC))
    m.set_content("见附件")
    m.add_attachment((ATT / "营业执照扫描件.png").read_bytes(), maintype="application", subtype="pdf",
                     filename="附件1 基本情况表.pdf")  # a scan: an image, whatever its name says
    m.add_attachment((ATT / "营业执照.pdf").read_bytes(), maintype="application", subtype="pdf", filename="营业执照.pdf")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "1.eml").write_bytes(m.as_bytes())
    ingest_paths(app, [tmp_path / "s"])
    [application] = export_state(app.engine, require_stamped_form=False)["applications"]
    assert application["materials"] == ["basic_form", "credentials"]
    assert application["problems"] == [UNREADABLE_FORM]
    text = app.transport.sent[0].get_body(("plain",)).get_content()
    assert "扫描件" in text and "平台名称" not in text.split("已收到的材料")[0].split("二、")[-1][:5]


def test_absurd_numbers_become_row_problems_not_database_errors(app, tmp_path: Path) -> None:
    from fixtures.build_mail import XLSX, message, weekly_xlsx

    form = weekly_xlsx("广州市", [("广州某某公司", 99999999999999, "粤技通"), ("广州某某厂", 12, "粤技通")],
                       period="2020年2月17日——2月23日")
    raw = message("gzrsj@example.gov.cn", "广州市周报", datetime(2020, 2, 24, 9, 0, tzinfo=UTC), "见附件",
                  "<absurd@x>", [("周报.xlsx", form, XLSX)])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.eml").write_bytes(raw)
    report = ingest_paths(app, [tmp_path / "a"])
    assert report.processed == {"processed": 1}
    [weekly] = export_state(app.engine, require_stamped_form=False)["weekly_reports"]
    assert weekly["status"] == "needs_correction"
    assert [r["headcount"] for r in weekly["rows"]] == [None, 12]
    assert any("数值异常" in p for p in weekly["problems"])


def test_a_weekly_form_pasted_into_the_html_body_is_read(app, tmp_path: Path) -> None:
    table = ("<table border=1><tr><td colspan=4>企业职工线上适岗技能提升培训备案情况统计表</td></tr>"
             "<tr><td colspan=2>地市名称：广州市</td><td colspan=2>时间：2020年2月17日-23日</td></tr>"
             "<tr><td>序号</td><td>企业名称</td><td>备案人数</td><td>培训平台名称</td></tr>"
             "<tr><td>1</td><td>广州某某五金厂</td><td>66</td><td>南粤职培云</td></tr>"
             "<tr><td>合计</td><td></td><td>66</td><td></td></tr></table>")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "gzrsj@example.gov.cn", "zxjyck@163.com", "上周情况", "<b1@x>"
    m["Date"] = format_datetime(datetime(2020, 2, 24, 1, 0, tzinfo=UTC))
    m.set_content("见下表")
    m.add_alternative(f"<html><body><p>见下表</p>{table}<p>填报人：张三 联系电话：020-12345678</p></body></html>",
                      subtype="html")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "1.eml").write_bytes(m.as_bytes())
    ingest_paths(app, [tmp_path / "b"])
    doc = export_state(app.engine, require_stamped_form=False)
    [msg] = doc["messages"]
    assert (msg["kind"], msg["status"], msg["attachments"]) == ("weekly_report", "processed", [])
    [weekly] = doc["weekly_reports"]
    assert (weekly["status"], weekly["total_headcount"], weekly["filled_by"]) == ("accepted", 66, "张三")


def test_tables_in_ordinary_mail_change_nothing(app, tmp_path: Path) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "news@example.com", "zxjyck@163.com", "Newsletter", "<n1@x>"
    m.set_content("news")
    m.add_alternative("<table><tr><td>Price</td><td>10</td></tr></table>", subtype="html")
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "1.eml").write_bytes(m.as_bytes())
    ingest_paths(app, [tmp_path / "n"])
    doc = export_state(app.engine, require_stamped_form=False)
    assert doc["messages"][0]["kind"] == "other" and doc["weekly_reports"] == [] and doc["outbox"] == []
