"""What a mail's attachments lead to: several cities' forms, a password-protected form.

Through the whole pipeline (decode, analyse, classify, store, outbox) on both stores.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
import xlsxwriter

from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.reminders import deliver
from ingest.workflows.staff import replay
from notify.transport import MemoryTransport
from tests.conftest import CITIES_TOML, write_config

WRITERS = Path(__file__).resolve().parent.parent / "fixtures" / "attachments" / "writers"
SENT_AT = datetime(2020, 2, 24, 2, 2, 15, tzinfo=UTC)  # Monday 10:02 Asia/Shanghai, before the deadline
ROWS = {
    "广州市": [("广州市越秀科技有限公司", 120, "粤培通线上学习平台"), ("广州珠江制造有限公司", 85, "学习强国")],
    "深圳市": [("深圳南山电子有限公司", 300, "腾讯课堂"), ("深圳宝安物流有限公司", 150, "学习强国")],
}


def weekly_workbook(city: str, rows: list[tuple[str, int, str]], period: str = "2月17日——2月23日") -> bytes:
    """The weekly form in Excel's layout (shared strings, a SUM formula with its cached total)."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("备案情况")
    ws.merge_range(0, 0, 0, 3, "企业职工线上适岗技能提升培训备案情况统计表")
    ws.merge_range(1, 0, 1, 3, f"地市名称：{city}  时间：{period}")
    ws.write_row(2, 0, ["序号", "企业名称", "备案人数", "培训平台名称"])
    for n, (enterprise, headcount, platform) in enumerate(rows, start=1):
        ws.write_row(2 + n, 0, [n, enterprise, headcount, platform])
    last = 3 + len(rows)
    ws.write(last, 0, "合计")
    ws.write_formula(last, 2, f"=SUM(C4:C{last})", None, sum(r[1] for r in rows))
    ws.merge_range(last + 1, 0, last + 1, 3, "填报人：张三 联系电话：020-12345678")
    wb.close()
    return buf.getvalue()


