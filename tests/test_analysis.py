"""analyze_attachment end to end: fixture bytes in, the exact form data and problems out."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from parsers.analysis import AttachmentAnalysis, analyze_attachment, document_excerpt
from parsers.document import Document, Table
from tests.attachment_support import MAIL_DATE, fixture_bytes, load_builder

build = load_builder()

WEEKLY_ROWS = [
    ("广州市越秀科技有限公司", 120, "粤培通线上学习平台"),
    ("广州珠江制造有限公司", 85, "学习强国"),
    ("广州白云物流有限公司", 40, "腾讯课堂"),
]
WEEK = (dt.date(2020, 2, 17), dt.date(2020, 2, 23))

WEEKLY_VARIANTS = [
    "weekly.xlsx",
    "weekly_reordered.xlsx",
    "weekly_wps_dimension.xlsx",
    "weekly.xls",
    "weekly_really_xls.et",
    "weekly_html.xls",
    "weekly_xml.xls",
    "weekly.docx",
    "weekly_really_docx.wps",
    "weekly.pdf",
    "weekly_named_pdf.xlsx",
    "weekly_unruled.pdf",
    "weekly_locale_dates.xlsx",  # the period as two date cells in the zh built-in formats 31
]
if shutil.which("soffice"):
    WEEKLY_VARIANTS += ["weekly.doc", "weekly_native.wps"]


def analyse(name: str, **kwargs) -> AttachmentAnalysis:
    return analyze_attachment(fixture_bytes(name), name, MAIL_DATE, **kwargs)


def weekly_summary(analysis: AttachmentAnalysis):
    w = analysis.weekly
    assert w is not None
    return (
        w.city,
        (w.week_start, w.week_end),
        w.filled_by,
        w.phone,
        [(r.enterprise, r.headcount, r.platform) for r in w.rows],
        w.declared_total,
        w.problems,
    )


@pytest.mark.parametrize("name", WEEKLY_VARIANTS)
def test_weekly_form_end_to_end(name: str) -> None:
    analysis = analyse(name)
    assert analysis.problems == []
    assert analysis.application is None
    assert weekly_summary(analysis) == ("广州市", WEEK, "张三", "020-12345678", WEEKLY_ROWS, 245, [])


def test_weekly_form_inside_a_zip_with_gbk_names() -> None:
    analysis = analyse("weekly_gbk_names.zip")
    assert (analysis.format, analysis.problems, analysis.weekly, analysis.material) == ("zip", [], None, None)
    assert [(m.filename, m.format) for m in analysis.members] == [("广州市周报.xlsx", "xlsx"), ("材料/营业执照.pdf", "pdf")]
    assert weekly_summary(analysis.members[0]) == ("广州市", WEEK, "张三", "020-12345678", WEEKLY_ROWS, 245, [])
    assert analysis.members[1].material.category == "credentials"


APPLICATION = {
    "platform_name": "粤技通在线学习平台",
    "website": "https://www.yuejitong.example.cn",
    "organization": "广东粤技通教育科技有限公司",
    "credit_code": "91440101MA59ABCD1D",
    "contact": "李四",
    "contact_title": "运营总监",
    "phone": "13800138000",
    "email": "lisi@yuejitong.example.cn",
    "address": "广州市天河区体育西路100号",
    "intro": "面向企业职工的线上职业技能培训平台，提供电工、焊工等课程。",
}
PROJECTS = [
    ("电工基础", "电工", "线上直播+录播", 48, "线上考试", "自有", "免费"),
    ("焊接工艺", "焊工", "线上录播", 32, "实操考核", "合作开发", "200元/人"),
]


def application_summary(analysis: AttachmentAnalysis):
    app = analysis.application
    assert app is not None
    fields = {key: getattr(app, key) for key in APPLICATION}
    projects = [(p.name, p.occupation, p.format, p.hours, p.assessment, p.source, p.fee) for p in app.projects]
    return fields, projects, app.problems


@pytest.mark.parametrize("name", ["application.docx", "application.xlsx", "application.pdf"])
def test_application_form_end_to_end(name: str) -> None:
    analysis = analyse(name)
    assert (analysis.problems, analysis.weekly) == ([], None)
    assert application_summary(analysis) == (APPLICATION, PROJECTS, [])
    assert analysis.material.category == "basic_form"


def test_application_bundle_zip() -> None:
    analysis = analyse("application_bundle.zip")
    assert [(m.filename, m.material.category) for m in analysis.members] == [
        ("附件1基本情况表.docx", "basic_form"),
        ("平台架构说明.docx", "construction"),
    ]
    assert application_summary(analysis.members[0]) == (APPLICATION, PROJECTS, [])
    assert analysis.members[1].application is None


@pytest.mark.parametrize(
    ("name", "fmt", "category"),
    [
        ("营业执照.pdf", "pdf", "credentials"),
        ("营业执照扫描件.png", "image", "credentials"),  # not parsed, classified by its name
        ("平台架构说明.docx", "docx", "construction"),
    ],
)
def test_supporting_material_is_classified(name: str, fmt: str, category: str) -> None:
    analysis = analyse(name)
    assert (analysis.format, analysis.problems, analysis.weekly, analysis.application) == (fmt, [], None, None)
    assert analysis.material.category == category


@pytest.mark.parametrize(
    ("name", "fmt", "problem"),
    [
        ("hostile_empty.xlsx", "unknown", "附件“hostile_empty.xlsx”是空文件（0 字节），请重新添加附件后发送"),
        ("hostile_random.xlsx", "xlsx", "附件“hostile_random.xlsx”已损坏或不完整，无法作为 xlsx 文件打开，请重新保存后发送"),
        ("hostile_truncated.pdf", "pdf", "附件“hostile_truncated.pdf”已损坏或不完整，无法作为 pdf 文件打开，请重新保存后发送"),
        ("hostile_billion_laughs.xlsx", "xlsx",
         "附件“hostile_billion_laughs.xlsx”含有不安全的内容（XML 实体定义），已拒绝读取，请用 Excel/WPS 重新保存后发送"),
    ],
)
def test_unreadable_attachment_is_a_problem_not_an_exception(name: str, fmt: str, problem: str) -> None:
    analysis = analyse(name)
    assert (analysis.format, analysis.problems, analysis.weekly, analysis.application) == (fmt, [problem], None, None)


def test_unexpected_error_becomes_a_generic_problem(caplog: pytest.LogCaptureFixture) -> None:
    def broken_converter(data: bytes, filename: str, fmt: str, target: str) -> bytes:
        raise RuntimeError("secret detail")

    analysis = analyse("weekly_native.wps", converter=broken_converter)
    assert analysis.problems == ["附件“weekly_native.wps”无法解析（内部错误：RuntimeError）"]
    assert "secret detail" not in " ".join(analysis.problems)
    # the traceback goes to the log
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]


def test_excerpt_takes_text_then_tables_and_is_capped() -> None:
    doc = Document(format="docx", text="标题", tables=[Table(rows=[["a", "b"], ["", ""], ["c"]])])
    assert document_excerpt(doc) == "标题\na\tb\nc"
    long = Document(format="text", text="字" * 5000)
    assert len(document_excerpt(long)) == 2000


def test_weekly_excerpt_holds_the_form_words() -> None:
    excerpt = analyse("weekly.xlsx").text_excerpt
    assert excerpt.splitlines()[:3] == [
        "\t".join(["企业职工线上适岗技能提升培训备案情况统计表"] * 4),
        "\t".join(["地市名称：广州市  时间：2月17日——2月23日"] * 4),
        "序号\t企业名称\t备案人数\t培训平台名称",
    ]
