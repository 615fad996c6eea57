"""parse_application / validate_application on docx-, xlsx- and pdf-shaped documents."""

from __future__ import annotations

import pickle

import pytest

from parsers.application import (
    ApplicationData,
    FieldProblem,
    ProjectData,
    parse_application,
    parse_hours,
    validate_application,
)
from tests.form_builders import doc, merged, table

TITLE = "职业技能提升行动线上培训平台基本情况表"
GOOD_CODE = "91440300708461136T"
HEADER = ["序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"]


def P(name: str, occupation: str, fmt: str, hours: int | None, assessment: str, source: str, fee: str,
      raw: str) -> ProjectData:
    return ProjectData(name, occupation, fmt, hours, assessment, source, fee, raw)


def test_docx_grid_with_merges_spaced_labels_and_pairs_in_one_row() -> None:
    grid = [
        merged(TITLE, 8),
        ["平台名称", "粤学通", "粤学通", "粤学通", "网    址", "www.yuexuetong.com.cn", "www.yuexuetong.com.cn",
         "www.yuexuetong.com.cn"],
        ["机构名称", "广州粤学通教育科技有限公司", "广州粤学通教育科技有限公司", "广州粤学通教育科技有限公司",
         "统一社会信用代码", f" {GOOD_CODE} ", f" {GOOD_CODE} ", f" {GOOD_CODE} "],
        ["联 系 人", "张三", "职务", "运营总监", "联系电话", "(020)83331234", "电子邮箱", "zhangsan＠yxt.com.cn"],
        merged("通讯地址：广州市天河区天河路1号", 8),
        merged("平台简介", 8),
        merged("粤学通是面向企业职工的线上职业技能培训平台，现有课程1200门。", 8),
        HEADER,
        ["1", "电工（初级）", "电工", "线上", "48课时", "线上考试", "自有", "免费"],
        ["2", "育婴员", "育婴员", "线上+直播", "３２学时", "考核", "合作开发", "100元/人"],
        ["3", "", "", "", "", "", "", ""],
        merged("填表说明：请如实填写。", 8),
    ]
    app = parse_application(doc(table(grid, "table 1"), fmt="docx"))
    assert app == ApplicationData(
        platform_name="粤学通",
        website="www.yuexuetong.com.cn",
        organization="广州粤学通教育科技有限公司",
        credit_code=GOOD_CODE,
        contact="张三",
        contact_title="运营总监",
        phone="020-83331234",
        email="zhangsan@yxt.com.cn",
        address="广州市天河区天河路1号",
        intro="粤学通是面向企业职工的线上职业技能培训平台，现有课程1200门。",
        projects=[
            P("电工（初级）", "电工", "线上", 48, "线上考试", "自有", "免费", "48课时"),
            P("育婴员", "育婴员", "线上+直播", 32, "考核", "合作开发", "100元/人", "３２学时"),
        ],
        problems=[],
    )
    assert validate_application(app) == []
    assert pickle.loads(pickle.dumps(app)) == app


