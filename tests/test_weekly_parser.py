"""parse_weekly on realistic grids: the shapes cities really send."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

from parsers.weekly import WeeklyReportData, WeeklyRowData, parse_headcount, parse_weekly
from tests.form_builders import doc, merged, table

MAIL = dt.date(2020, 2, 24)
TITLE = "企业职工线上适岗技能提升培训备案情况统计表"


def R(n: int, enterprise: str, headcount: int | None, platform: str, raw: str, *problems: str) -> WeeklyRowData:
    return WeeklyRowData(n, enterprise, headcount, platform, raw, list(problems))


def test_standard_template_xlsx() -> None:
    grid = [
        ["附件2", "", "", ""],
        merged(TITLE, 4),
        merged("地市名称：广州市    时间：2月17日-2月23日", 4),
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "广州市某某科技有限公司", "120", "粤学通"],
        ["2", "广州某某物流有限公司（番禺分公司）", "35", "中国职业培训在线"],
        ["3", "广州某某餐饮管理有限公司", "8", "粤学通"],
        ["合计", "合计", "163", ""],
        ["填报人：张三", "填报人：张三", "联系电话：020-83331234", "联系电话：020-83331234"],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report == WeeklyReportData(
        city="广州市",
        week_start=dt.date(2020, 2, 17),
        week_end=dt.date(2020, 2, 23),
        period_text="2月17日-2月23日",
        filled_by="张三",
        phone="020-83331234",
        rows=[
            R(5, "广州市某某科技有限公司", 120, "粤学通", "120"),
            R(6, "广州某某物流有限公司（番禺分公司）", 35, "中国职业培训在线", "35"),
            R(7, "广州某某餐饮管理有限公司", 8, "粤学通", "8"),
        ],
        declared_total=163,
        problems=[],
        source="sheet 'Sheet1'",
    )


def test_spaced_labels_reordered_columns_no_seq_and_neighbour_cells() -> None:
    grid = [
        ["", "", "", ""],
        ["", "", "", ""],
        [TITLE, "", "", ""],
        ["地市名称", "深圳", "时间", "2020.2.17-2.23"],
        ["企\u3000业\u3000名\u3000称", "培训\n平台", "备案人数\n（人）", "备注"],
        ["深圳市甲科技有限公司", "学习强国", "1,200", ""],
        ["", "", "", ""],
        ["深圳市乙电子有限公司", "腾讯课堂", "１２０", "新增"],
        ["深圳市丙实业有限公司", "网易云课堂", " 45人 ", ""],
        ["", "", "", ""],
        ["填表人：李四", "", "手机：13912345678", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert (report.city, report.week_start, report.week_end, report.period_text) == (
        "深圳市", dt.date(2020, 2, 17), dt.date(2020, 2, 23), "2020.2.17-2.23")
    assert (report.filled_by, report.phone) == ("李四", "13912345678")
    assert report.rows == [
        R(6, "深圳市甲科技有限公司", 1200, "学习强国", "1,200"),
        R(8, "深圳市乙电子有限公司", 120, "腾讯课堂", "１２０"),
        R(9, "深圳市丙实业有限公司", 45, "网易云课堂", "45人"),
    ]
    assert report.declared_total is None
    assert report.problems == []


def test_city_from_bureau_name_two_line_header_subtotals_and_row_problems() -> None:
    grid = [
        merged("附件2", 5),
        merged(TITLE, 5),
        ["填报单位：佛山市人力资源和社会保障局（盖章）", "", "", "统计时间：2020年2月17日至23日", ""],
        ["序号", "企业名称（全称）", "备案情况", "备案情况", "备注"],
        ["", "", "培训人数", "培训平台", ""],
        ["1", "佛山市顺德区某电器有限公司", "300.0", "粤学通", ""],
        ["2", "佛山某陶瓷有限公司", "", "粤学通", "人数待定"],
        ["3", "佛山某五金厂", "约一百", "", ""],
        ["小计", "", "300", "", ""],
        ["4", "", "12", "中国职业培训在线", ""],
        ["5", "", "", "", ""],
        ["总计", "", "312", "", ""],
        ["注：1.备案人数以平台导出数据为准。", "", "", "", ""],
    ]
    report = parse_weekly(doc(table(grid, "sheet '备案统计'")), MAIL)
    assert report is not None
    assert report.city == "佛山市"
    assert (report.week_start, report.week_end, report.period_text) == (
        dt.date(2020, 2, 17), dt.date(2020, 2, 23), "2020年2月17日至23日")
    assert report.rows == [
        R(6, "佛山市顺德区某电器有限公司", 300, "粤学通", "300.0"),
        R(7, "佛山某陶瓷有限公司", None, "粤学通", "", "第7行“备案人数”为空"),
        R(8, "佛山某五金厂", None, "", "约一百", "第8行“备案人数”无法识别：“约一百”", "第8行“培训平台名称”为空"),
        R(10, "", 12, "中国职业培训在线", "12", "第10行“企业名称”为空"),
    ]
    assert report.declared_total == 312
    assert report.filled_by == ""
    assert report.phone == ""
    assert report.problems == []
    assert report.source == "sheet '备案统计'"


def test_docx_title_and_signature_in_running_text() -> None:
    text = (
        "附件2\n"
        f"{TITLE}\n"
        "地市名称（盖章）：东莞市          时间：2020年2月17日-2020年2月23日\n"
        "序号 企业名称 备案人数 培训平台名称\n"
        "1 东莞某某电子有限公司 56 粤学通\n"
        "填报人：王五      联系电话：0769-22223333\n"
    )
    grid = [
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "东莞某某电子有限公司", "56", "粤学通"],
        ["2", "广州某分公司东莞办事处", "4", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid, "table 1"), text=text, fmt="docx"), MAIL)
    assert report is not None
    assert (report.city, report.filled_by, report.phone) == ("东莞市", "王五", "0769-22223333")
    assert (report.week_start, report.week_end) == (dt.date(2020, 2, 17), dt.date(2020, 2, 23))
    assert report.period_text == "2020年2月17日-2020年2月23日"
    assert [r.headcount for r in report.rows] == [56, 4]
    assert report.problems == []


def test_signature_table_below_in_docx() -> None:
    data = table([
        merged(f"{TITLE}（2月17日—2月23日）", 4),
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "江门某摩托车有限公司", "88", "粤学通"],
    ], "table 1")
    signature = table([["填报人", "赵六", "联系电话", "0750-3456789"]], "table 2")
    report = parse_weekly(doc(data, signature, text="江门市人力资源和社会保障局", fmt="docx"), MAIL)
    assert report is not None
    assert (report.city, report.filled_by, report.phone) == ("江门市", "赵六", "0750-3456789")
    assert report.period_text == "2月17日—2月23日"
    assert (report.week_start, report.week_end) == (dt.date(2020, 2, 17), dt.date(2020, 2, 23))
    assert report.rows == [R(3, "江门某摩托车有限公司", 88, "粤学通", "88")]


def test_pdf_table_split_over_pages() -> None:
    page1 = table([
        merged(TITLE, 4),
        ["地市名称：汕头市", "", "时间：2月17日-2月23日", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "汕头甲玩具有限公司", "10", "粤学通"],
        ["2", "汕头乙纺织有限公司", "20", "粤学通"],
    ], "page 1")
    page2 = table([
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["3", "汕头丙化工有限公司", "30", "平台C"],
    ], "page 2")
    page3 = table([
        ["4", "汕头丁食品有限公司", "40", "平台D"],
        ["合计", "", "100", ""],
        ["填报人：陈七", "", "联系电话：0754-88881234", ""],
    ], "page 3")
    report = parse_weekly(doc(page1, page2, page3, fmt="pdf"), MAIL)
    assert report is not None
    assert [(r.row_number, r.enterprise, r.headcount) for r in report.rows] == [
        (4, "汕头甲玩具有限公司", 10), (5, "汕头乙纺织有限公司", 20), (2, "汕头丙化工有限公司", 30),
        (1, "汕头丁食品有限公司", 40)]
    assert report.declared_total == 100
    assert (report.city, report.filled_by, report.phone) == ("汕头市", "陈七", "0754-88881234")
    assert report.problems == []
    assert report.source == "page 1"


def test_problem_prefix_names_the_continuation_page() -> None:
    page1 = table([["序号", "企业名称", "备案人数", "培训平台名称"], ["1", "甲公司", "10", "粤学通"]], "page 1")
    page2 = table([["2", "乙公司", "", "粤学通"]], "page 2")
    report = parse_weekly(doc(page1, page2, text="地市名称：湛江市 时间：2月17日-2月23日", fmt="pdf"), MAIL)
    assert report is not None
    assert report.rows[1].problems == ["（page 2）第1行“备案人数”为空"]


def test_filled_template_sheet_wins_over_empty_template_and_sheet_name_gives_city() -> None:
    empty = table([
        merged(TITLE, 4),
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "", "", ""],
        ["2", "", "", ""],
    ], "sheet '模板'")
    filled = table([
        merged(TITLE, 4),
        ["时间", "2月17日-23日", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "甲公司", "5", "粤学通"],
        ["2", "", "", ""],
    ], "sheet '东莞'")
    report = parse_weekly(doc(empty, filled), MAIL)
    assert report is not None
    assert report.source == "sheet '东莞'"
    assert report.city == "东莞市"
    assert report.rows == [R(4, "甲公司", 5, "粤学通", "5")]
    assert report.problems == []


def test_total_in_one_merged_cell_and_mismatch() -> None:
    grid = [
        ["地市：韶关", "", "时间：2月17日-2月23日", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "韶关甲公司", "10", "粤学通"],
        ["2", "韶关乙公司", "15", "粤学通"],
        merged("合计：30人", 4),
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.city == "韶关市"
    assert report.declared_total == 30
    assert report.problems == ["合计人数30与各行备案人数之和25不一致"]


def test_filled_by_with_phone_in_the_same_value() -> None:
    grid = [
        ["地市名称：河源市", "", "", ""],
        ["时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "河源甲公司", "3", "粤学通"],
        ["填报人：刘八 13800138000", "", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert (report.filled_by, report.phone) == ("刘八", "13800138000")


def test_week_not_monday_to_sunday_keeps_values_and_reports() -> None:
    grid = [
        ["地市名称：珠海市  时间：2月18日-2月24日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "珠海甲公司", "7", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), dt.date(2020, 2, 25))
    assert report is not None
    assert (report.week_start, report.week_end) == (dt.date(2020, 2, 18), dt.date(2020, 2, 24))
    assert report.problems == ["统计时间2020年2月18日至2020年2月24日不是周一至周日（起始日为周二，截止日为周一）"]


def test_year_end_week() -> None:
    grid = [
        ["地市名称：清远市  时间：12月28日-1月3日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "清远甲公司", "9", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), dt.date(2021, 1, 4))
    assert report is not None
    assert (report.week_start, report.week_end) == (dt.date(2020, 12, 28), dt.date(2021, 1, 3))
    assert report.problems == []


def test_missing_city_period_platform_column_and_rows() -> None:
    grid = [
        merged(TITLE, 3),
        ["序号", "企业名称", "人数"],
        ["1", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows == []
    assert report.zero_statement == ""  # a template left blank says nothing about zero
    assert report.problems == [
        "统计表中未填写任何企业备案数据。如本周无新增备案企业，请在表中写明“本周无新增备案企业”并将合计填为0，"
        "或在邮件主题注明“报零”，即按0家、0人登记",
        "未能识别地市名称，请在表中填写“地市名称：××市”",
        "未找到统计时间，请在表中填写“时间：×月×日-×月×日”",
        "统计表缺少“培训平台名称”列",
    ]


def test_unreadable_period_is_kept_as_text() -> None:
    grid = [
        ["地市名称：梅州市", "时间：第八周", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "梅州甲公司", "2", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.period_text == "第八周"
    assert report.week_start is None
    assert report.problems == ["无法识别统计时间“第八周”，请按“2月17日-2月23日”格式填写"]


def test_title_without_header_is_a_weekly_report_with_a_problem() -> None:
    report = parse_weekly(doc(table([[TITLE], ["阳江市 2月17日-2月23日 见附表"]])), MAIL)
    assert report is not None
    assert report.city == "阳江市"
    assert report.rows == []
    assert report.problems[0] == "未找到统计表表头（需含“企业名称”“备案人数”列），无法读取备案数据"


def test_title_saying_nothing_was_filed_is_a_report_of_zero_without_a_table() -> None:
    report = parse_weekly(doc(table([[TITLE], ["阳江市 2月17日-2月23日 本周无企业备案"]])), MAIL)
    assert report is not None
    assert (report.city, report.rows, report.zero_statement) == ("阳江市", [], "本周无企业备案")
    assert report.problems == []


@pytest.mark.parametrize(
    "document",
    [
        doc(table([["平台名称", "粤学通"], ["联系人", "张三"], ["联系电话", "020-12345678"]]), fmt="docx"),
        doc(text="营业执照\n统一社会信用代码 91440300708461136T", fmt="pdf"),
        doc(),
    ],
)
def test_not_a_weekly_form(document) -> None:
    assert parse_weekly(document, MAIL) is None


def test_two_count_columns_prefer_the_filing_one() -> None:
    grid = [
        ["地市名称：惠州市  时间：2月17日-2月23日", "", "", "", ""],
        ["序号", "企业名称", "企业职工总数", "备案人数", "培训平台名称"],
        ["1", "惠州甲公司", "500", "50", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows == [R(3, "惠州甲公司", 50, "粤学通", "50")]


def test_unit_line_under_header_is_skipped() -> None:
    grid = [
        ["地市名称：茂名市  时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["", "", "（人）", ""],
        ["1", "茂名甲公司", "6", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows == [R(4, "茂名甲公司", 6, "粤学通", "6")]


def test_report_is_picklable() -> None:
    grid = [["地市名称：云浮市  时间：2月17日-2月23日"], ["企业名称", "备案人数", "平台名称"], ["甲", "1", "乙"]]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert pickle.loads(pickle.dumps(report)) == report


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        ("120", 120, None),
        ("120.0", 120, None),
        ("１２０", 120, None),
        ("120人", 120, None),
        ("120 人", 120, None),
        ("1,200", 1200, None),
        ("1，200", 1200, None),
        (" 1 200 ", 1200, None),
        ("0", 0, None),
        ("", None, "empty"),
        ("  ", None, "empty"),
        ("约一百", None, "unreadable"),
        ("12.5", None, "unreadable"),
        ("-3", None, "unreadable"),
        ("无", None, "unreadable"),
    ],
)
def test_parse_headcount(raw: str, value: int | None, reason: str | None) -> None:
    assert parse_headcount(raw) == (value, reason)


def test_period_over_several_cells_struck_out_lines_and_end_marker() -> None:
    grid = [
        ["地市名称", "阳江市", "", ""],
        ["时间：", "2020-02-17", "至", "2020-02-23"],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "阳江甲刀具有限公司", "5（人）", "粤学通"],
        ["2", "/", "/", "/"],
        ["以下空白", "", "", ""],
        ["3", "不应读取的行", "9", "x"],
        ["填报人：张三", "", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert (report.city, report.week_start, report.week_end) == ("阳江市", dt.date(2020, 2, 17), dt.date(2020, 2, 23))
    assert report.period_text == "2020-02-17 至 2020-02-23"
    assert report.rows == [R(4, "阳江甲刀具有限公司", 5, "粤学通", "5（人）")]
    assert report.filled_by == "张三"


def test_pdf_pages_with_shifted_columns_and_wrapped_names() -> None:
    page1 = table([
        ["企业职工线上适岗技能", "提升培", "训备案情况统计表"],
        ["地市名称：潮州市 时", "间：2020", "年2月17日-2月23日"],
        [],
        ["", "序号", "企业名称", "备案人数", "培训平台名称"],
        ["", "1", "潮州三环（集团）股份", "100", "粤学通"],
        ["", "", "有限公司", "", ""],
        ["", "2", "潮州乙陶瓷有限公司", "20", "中国职业培"],
        ["", "", "", "", "训在线"],
    ], "page 1 table 1")
    page2 = table([
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["3", "潮州丙公司", "30", "粤学通"],
        ["合计", "", "150"],
    ], "page 2 table 1")
    report = parse_weekly(doc(page1, page2, fmt="pdf"), MAIL)
    assert report is not None
    assert (report.city, report.week_start, report.week_end) == ("潮州市", dt.date(2020, 2, 17), dt.date(2020, 2, 23))
    assert report.rows == [
        R(5, "潮州三环（集团）股份有限公司", 100, "粤学通", "100"),
        R(7, "潮州乙陶瓷有限公司", 20, "中国职业培训在线", "20"),
        R(2, "潮州丙公司", 30, "粤学通", "30"),
    ]
    assert report.declared_total == 150
    assert report.problems == []


def test_xlsx_line_with_only_a_name_is_a_row_missing_its_headcount() -> None:
    grid = [
        ["地市名称：揭阳市  时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "揭阳甲公司", "10", "粤学通"],
        ["", "揭阳乙公司", "", "粤学通"],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows[1] == R(4, "揭阳乙公司", None, "粤学通", "", "第4行“备案人数”为空")


@pytest.mark.parametrize(
    "header",
    [
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["编号", "单位名称", "人数", "平台名称"],
        ["序号", "企业名称（全称）", "培训人数（人）", "培训平台"],
        ["序号", "用人单位", "参训职工人数", "线上培训平台"],
        ["NO.", "备案企业", "备案职工（人）", "培训机构（平台）名称"],
        ["序\u3000号", "企　业　名　称", "备 案 人 数", "培 训 平 台 名 称"],
        ["序号\n", "企业\n名称", "备案\n人数", "培训平台\n名称"],
    ],
)
def test_header_variants(header: list[str]) -> None:
    grid = [["地市名称：云浮市  时间：2月17日-2月23日", "", "", ""], header, ["1", "云浮甲公司", "12", "粤学通"]]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows == [R(3, "云浮甲公司", 12, "粤学通", "12")]
    assert report.problems == []


def test_period_as_two_date_cells_side_by_side() -> None:
    grid = [
        merged(TITLE, 4),
        ["地市名称：广州市", "时间：", "2020-02-17", "2020-02-23"],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "广州甲公司", "3", "粤学通"],
        ["填报日期", "2020-02-24", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert (report.week_start, report.week_end, report.period_text) == (
        dt.date(2020, 2, 17), dt.date(2020, 2, 23), "2020-02-17 2020-02-23")
    assert report.problems == []


def test_district_subtotals_do_not_end_the_table() -> None:
    grid = [
        ["地市名称：广州市  时间：2月17日-2月23日", "", "", "", ""],
        ["序号", "所属区", "企业名称", "备案人数", "培训平台名称"],
        ["1", "天河区", "甲公司", "10", "粤学通"],
        ["", "天河区小计", "天河区小计", "10", ""],
        ["2", "越秀区", "乙公司", "20", "粤学通"],
        ["", "越秀区合计", "", "20", ""],
        ["总计", "", "", "30", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert [(r.enterprise, r.headcount) for r in report.rows] == [("甲公司", 10), ("乙公司", 20)]
    assert report.declared_total == 30
    assert report.problems == []


def test_a_single_closing_subtotal_is_the_declared_total() -> None:
    grid = [
        ["地市名称：汕尾市  时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "汕尾甲公司", "10", "粤学通"],
        ["2", "汕尾乙公司", "5", "粤学通"],
        ["小计", "", "15", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.declared_total == 15
    assert len(report.rows) == 2


def test_pairs_typed_without_spaces() -> None:
    grid = [
        ["地市名称：肇庆市时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "肇庆甲公司", "4", "粤学通"],
        ["填报人：黄九联系电话：0758-2223333", "", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert (report.city, report.period_text, report.filled_by, report.phone) == (
        "肇庆市", "2月17日-2月23日", "黄九", "0758-2223333")


def test_week_without_filings_written_across_the_table() -> None:
    grid = [
        ["地市名称：云浮市  时间：2月17日-2月23日", "", "", ""],
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        merged("本周无新增备案企业", 4),
        ["填报人：李十", "", "", ""],
    ]
    report = parse_weekly(doc(table(grid)), MAIL)
    assert report is not None
    assert report.rows == []
    assert report.filled_by == "李十"
    assert report.zero_statement == "本周无新增"  # the city reports zero: a report, not a form to correct
    assert report.problems == []
