"""The staff workbooks (openpyxl) from the stored week of test_digest.seed_week, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from ingest.app import App
from ingest.cli.main import main
from ingest.outputs.workbooks import WorkbookNotWritable, WorkbookRequestInvalid, export_workbook, sheet_title
from tests.test_digest import HOSTILE_ENTERPRISE, WEEK, seed_week

CITIES_REPORTED = ["广州市", "深圳市", "珠海市", "汕头市", "佛山市"]  # the notice's order


@pytest.fixture
def week_app(app: App) -> App:
    seed_week(app)
    return app


def values(ws, row: int, last_col: int | None = None) -> list:
    return [c.value for c in ws[row]][: last_col or ws.max_column]


@pytest.fixture
def week_book(week_app: App, tmp_path: Path) -> openpyxl.Workbook:
    path = export_workbook(week_app, tmp_path / "new" / "folder" / "week.xlsx", week=WEEK, applications=False)
    assert path == tmp_path / "new" / "folder" / "week.xlsx"
    assert [p.name for p in path.parent.iterdir()] == ["week.xlsx"]  # no temporary file left
    return openpyxl.load_workbook(path)


def test_week_workbook_sheets(week_book) -> None:
    assert week_book.sheetnames == ["汇总", "平台汇总", *CITIES_REPORTED]


def test_summary_sheet_has_every_city_and_a_totals_row(week_book) -> None:
    ws = week_book["汇总"]
    assert ws["A1"].value == "企业职工线上适岗技能提升培训备案情况统计表汇总（2020年2月17日—2月23日）"
    assert values(ws, 2) == ["序号", "地市", "状态", "逾期", "企业数", "备案人数", "收到时间", "填报人", "联系电话",
                             "问题"]
    assert values(ws, 3) == [1, "广州市", "已收到", "否", 3, 245, datetime(2020, 2, 24, 10, 2), "张三",
                             "020-12345678", None]
    assert values(ws, 4)[:7] == [2, "深圳市", "已收到", "是", 2, 300, datetime(2020, 2, 24, 17, 30)]
    assert values(ws, 5)[:6] == [3, "珠海市", "待更正", "否", 2, 30]
    assert values(ws, 5)[9] == "附件“周报.xlsx”第4行“备案人数”为空"
    assert values(ws, 6)[:6] == [4, "汕头市", "已收到", "是", 1, 10]
    assert values(ws, 7)[:6] == [5, "佛山市", "待人工核对", "否", 1, 60]
    assert values(ws, 8) == [6, "韶关市", "未报送", None, None, None, None, None, None, None]
    assert [ws.cell(row=r, column=2).value for r in range(3, 24)][-1] == "云浮市"
    # 合计 counts accepted reports only; the held (佛山市, 60) and to-be-corrected (珠海市, 30) are beside it
    assert values(ws, 24)[:6] == ["合计", None, "已报送5/21", "逾期2", 6, 555]
    assert values(ws, 25)[:6] == ["待核对/待更正", None, "2个市", None, 3, 90]
    assert ws["G3"].is_date and ws["G3"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["E24"].data_type == "n" and ws["F24"].data_type == "n"
    assert ws.freeze_panes == "C3"
    assert ws.column_dimensions["B"].width >= 10 and ws.column_dimensions["G"].width >= 17


def test_platform_totals_sorted_by_headcount(week_book) -> None:
    ws = week_book["平台汇总"]
    assert [values(ws, r) for r in range(1, ws.max_row + 1)] == [
        ["序号", "培训平台名称", "企业数", "备案人数"],
        # accepted reports only (珠海市 待更正 and 佛山市 待人工核对 are not counted)
        [1, "学习强国", 3, 295],
        [2, "粤培通线上学习平台", 2, 220],
        [3, "腾讯课堂", 1, 40],
        ["合计", None, 6, 555],
    ]
    assert ws.freeze_panes == "A2"


def test_city_sheet_follows_the_notice_layout(week_book) -> None:
    ws = week_book["广州市"]
    assert ws["A1"].value == "企业职工线上适岗技能提升培训备案情况统计表"
    assert "A1:D1" in {str(r) for r in ws.merged_cells.ranges}
    assert (ws["A2"].value, ws["C2"].value) == ("地市名称：广州市", "时间：2020年2月17日—2月23日")
    assert [values(ws, r, 4) for r in range(3, 8)] == [
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        [1, "广州市越秀科技有限公司", 120, "粤培通线上学习平台"],
        [2, "广州珠江制造有限公司", 85, "学习强国"],
        [3, "广州白云物流有限公司", 40, "腾讯课堂"],
        ["合计", None, 245, None],
    ]
    assert ws["A8"].value == "填报人：张三    联系电话：020-12345678"
    assert ws["A9"].value == "状态：已收到；收到时间：2020-02-24 10:02"
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["B"].width >= 24  # 11 CJK characters


def test_city_sheet_keeps_an_empty_headcount_empty_and_hostile_text_as_text(week_book) -> None:
    zh = week_book["珠海市"]
    assert values(zh, 4, 4) == [1, "珠海横琴物流有限公司", None, "腾讯课堂"]
    assert values(zh, 6, 4) == ["合计", None, 30, None]
    assert zh["A8"].value.startswith("状态：待更正；")
    fs = week_book["佛山市"]
    assert fs["B4"].value == HOSTILE_ENTERPRISE and fs["B4"].data_type == "s"  # never a formula


@pytest.fixture
def applications_book(week_app: App, tmp_path: Path) -> openpyxl.Workbook:
    path = export_workbook(week_app, tmp_path / "apps.xlsx", week=None, applications=True)
    return openpyxl.load_workbook(path)


def test_applications_sheet(applications_book) -> None:
    ws = applications_book["申报汇总"]
    assert applications_book.sheetnames == ["申报汇总", "培训项目"]
    header = values(ws, 1)
    assert header[:15] == ["序号", "平台名称", "网址", "机构名称", "统一社会信用代码", "信用代码校验", "联系人", "职务",
                           "联系电话", "电子邮箱", "通讯地址", "平台简介", "材料齐全", "缺少材料", "基本情况表问题"]
    first = dict(zip(header, values(ws, 2), strict=True))
    second = dict(zip(header, values(ws, 3), strict=True))
    assert (first["平台名称"], first["机构名称"], first["信用代码校验"], first["材料齐全"], first["缺少材料"]) == (
        "粤技通在线学习平台", "广东粤技通教育科技有限公司", "正确", "是", None)
    assert (first["联系人"], first["职务"], first["联系电话"], first["电子邮箱"]) == (
        "李四", "运营总监", "13800138000", "lisi@corp.example")
    assert first["首次收到"] == datetime(2020, 2, 24, 14, 0)
    assert (second["平台名称"], second["信用代码校验"], second["材料齐全"], second["缺少材料"], second["基本情况表问题"]) == (
        "云课堂", "有误", "否", "平台建设材料、平台运行材料、平台培训内容材料", "联系电话“123”格式不正确")
    assert ws.max_row == 3 and ws.freeze_panes == "C2"


def test_projects_sheet(applications_book) -> None:
    ws = applications_book["培训项目"]
    assert [values(ws, r) for r in range(1, ws.max_row + 1)] == [
        ["平台名称", "序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"],
        ["粤技通在线学习平台", 1, "电工技能提升", "电工", "线上", 48, "考试", "自有", "免费"],
        ["粤技通在线学习平台", 2, "焊工安全培训", "电工", "线上", 32, "考试", "自有", "免费"],
        ["云课堂", 1, "客服礼仪", "电工", "线上", None, "考试", "自有", "免费"],
    ]
    assert ws["F2"].data_type == "n"


def test_empty_week_lists_every_city_missing(app: App, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(export_workbook(app, tmp_path / "w.xlsx", week=date(2020, 3, 2),
                                                  applications=False))
    assert book.sheetnames == ["汇总", "平台汇总"]
    ws = book["汇总"]
    assert [ws.cell(row=r, column=3).value for r in range(3, 24)] == ["未报送"] * 21
    assert values(ws, 24)[:6] == ["合计", None, "已报送0/21", "逾期0", 0, 0]
    assert values(book["平台汇总"], 2) == ["合计", None, 0, 0]


def test_export_replaces_an_existing_file(week_app: App, tmp_path: Path) -> None:
    out = tmp_path / "week.xlsx"
    out.write_bytes(b"old")
    export_workbook(week_app, out, week=WEEK, applications=False)
    assert openpyxl.load_workbook(out).sheetnames[0] == "汇总"


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_unwritable_path_is_a_clear_error(app: App, tmp_path: Path, where: str) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "plain.txt").write_text("x")
    (folder / "dir.xlsx").mkdir()
    out = folder / "plain.txt" / "week.xlsx" if where == "under_a_file" else folder / "dir.xlsx"
    with pytest.raises(WorkbookNotWritable, match=str(out)):
        export_workbook(app, out, week=WEEK, applications=False)
    assert sorted(p.name for p in folder.iterdir()) == ["dir.xlsx", "plain.txt"]  # nothing left behind


@pytest.mark.parametrize(("week", "applications", "message"), [
    (date(2020, 2, 18), False, "not a Monday"),
    (None, False, "either a week"),
    (WEEK, True, "either a week"),
])
def test_bad_requests(app: App, tmp_path: Path, week, applications: bool, message: str) -> None:
    with pytest.raises(WorkbookRequestInvalid, match=message):
        export_workbook(app, tmp_path / "x.xlsx", week=week, applications=applications)


@pytest.mark.parametrize(("name", "taken", "expected"), [
    ("广州市", set(), "广州市"),
    ("a/b:c*d?e[f]g\\h", set(), "a_b_c_d_e_f_g_h"),
    ("x" * 40, set(), "x" * 31),
    ("汇总", {"汇总"}, "汇总(2)"),
    ("x" * 40, {"x" * 31}, "x" * 28 + "(2)"),
    ("'quoted'", set(), "quoted"),
    ("", set(), "Sheet"),
])
def test_sheet_title(name: str, taken: set[str], expected: str) -> None:
    assert sheet_title(name, set(taken)) == expected


# ---------------------------------------------------------------- command line


def test_cli_export_week(week_app: App, config_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "exports" / "2020-02-17.xlsx"
    rc = main(["--config", str(config_path), "export", "--format", "xlsx", "--week", "2020-02-17",
               "--out", str(out)])
    assert rc == 0
    assert str(out) in capsys.readouterr().out
    ws = openpyxl.load_workbook(out)["汇总"]
    assert values(ws, 3)[:6] == [1, "广州市", "已收到", "否", 3, 245]
    assert values(ws, 24)[4:6] == [6, 555]


def test_cli_export_applications(week_app: App, config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "apps.xlsx"
    assert main(["--config", str(config_path), "export", "--format", "xlsx", "--applications",
                 "--out", str(out)]) == 0
    assert openpyxl.load_workbook(out)["申报汇总"]["B2"].value == "粤技通在线学习平台"


def test_cli_export_to_an_unwritable_path(app: App, config_path: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "plain.txt").write_text("x")
    rc = main(["--config", str(config_path), "export", "--format", "xlsx", "--week", "2020-02-17",
               "--out", str(tmp_path / "plain.txt" / "w.xlsx")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "cannot create the workbook" in err and "Traceback" not in err