def test_xlsx_vertical_layout_with_colons_and_projects_on_another_sheet() -> None:
    info = table([
        ["附件1", "", "", ""],
        merged(TITLE, 4),
        ["", "", "", ""],
        ["平台名称：", "学习强国职业技能频道", "", ""],
        ["平台网址：", "https://www.example.org.cn/skills", "", ""],
        ["运营机构：", "某某信息技术有限公司", "", ""],
        ["信用代码：", "９１３５０１００Ｍ０００１００Ｙ４３", "", ""],
        ["联系人：", "李四", "", ""],
        ["职务：", "", "", ""],
        ["手机：", "139 1234 5678", "", ""],
        ["E-mail：", "lisi@example.org.cn", "", ""],
        ["地址：", "深圳市南山区科技园", "", ""],
        ["平台介绍：", "提供200门课程", "提供200门课程", "提供200门课程"],
    ], "sheet '基本情况'")
    projects = table([
        ["序 号", "项目\n名称", "专业(职业/工种/岗位)", "培训\n形式", "培训课时\n(学时)", "评价\n形式", "资源\n来源", "费用(元)"],
        ["1", "Python程序设计", "程序员", "线上", "64", "考试", "自有", "0"],
        ["", "", "", "", "", "", "", ""],
        ["2", "安全生产", "安全员", "线上", "16.0", "证书", "购买", "200"],
    ], "sheet '培训项目'")
    app = parse_application(doc(info, projects))
    assert app is not None
    assert (app.platform_name, app.website, app.organization) == (
        "学习强国职业技能频道", "https://www.example.org.cn/skills", "某某信息技术有限公司")
    assert app.credit_code == "91350100M000100Y43"
    assert (app.contact, app.contact_title, app.phone, app.email) == (
        "李四", "", "13912345678", "lisi@example.org.cn")
    assert (app.address, app.intro) == ("深圳市南山区科技园", "提供200门课程")
    assert app.projects == [
        P("Python程序设计", "程序员", "线上", 64, "考试", "自有", "0", "64"),
        P("安全生产", "安全员", "线上", 16, "证书", "购买", "200", "16.0"),
    ]
    assert app.problems == []
    assert validate_application(app) == [FieldProblem("contact_title", "“职务”未填写，请补充")]


def test_values_below_their_labels() -> None:
    grid = [
        merged(TITLE, 4),
        ["平台名称", "网址", "机构名称", "统一社会信用代码"],
        ["职培云", "zhipeiyun.cn", "某某教育集团有限公司", GOOD_CODE],
        ["联系人", "职务", "联系电话", "电子邮箱"],
        ["王五", "经理", "0755-12345678转8001", "wangwu@zhipeiyun.cn"],
        ["通讯地址", "深圳市福田区", "深圳市福田区", "深圳市福田区"],
        ["简介", "职培云平台简介", "职培云平台简介", "职培云平台简介"],
        HEADER,
        ["1", "电子商务师", "电子商务师", "线上", "40学时", "考核", "自有", "免费"],
    ]
    app = parse_application(doc(table(grid, "table 1"), fmt="docx"))
    assert app is not None
    assert (app.platform_name, app.website, app.organization, app.credit_code) == (
        "职培云", "zhipeiyun.cn", "某某教育集团有限公司", GOOD_CODE)
    assert (app.contact, app.contact_title, app.phone, app.email) == (
        "王五", "经理", "0755-12345678转8001", "wangwu@zhipeiyun.cn")
    assert (app.address, app.intro) == ("深圳市福田区", "职培云平台简介")
    assert [p.hours for p in app.projects] == [40]
    assert validate_application(app) == []


def test_pdf_text_fallback_and_split_project_table() -> None:
    text = (
        f"{TITLE}\n"
        "平台名称：南粤技能通\n"
        "网 址：http://www.nanyue.example.cn\n"
        "机构名称：南粤技能通科技有限公司  统一社会信用代码：91310110666007217T\n"
        "联系人：赵六 职务：副总经理\n"
        "联系电话\n"
        "13800138000\n"
        "电子邮箱：zl@nanyue.example.cn\n"
        "通讯地址：广东省珠海市香洲区\n"
        "平台简介：专注制造业技能培训。\n"
    )
    page1 = table([
        ["序号", "项目名称", "专业（职业/\n工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"],
        ["1", "数控车工", "车工", "线上", "80课时", "实操考核", "自有", "免费"],
    ], "page 1")
    page2 = table([["2", "焊工", "焊工", "线上", "60课时", "实操考核", "自有", "免费"]], "page 2")
    app = parse_application(doc(page1, page2, text=text, fmt="pdf"))
    assert app is not None
    assert (app.platform_name, app.website, app.organization, app.credit_code) == (
        "南粤技能通", "http://www.nanyue.example.cn", "南粤技能通科技有限公司", "91310110666007217T")
    assert (app.contact, app.contact_title, app.phone, app.email) == (
        "赵六", "副总经理", "13800138000", "zl@nanyue.example.cn")
    assert (app.address, app.intro) == ("广东省珠海市香洲区", "专注制造业技能培训。")
    assert [(p.name, p.hours) for p in app.projects] == [("数控车工", 80), ("焊工", 60)]
    assert validate_application(app) == []