def mail(sender: str, subject: str, files: dict[str, bytes], message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "zxjyck@163.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(SENT_AT.astimezone())
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("各位好，附件是本周的统计表，请查收。")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


@pytest.fixture
def app(app, clock):
    clock.value = datetime(2020, 2, 24, 9, 0, tzinfo=UTC)
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    return app


def ingest(app, tmp_path: Path, raw: bytes) -> dict:
    folder = tmp_path / f"in-{len(list(tmp_path.glob('in-*')))}"
    folder.mkdir()
    (folder / "m.eml").write_bytes(raw)
    ingest_paths(app, [folder])
    return export_state(app.engine)


def rows_of(report: dict) -> list[tuple]:
    return [(r["enterprise"], r["headcount"], r["platform"]) for r in report["rows"]]


def test_another_citys_form_is_held_for_staff_not_dropped(app, tmp_path: Path) -> None:
    raw = mail("gzrsj@example.gov.cn", "广州市、深圳市周报",
               {"广州周报.xlsx": weekly_workbook("广州市", ROWS["广州市"]),
                "深圳周报.xlsx": weekly_workbook("深圳市", ROWS["深圳市"])}, "two-cities@example.gov.cn")
    doc = ingest(app, tmp_path, raw)
    reports = {r["city"]: r for r in doc["weekly_reports"]}
    assert set(reports) == {"广州市", "深圳市"}
    gz, sz = reports["广州市"], reports["深圳市"]
    assert (gz["status"], rows_of(gz), gz["total_headcount"]) == ("accepted", ROWS["广州市"], 205)
    assert (sz["status"], rows_of(sz), sz["total_headcount"]) == ("needs_review", ROWS["深圳市"], 450)
    held = ("同一封邮件含2个地市的统计表；发件人 gzrsj@example.gov.cn 不是深圳市登记的报送邮箱，"
            "深圳市的统计表（附件“深圳周报.xlsx”）已暂存待工作人员确认 "
            "/ one of 2 cities' forms in this mail; the sender is not registered for 深圳市")
    assert sz["problems"] == [held]
    [message] = doc["messages"]
    assert message["status"] == "needs_review"  # staff must decide on the held form
    assert message["problems"] == [held]
    assert [(o["kind"], o["to"]) for o in doc["outbox"]] == [("receipt", ["gzrsj@example.gov.cn"])]
    again = replay(app, ids=[1])  # replay gives the same end state: no third report, no second receipt
    assert again == {1: "needs_review"}
    doc = export_state(app.engine)
    assert sorted(r["city"] for r in doc["weekly_reports"]) == ["广州市", "深圳市"]
    assert len(doc["outbox"]) == 1


def test_an_address_registered_for_two_cities_gets_two_reports(make_app, tmp_path: Path, clock) -> None:
    cities = CITIES_TOML.replace('"深圳市" = [', '"深圳市" = ["zhuanban@example.gov.cn", ').replace(
        '"广州市" = [', '"广州市" = ["zhuanban@example.gov.cn", ')
    settings = load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db", cities=cities), environ={})
    clock.value = datetime(2020, 2, 24, 9, 0, tzinfo=UTC)
    app = make_app(settings)
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    raw = mail("zhuanban@example.gov.cn", "周报", {"广州.xlsx": weekly_workbook("广州市", ROWS["广州市"]),
                                                "深圳.xlsx": weekly_workbook("深圳市", ROWS["深圳市"])}, "both@x")
    doc = ingest(app, tmp_path, raw)
    assert sorted((r["city"], r["status"]) for r in doc["weekly_reports"]) == [
        ("广州市", "accepted"), ("深圳市", "accepted")]
    assert doc["messages"][0]["status"] == "processed"
    deliver(app)
    bodies = sorted(m.get_body(("plain",)).get_content() for m in app.transport.sent)
    assert len(bodies) == 2
    assert "深圳市" in bodies[0] + bodies[1] and "广州市" in bodies[0] + bodies[1]


def test_same_form_as_xlsx_and_as_pdf_is_one_report(app, tmp_path: Path) -> None:
    raw = mail("gzrsj@example.gov.cn", "广州市周报",
               {"附件2.xlsx": (WRITERS / "weekly_xlsxwriter.xlsx").read_bytes(),
                "附件2.pdf": (WRITERS / "weekly_libreoffice.pdf").read_bytes()}, "xlsx-and-pdf@x")
    doc = ingest(app, tmp_path, raw)
    [report] = doc["weekly_reports"]
    assert (report["city"], report["status"], report["total_headcount"]) == ("广州市", "accepted", 245)
    assert doc["messages"][0]["problems"] == []


def test_two_different_forms_of_one_city_and_week_are_named(app, tmp_path: Path) -> None:
    longer = [*ROWS["广州市"], ("广州番禺食品有限公司", 12, "腾讯课堂")]
    raw = mail("gzrsj@example.gov.cn", "广州市周报", {"旧.xlsx": weekly_workbook("广州市", ROWS["广州市"]),
                                                  "新.xlsx": weekly_workbook("广州市", longer)}, "two-versions@x")
    doc = ingest(app, tmp_path, raw)
    [report] = doc["weekly_reports"]
    assert (report["status"], rows_of(report)) == ("accepted", longer)
    assert doc["messages"][0]["problems"] == [
        "附件“旧.xlsx”与附件“新.xlsx”同为广州市同一周的统计表，内容不同，已按行数较多的附件“新.xlsx”登记，请工作人员核对"]


def test_two_weeks_of_one_city_in_one_mail_are_two_reports(app, tmp_path: Path) -> None:
    raw = mail("gzrsj@example.gov.cn", "广州市补报两周周报",
               {"第一周.xlsx": weekly_workbook("广州市", ROWS["广州市"], "2月10日——2月16日"),
                "第二周.xlsx": weekly_workbook("广州市", ROWS["广州市"][:1])}, "two-weeks@x")
    doc = ingest(app, tmp_path, raw)
    weeks = sorted((r["week_start"], r["status"], r["total_headcount"]) for r in doc["weekly_reports"])
    assert weeks == [("2020-02-10", "accepted", 205), ("2020-02-17", "accepted", 120)]


def test_password_protected_form_is_named_in_the_notice_and_in_show(app, tmp_path: Path, config_path: Path,
                                                                   capsys) -> None:
    raw = mail("gzrsj@example.gov.cn", "广州市周报", {"广州周报.xlsx": (WRITERS / "weekly_encrypted.xlsx").read_bytes()},
               "encrypted@x")
    doc = ingest(app, tmp_path, raw)
    sentence = "附件“广州周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送"
    [report] = doc["weekly_reports"]
    assert report["status"] == "needs_correction"
    assert doc["messages"][0]["problems"] == [sentence]
    deliver(app)
    [notice] = app.transport.sent
    assert "设置了密码" in notice.get_body(("plain",)).get_content()
    assert "广州周报.xlsx" in notice.get_body(("plain",)).get_content()
    assert main(["--config", str(config_path), "show", "1"]) == 0
    shown = capsys.readouterr().out.replace("\n", "").replace(" ", "").replace("│", "")
    assert "设置了密码（已加密）" in shown


# ---------------------------------------------------------------- limits that drop content name themselves
def many_pages_pdf(pages: int) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for n in range(pages):
        pdf.drawString(72, 720, f"Platform operation report, page {n + 1}")
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def digest_text(app, capsys) -> str:
    from datetime import date

    from ingest.outputs.digest import build_digest, render_digest

    _subject, text, _html = render_digest(build_digest(app, date(2020, 2, 25)))
    return text


def test_a_form_past_the_mime_part_limit_is_named_as_the_reason(app, tmp_path: Path, capsys) -> None:
    msg = EmailMessage()
    msg["From"] = "gzrsj@example.gov.cn"
    msg["To"] = "zxjyck@163.com"
    msg["Subject"] = "材料"
    msg["Date"] = format_datetime(SENT_AT)
    msg["Message-ID"] = "<parts@example.gov.cn>"
    msg.set_content("附件")
    for n in range(4999):
        msg.add_attachment(b"x", maintype="text", subtype="plain", filename=f"{n}.txt")
    msg.add_attachment(weekly_workbook("广州市", ROWS["广州市"]), maintype="application",
                       subtype="octet-stream", filename="广州周报.xlsx")
    doc = ingest(app, tmp_path, msg.as_bytes())
    [message] = doc["messages"]
    limit = ("邮件超过 500 个 MIME 部分的上限，其余 4502 个部分（其中 4502 个附件）未读取，待工作人员核对 "
             "/ over the 500-part limit: 4502 more parts (4502 files) not read")
    assert message["status"] == "needs_review"
    assert message["problems"][0] == limit
    assert len(message["attachments"]) == 498
    digest = digest_text(app, capsys)
    assert limit.split(" / ")[0] in digest and "over the 500-part limit" not in digest  # staff read Chinese only


def test_a_pdf_over_the_page_limit_is_named_on_the_message_and_to_staff(app, tmp_path: Path, capsys) -> None:
    raw = mail("gzrsj@example.gov.cn", "广州市周报", {"广州周报.xlsx": weekly_workbook("广州市", ROWS["广州市"]),
                                                  "运行报告.pdf": many_pages_pdf(301)}, "pages@x")
    doc = ingest(app, tmp_path, raw)
    [report] = doc["weekly_reports"]
    assert report["status"] == "accepted"  # the form itself was read in full
    [message] = doc["messages"]
    limit = "附件“运行报告.pdf”PDF 页数过多（共 301 页，上限 300 页），未予读取，请精简或拆分后重新发送"
    assert (message["status"], message["problems"]) == ("needs_review", [limit])
    assert limit in digest_text(app, capsys)


def test_columns_past_the_limit_are_named(app, tmp_path: Path) -> None:
    from parsers.analysis import analyze_attachment
    from parsers.formats.limits import Limits

    data = weekly_workbook("广州市", ROWS["广州市"])
    result = analyze_attachment(data, "周报.xlsx", SENT_AT.date(), Limits(max_columns=3), converter=None)
    note = "附件“周报.xlsx”工作表“备案情况”第 3 列以后的内容未读取（超过 3 列的上限） / columns after 3 not read"
    assert result.limited == [note] and note in result.problems


# ---------------------------------------------------------------- one workbook, a sheet per city
def workbook_of_sheets(sheets: dict[str, tuple[str, list[tuple[str, int, str]]]]) -> bytes:
    """One workbook, one sheet per form: {sheet name: (city, rows)}."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    for name, (city, rows) in sheets.items():
        ws = wb.add_worksheet(name)
        ws.write(0, 0, "企业职工线上适岗技能提升培训备案情况统计表")
        ws.write(1, 0, f"地市名称：{city}  时间：2月17日——2月23日")
        ws.write_row(2, 0, ["序号", "企业名称", "备案人数", "培训平台名称"])
        for n, row in enumerate(rows, start=1):
            ws.write_row(2 + n, 0, [n, *row])
        ws.write_row(3 + len(rows), 0, ["合计", "", sum(r[1] for r in rows)])
    wb.close()
    return buf.getvalue()


def test_a_sheet_per_city_gives_a_report_per_city() -> None:
    from parsers.analysis import analyze_attachment

    data = workbook_of_sheets({"广州": ("广州市", ROWS["广州市"]), "深圳": ("深圳市", ROWS["深圳市"])})
    result = analyze_attachment(data, "两市周报.xlsx", SENT_AT.date(), converter=None)
    found = [result.weekly, *result.more_weekly]
    assert [(r.city, r.source, [(x.enterprise, x.headcount) for x in r.rows], r.problems) for r in found] == [
        ("广州市", "sheet '广州'", [(e, h) for e, h, _p in ROWS["广州市"]], []),
        ("深圳市", "sheet '深圳'", [(e, h) for e, h, _p in ROWS["深圳市"]], []),
    ]


def test_two_sheets_of_one_city_and_week_stay_one_form_with_a_problem() -> None:
    from parsers.analysis import analyze_attachment

    data = workbook_of_sheets({"原表": ("广州市", ROWS["广州市"][:1]), "修改后": ("广州市", ROWS["广州市"])})
    result = analyze_attachment(data, "周报.xlsx", SENT_AT.date(), converter=None)
    assert result.more_weekly == []
    assert result.weekly.source == "sheet '修改后'"
    assert result.weekly.problems == ["文件中另有1个表格含备案数据（sheet '原表'），只读取了“sheet '修改后'”"]


def test_a_workbook_with_two_cities_sheets_through_the_pipeline(app, tmp_path: Path) -> None:
    data = workbook_of_sheets({"广州": ("广州市", ROWS["广州市"]), "深圳": ("深圳市", ROWS["深圳市"])})
    doc = ingest(app, tmp_path, mail("gzrsj@example.gov.cn", "周报", {"两市周报.xlsx": data}, "sheets@x"))
    assert sorted((r["city"], r["status"], r["total_headcount"]) for r in doc["weekly_reports"]) == [
        ("广州市", "accepted", 205), ("深圳市", "needs_review", 450)]
    assert "深圳市的统计表（附件“两市周报.xlsx”）已暂存待工作人员确认" in doc["messages"][0]["problems"][0]


def test_password_protected_form_of_a_held_message_is_named_to_staff(app, tmp_path: Path, capsys) -> None:
    """An application whose only form has a password: too unsure to answer, but staff see why."""
    raw = mail("lisi@yuejitong.example.cn", "职业技能提升行动线上培训平台申报材料",
               {"附件1基本情况表.docx": (WRITERS / "application_encrypted.docx").read_bytes()}, "app-encrypted@x")
    doc = ingest(app, tmp_path, raw)
    sentence = "附件“附件1基本情况表.docx”设置了密码（已加密），无法读取，请去掉密码后重新发送"
    [message] = doc["messages"]
    assert message["status"] == "needs_review"
    assert message["problems"] == ["分类把握不足（0.45），需人工确认 / low classification confidence", sentence]
    assert sentence in digest_text(app, capsys)
