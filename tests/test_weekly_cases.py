"""Weeks as cities really report them: zero reports, hidden sheets, forms inside text frames.

The files in fixtures/attachments/weekly_cases were written by LibreOffice (Calc and Writer, headless) and in
WPS's package layout (fixtures/build_weekly_cases.py); here they are read by the parsers, then mailed and
ingested through the real pipeline.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.build_mail import XLSX, message
from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.outputs.week_status import week_summary
from ingest.pipeline.analyse import InProcessAnalyzer
from notify.transport import MemoryTransport
from parsers.formats.reader import read_document
from parsers.weekly import parse_weekly, parse_weekly_by_city
from store.db import session_scope
from tests.campaign_mail import address, config_21, deliver, received
from tests.conftest import FIXTURES
from tests.form_builders import doc, table

CASES = FIXTURES / "attachments" / "weekly_cases"
MAIL_DAY = dt.date(2020, 2, 24)
WEEK = dt.date(2020, 2, 17)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLS = "application/vnd.ms-excel"


def read(name: str):
    document = read_document((CASES / name).read_bytes(), name)
    return document, parse_weekly_by_city(document, MAIL_DAY)


@pytest.mark.parametrize(("name", "city"), [
    ("zero_libreoffice.xlsx", "韶关市"), ("zero_libreoffice.xls", "韶关市"),
    ("zero_wps_handmade.xlsx", "清远市"), ("zero_libreoffice.docx", "梅州市"),
])
def test_a_merged_zero_row_is_read_as_a_statement_of_zero(name: str, city: str) -> None:
    _document, reports = read(name)
    [report] = reports
    assert (report.city, report.week_start, report.rows) == (city, WEEK, [])
    assert report.zero_statement == "本周无新增"
    assert report.problems == []


def test_a_blank_template_states_nothing_and_is_told_how_to_report_zero() -> None:
    _document, [report] = read("blank_template_libreoffice.xlsx")
    assert (report.city, report.rows, report.zero_statement) == ("河源市", [], "")
    assert len(report.problems) == 1 and "报零" in report.problems[0] and "本周无新增备案企业" in report.problems[0]


@pytest.mark.parametrize(("name", "note"), [
    ("hidden_sheet_libreoffice.xlsx", "工作表“上周”为隐藏工作表，未作为报表读取 / hidden sheet not read"),
    ("hidden_sheet_libreoffice.xls", "工作表“上周”为隐藏工作表，未作为报表读取 / hidden sheet not read"),
    ("very_hidden_sheet_openpyxl.xlsx", "工作表“上周”为深度隐藏工作表，未作为报表读取 / very hidden sheet not read"),
])
def test_hidden_sheets_are_not_read_and_say_so(name: str, note: str) -> None:
    document, reports = read(name)
    assert [t.source for t in document.tables] == ["sheet '2月17日-2月23日'"]
    assert document.notes == [note] and document.problems == []
    assert [(r.city, r.week_start, [x.headcount for x in r.rows]) for r in reports] == [("佛山市", WEEK, [60, 25])]


@pytest.mark.parametrize(("name", "city", "counts"), [
    ("frame_libreoffice.docx", "湛江市", [70, 30]), ("textbox_wps.docx", "茂名市", [45]),
])
def test_a_table_inside_a_text_frame_is_read(name: str, city: str, counts: list[int]) -> None:
    document, [report] = read(name)
    assert len(document.tables) == 1  # the DrawingML frame's VML copy (mc:Fallback) is not read twice
    assert (report.city, report.week_start, [r.headcount for r in report.rows]) == (city, WEEK, counts)
    assert report.problems == [] and report.filled_by


FORM_TITLE = "企业职工线上适岗技能提升培训备案情况统计表"


def _grid(*lines: list[str]) -> list[list[str]]:
    return [[FORM_TITLE, "", "", ""], ["地市名称：阳江市  时间：2020年2月17日-2月23日", "", "", ""],
            ["序号", "企业名称", "备案人数", "培训平台名称"], *lines]


@pytest.mark.parametrize(("lines", "statement"), [
    ([["1", "无", "", ""]], "无"),
    ([["", "无", "0", "无"], ["合计", "", "0", ""]], "无"),
    ([["合计", "", "0", ""]], "合计 0"),
    ([["1", "", "", ""], ["合计", "", "0", ""], ["备注：本周零报告", "", "", ""]], "零报告"),
    ([["本周无新增备案企业", "本周无新增备案企业", "本周无新增备案企业", "本周无新增备案企业"]], "本周无新增"),
])
def test_the_ways_a_form_states_zero(lines: list[list[str]], statement: str) -> None:
    report = parse_weekly(doc(table(_grid(*lines))), MAIL_DAY)
    assert (report.rows, report.zero_statement, report.problems) == ([], statement, [])


def test_rows_with_figures_are_never_a_zero_report_whatever_a_note_says() -> None:
    report = parse_weekly(doc(table(_grid(["1", "阳江甲公司", "12", "粤学通"], ["合计", "", "12", ""],
                                          ["备注：无新增的区不填", "", "", ""]))), MAIL_DAY)
    assert ([r.headcount for r in report.rows], report.zero_statement) == ([12], "")


@pytest.mark.parametrize("name", ["very_hidden_sheet_openpyxl.xlsx", "zero_libreoffice.xlsx", "textbox_wps.docx"])
def test_the_sandboxed_worker_gives_the_same_notes_and_zero_statements(name: str) -> None:
    from parsers.analysis import analyze_attachment
    from parsers.sandbox import Sandbox

    data = (CASES / name).read_bytes()
    with Sandbox() as sandbox:
        child = sandbox.analyze(data, name, MAIL_DAY)
    here = analyze_attachment(data, name, MAIL_DAY)
    assert (child.notes, child.weekly) == (here.notes, here.weekly)
    assert child.weekly is not None


# ---------------------------------------------------------------- through the pipeline


@pytest.fixture
def app(tmp_path: Path, store_url: str, make_app, clock):
    clock.value = datetime(2020, 2, 24, 9, 0, tzinfo=UTC)  # Monday 17:00 Asia/Shanghai
    app = make_app(load_settings(config_21(tmp_path, store_url), environ={}))
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    return app


def _mail(city: str, name: str, ctype: str, subject: str, n: int, body: str = "请查收。") -> bytes:
    return message(address(city), subject, received(WEEK), body, f"<case{n}@example.gov.cn>",
                   [(name, (CASES / name).read_bytes(), ctype)])


def test_zero_reports_are_accepted_on_time_with_a_receipt_and_count_as_zero(app, tmp_path: Path) -> None:
    deliver(app, tmp_path / "in", {
        "1.eml": _mail("韶关市", "zero_libreoffice.xlsx", XLSX, "韶关市2月17日-23日周报", 1),
        "2.eml": _mail("清远市", "zero_wps_handmade.xlsx", XLSX, "清远市周报", 2),
        "3.eml": _mail("梅州市", "zero_libreoffice.docx", DOCX, "梅州市周报", 3),
        "4.eml": _mail("河源市", "blank_template_libreoffice.xlsx", XLSX, "河源市周报", 4),
        # no form at all, only the statement in the subject
        "6.eml": message(address("云浮市"), "云浮市2月17日-2月23日报零", received(WEEK), "本周无新增备案企业。",
                         "<case6@example.gov.cn>"),
    })
    state = export_state(app.engine)
    reports = {r["city"]: r for r in state["weekly_reports"]}
    for city in ("韶关市", "清远市", "梅州市", "云浮市"):
        r = reports[city]
        assert (r["status"], r["late"], r["week_start"], r["rows"], r["total_headcount"]) == (
            "accepted", False, "2020-02-17", [], 0), city
        assert r["on_time"] is True and r["flags"] == [] and r["zero_report"] is True
    assert reports["河源市"]["status"] == "needs_correction" and reports["河源市"]["zero_report"] is False
    receipts = [o for o in state["outbox"] if o["kind"] == "receipt"]
    assert sorted(o["to"][0] for o in receipts) == sorted(address(c) for c in ("韶关市", "清远市", "梅州市", "云浮市"))
    [correction] = [o for o in state["outbox"] if o["kind"] == "correction_request"]
    assert correction["to"] == [address("河源市")]
    sent = {m["To"]: m for m in app.transport.sent}
    body = sent[address("河源市")].get_body(("plain",)).get_content()
    assert "报零" in body and "本周无新增备案企业" in body
    receipt = sent[address("韶关市")].get_body(("plain",)).get_content()
    assert "报零" in receipt and "0人" in receipt
    with session_scope(app.engine) as session:
        summary = week_summary(session, WEEK, app.settings.schedule.calendar().tz)
    assert summary.reported == 5 and summary.total_headcount == 0 and summary.total_enterprises == 0
    assert [c.city for c in summary.counted] == ["韶关市", "梅州市", "清远市", "云浮市"]


def test_a_blank_template_in_a_mail_saying_zero_is_a_report_of_zero(app, tmp_path: Path) -> None:
    deliver(app, tmp_path / "in", {"1.eml": _mail("河源市", "blank_template_libreoffice.xlsx", XLSX,
                                                  "河源市本周报零", 1, body="本周无新增。")})
    [report] = export_state(app.engine)["weekly_reports"]
    assert (report["city"], report["status"], report["total_headcount"], report["zero_report"], report["on_time"]) == (
        "河源市", "accepted", 0, True, True)
    assert report["problems"] == []


def test_a_hidden_sheet_is_not_a_second_report_and_show_says_why(app, tmp_path: Path, capsys, monkeypatch) -> None:
    deliver(app, tmp_path / "in", {
        "1.eml": _mail("佛山市", "hidden_sheet_libreoffice.xlsx", XLSX, "佛山市周报", 1),
        "2.eml": _mail("湛江市", "frame_libreoffice.docx", DOCX, "湛江市周报", 2),
        "3.eml": _mail("茂名市", "textbox_wps.docx", DOCX, "茂名市周报", 3),
    })
    state = export_state(app.engine)
    by_city = {}
    for r in state["weekly_reports"]:
        by_city.setdefault(r["city"], []).append(r)
    assert [(r["week_start"], r["total_headcount"], r["late"]) for r in by_city["佛山市"]] == [("2020-02-17", 85, False)]
    assert [(r["status"], r["total_headcount"]) for r in by_city["湛江市"]] == [("accepted", 100)]
    assert [(r["status"], r["total_headcount"]) for r in by_city["茂名市"]] == [("accepted", 45)]
    assert not [o for o in state["outbox"] if o["kind"] == "correction_request"]
    foshan = next(m for m in state["messages"] if m["city"] == "佛山市")
    monkeypatch.setenv("COLUMNS", "300")  # one line per attachment
    assert main(["--config", str(app.settings.path), "show", str(foshan["id"])]) == 0
    flat = re.sub(r"[\s│┃|]", "", capsys.readouterr().out)  # the table wraps long cells
    assert "工作表“上周”为隐藏工作表，未作为报表读取" in flat
    assert "周报weeklyreport:佛山市2020-02-17–2020-02-23accepted,85人（周报编号report" in flat


def test_a_form_only_on_a_hidden_sheet_is_sent_back_saying_so(app, tmp_path: Path) -> None:
    import io

    import openpyxl

    book = openpyxl.load_workbook(CASES / "hidden_sheet_libreoffice.xlsx")
    del book["2月17日-2月23日"]  # only last week's hidden sheet and an empty visible one are left
    book.create_sheet("Sheet1", 0)
    buf = io.BytesIO()
    book.save(buf)
    raw = message(address("佛山市"), "佛山市周报", received(WEEK), "请查收。", "<hidden-only@example.gov.cn>",
                  [("佛山市周报.xlsx", buf.getvalue(), XLSX)])
    deliver(app, tmp_path / "in", {"1.eml": raw})
    state = export_state(app.engine)
    assert [r["status"] for r in state["weekly_reports"]] == ["needs_correction"]
    body = app.transport.sent[0].get_body(("plain",)).get_content()
    assert "工作表“上周”为隐藏工作表，未作为报表读取；如统计表在该工作表中，请取消隐藏后重新发送" in body