def test_missing_project_table_and_labels_are_reported() -> None:
    grid = [
        merged(TITLE, 4),
        ["平台名称", "某平台", "网址", "www.example.com"],
        ["联系人", "张三", "联系电话", "13812345678"],
    ]
    app = parse_application(doc(table(grid)))
    assert app is not None
    assert app.problems == [
        "未找到培训项目表（需含“项目名称”“培训课时”等列）",
        "表中未找到以下栏目：机构名称、统一社会信用代码、职务、电子邮箱、通讯地址、平台简介",
    ]
    assert [p.field for p in validate_application(app)] == [
        "organization", "credit_code", "contact_title", "email", "address", "intro", "projects"]


@pytest.mark.parametrize(
    "document",
    [
        doc(table([
            merged("企业职工线上适岗技能提升培训备案情况统计表", 4),
            ["地市名称：广州市", "", "联系电话：020-12345678", ""],
            ["序号", "企业名称", "备案人数", "培训平台名称"],
            ["1", "甲公司", "10", "粤学通"],
        ])),
        doc(text="营业执照\n名称：某某有限公司\n统一社会信用代码：91440300708461136T", fmt="pdf"),
        doc(table([["课程目录"], ["1", "电工基础"]]), fmt="docx"),
        doc(text="平台简介\n本平台创立于2015年……\n联系人：张三\n联系电话：13812345678\n邮箱：zs@example.com\n"
                 "平台网址：www.example.com", fmt="docx"),
        doc(),
    ],
)
def test_not_an_application(document) -> None:
    assert parse_application(document) is None


def _complete() -> ApplicationData:
    return ApplicationData(
        platform_name="粤学通", website="https://www.example.com", organization="某公司", credit_code=GOOD_CODE,
        contact="张三", contact_title="经理", phone="020-12345678", email="a@example.com", address="广州市",
        intro="简介", projects=[P("电工", "电工", "线上", 48, "考试", "自有", "免费", "48")],
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"platform_name": ""}, [FieldProblem("platform_name", "“平台名称”未填写，请补充")]),
        ({"intro": "  "}, [FieldProblem("intro", "“平台简介”未填写，请补充")]),
        ({"credit_code": "9144030070846113XT"},
         [FieldProblem("credit_code", "统一社会信用代码“9144030070846113XT”校验位错误，应为“2”，请核对后重新填写")]),
        ({"phone": "8333123"},
         [FieldProblem("phone", "联系电话“8333123”缺少区号，请按“020-12345678”或11位手机号格式填写")]),
        ({"email": "a@example"},
         [FieldProblem("email", "电子邮箱“a@example”格式不正确，请填写如 name@example.com 的邮箱地址")]),
        ({"website": "粤学通APP"},
         [FieldProblem("website", "平台网址“粤学通APP”不是有效网址，请填写如 https://www.example.com 的网址")]),
        ({"website": "www.example.com"}, []),
        ({"website": "www.example.com（PC端）；APP：粤学通"}, []),
        ({"email": "a@example.com（备用）"}, []),
        ({"phone": "020-12345678（工作日）、13812345678"}, []),
        ({"projects": []},
         [FieldProblem("projects", "未填写培训项目，请在培训项目表中至少填写一个项目（含项目名称和培训课时）")]),
        ({"projects": [P("", "电工", "线上", None, "", "", "", ""), P("焊工", "", "", None, "", "", "", "若干")]},
         [FieldProblem("projects", "第1个培训项目未填写“项目名称”，请补充"),
          FieldProblem("projects", "第1个培训项目未填写“培训课时”，请补充"),
          FieldProblem("projects", "第2个培训项目“焊工”的“培训课时”“若干”无法识别，请填写课时数（如48）")]),
    ],
)
def test_validate_application(changes: dict, expected: list[FieldProblem]) -> None:
    app = _complete()
    for key, value in changes.items():
        setattr(app, key, value)
    assert validate_application(app) == expected


@pytest.mark.parametrize(
    ("raw", "hours"),
    [("48", 48), ("48.0", 48), ("48课时", 48), ("48学时", 48), ("４８学时", 48), ("共48课时", 48),
     ("48 课时", 48), ("", None), ("若干", None), ("4.5", None)],
)
def test_parse_hours(raw: str, hours: int | None) -> None:
    assert parse_hours(raw) == hours


def test_legal_representative_rows_do_not_fill_the_contact_and_composite_labels_are_split() -> None:
    grid = [
        merged(TITLE, 5),
        ["平台名称", "粤学通", "网址", "www.example.com", ""],
        ["运营机构", "某某公司", "统一社会信用代码", GOOD_CODE, ""],
        ["法定代表人", "姓名", "李四", "电话", "13900000000"],
        ["法定代表人", "职务", "董事长", "", ""],
        ["联系人", "姓名", "张三", "职务", "总经理"],
        ["联系人", "联系电话/邮箱", "020-12345678 / zs@example.com", "", ""],
        ["注册资金：", "100万元", "地址及邮编", "广州市天河区 510000", ""],
        ["平台简介\n（500字以内）", "面向企业职工的\n线上培训平台", "", "", ""],
    ]
    app = parse_application(doc(table(grid, "table 1"), fmt="docx"))
    assert app is not None
    assert (app.contact, app.contact_title, app.phone, app.email) == (
        "张三", "总经理", "020-12345678", "zs@example.com")
    assert (app.address, app.intro) == ("广州市天河区 510000", "面向企业职工的线上培训平台")


@pytest.mark.parametrize(
    ("value", "contact", "title"),
    [("王五（运营经理）", "王五", "运营经理"), ("王五/运营经理", "王五", "运营经理"), ("王五 经理", "王五", "经理"),
     ("欧阳娜娜", "欧阳娜娜", "")],
)
def test_contact_and_title_under_one_label(value: str, contact: str, title: str) -> None:
    grid = [["联系人/职务", value], ["平台名称", "某平台"], ["网址", "www.example.com"], ["机构名称", "某公司"]]
    app = parse_application(doc(table(grid), fmt="docx"))
    assert app is not None
    assert (app.contact, app.contact_title) == (contact, title)


def test_unknown_label_with_colon_is_not_taken_as_a_value() -> None:
    grid = [
        ["平台名称", "某平台", "", ""],
        ["职务", "", "成立年份：", "2015"],
        ["联系人", "张三", "网址", "www.example.com"],
    ]
    app = parse_application(doc(table(grid), fmt="docx"))
    assert app is not None
    assert app.contact_title == ""


def test_project_rows_beside_a_vertically_merged_section_label() -> None:
    grid = [
        merged(TITLE, 9),
        ["平台名称", "粤学通", "粤学通", "网址", "www.example.com", "www.example.com", "机构名称", "某公司", "某公司"],
        ["培训项目", *HEADER],
        ["培训项目", "1", "电工", "电工", "线上", "48", "考试", "自有", "免费"],
        ["培训项目", "2", "焊工", "焊工", "线上", "24学时", "考试", "自有", "免费"],
        ["培训项目", "", "", "", "", "", "", "", ""],
        ["平台简介", "简介文字", "简介文字", "简介文字", "简介文字", "简介文字", "简介文字", "简介文字", "简介文字"],
    ]
    app = parse_application(doc(table(grid, "table 1"), fmt="docx"))
    assert app is not None
    assert [(p.name, p.occupation, p.hours) for p in app.projects] == [("电工", "电工", 48), ("焊工", "焊工", 24)]
    assert (app.platform_name, app.website, app.organization, app.intro) == (
        "粤学通", "www.example.com", "某公司", "简介文字")
