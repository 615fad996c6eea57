"""Format readers: bytes in, exact tables/text out; broken and hostile bytes in, the exact error out."""

from __future__ import annotations

import io
import quopri
import shutil
import struct
import tracemalloc
import zipfile
import zlib

import openpyxl
import pytest

from parsers.document import Document
from parsers.formats import (
    ConversionError,
    CorruptFileError,
    EmptyFileError,
    EncryptedFileError,
    LimitExceededError,
    Limits,
    UnsafeContentError,
    UnsupportedFormatError,
    detect_format,
    read_document,
)
from parsers.formats.archive import decode_member_name
from parsers.formats.cells import format_value
from parsers.formats.limits import human_size
from tests.attachment_support import fixture_bytes, load_builder

build = load_builder()

TITLE = "企业职工线上适岗技能提升培训备案情况统计表"
CITY_LINE = "地市名称：广州市  时间：2月17日——2月23日"
FOOTER = "填报人：张三 联系电话：020-12345678"
HEADER = ["序号", "企业名称", "备案人数", "培训平台名称"]
DATA_ROWS = [
    ["1", "广州市越秀科技有限公司", "120", "粤培通线上学习平台"],
    ["2", "广州珠江制造有限公司", "85", "学习强国"],
    ["3", "广州白云物流有限公司", "40", "腾讯课堂"],
]
# the weekly form as a spreadsheet: merged title, city line and footer repeated across A:D
WEEKLY_SHEET = [[TITLE] * 4, [CITY_LINE] * 4, HEADER, *DATA_ROWS, ["合计", "", "245"], [FOOTER] * 4]
# the Word version: title and city line merged inside the table, the footer a paragraph after it
WEEKLY_WORD_TABLE = [[TITLE] * 4, [CITY_LINE] * 4, HEADER, *DATA_ROWS, ["合计", "", "245"]]
HTML_CITY_LINE = "地市名称：广州市 时间：2月17日——2月23日"  # HTML collapses the double space


def weekly_html_sheet() -> list[list[str]]:
    return [[TITLE] * 4, [HTML_CITY_LINE] * 4, HEADER, *DATA_ROWS, ["合计", "合计", "245"], [FOOTER] * 4]


def read_fixture(name: str, **kwargs) -> Document:
    return read_document(fixture_bytes(name), name, **kwargs)


# ---------------------------------------------------------------- detection by content
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("weekly.xlsx", "xlsx"),
        ("weekly_wps_dimension.xlsx", "xlsx"),
        ("weekly.xls", "xls"),
        ("weekly_html.xls", "xls-html"),
        ("weekly_xml.xls", "xls-xml"),
        ("weekly.docx", "docx"),
        ("weekly.pdf", "pdf"),
        ("weekly_named_pdf.xlsx", "pdf"),  # a PDF named .xlsx is a PDF
        ("weekly_really_xls.et", "et"),  # OLE2 workbook: the extension tells .et from .xls
        ("weekly_really_docx.wps", "docx"),  # a zip with word/document.xml is docx whatever its name
        ("weekly.doc", "doc"),
        ("weekly_native.wps", "wps"),
        ("weekly_gbk_names.zip", "zip"),
        ("营业执照扫描件.png", "image"),
        ("hostile_random.xlsx", "unknown"),
        ("hostile_empty.xlsx", "unknown"),
        ("hostile_truncated.xlsx", "xlsx"),  # zip directory gone: the extension breaks the tie
        ("hostile_truncated.docx", "docx"),
    ],
)
def test_detect_format_from_fixture_bytes(name: str, expected: str) -> None:
    assert detect_format(fixture_bytes(name), name) == expected


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"Rar!\x1a\x07\x01\x00rest", "材料.rar", "rar"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "材料.7z", "7z"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "营业执照.jpg", "image"),
        (b"GIF89a\x01\x00", "a.gif", "image"),
        (b"{\\rtf1\\ansi hello}", "a.doc", "rtf"),
        ("平台简介：线上培训\r\n".encode("gbk"), "说明.txt", "text"),
        (b"\xef\xbb\xbf<html><body><table><tr><td>1</td></tr></table></body></html>", "a.xls", "xls-html"),
        (b"<table><tr><td>1</td></tr></table>", "a.xls", "xls-html"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "a.bin", "pdf"),
        (b"\x00\x01\x02\x03\x04\x05", "a.bin", "unknown"),
    ],
)
def test_detect_format_from_magic_bytes(data: bytes, name: str, expected: str) -> None:
    assert detect_format(data, name) == expected


# ---------------------------------------------------------------- the weekly form in every format
@pytest.mark.parametrize(
    ("name", "fmt", "source", "rows"),
    [
        ("weekly.xlsx", "xlsx", "sheet '备案情况'", WEEKLY_SHEET),
        ("weekly_wps_dimension.xlsx", "xlsx", "sheet '备案情况'", WEEKLY_SHEET),  # <dimension ref="A1"/> ignored
        ("weekly.xls", "xls", "sheet 'Sheet1'", WEEKLY_SHEET),
        ("weekly_really_xls.et", "et", "sheet 'Sheet1'", WEEKLY_SHEET),
        ("weekly_xml.xls", "xls-xml", "sheet '周报'", WEEKLY_SHEET),
        ("weekly_html.xls", "xls-html", "table 1", weekly_html_sheet()),
        ("weekly.docx", "docx", "table 1", WEEKLY_WORD_TABLE),
        ("weekly_really_docx.wps", "docx", "table 1", WEEKLY_WORD_TABLE),
        (
            "weekly_reordered.xlsx",
            "xlsx",
            "sheet 'Sheet1'",
            [
                [TITLE] * 4,
                [CITY_LINE] * 4,
                ["序号", "平台名称", "企业名称", "人数"],
                ["1", "粤培通线上学习平台", "广州市越秀科技有限公司", "120"],
                ["2", "学习强国", "广州珠江制造有限公司", "85"],
                ["3", "腾讯课堂", "广州白云物流有限公司", "40"],
                ["合计", "", "", "245"],
                [FOOTER] * 4,
            ],
        ),
        (
            "weekly_locale_dates.xlsx",  # numFmtId 31 and 57 are dates openpyxl does not know
            "xlsx",
            "sheet 'Sheet'",
            [
                [TITLE] * 4,
                ["地市名称：广州市", "时间：", "2020-02-17", "2020-02-23"],
                HEADER,
                *DATA_ROWS,
                ["合计", "", "245"],
                [FOOTER] * 4,
                ["填报日期", "2020-02-24"],
            ],
        ),
    ],
)
def test_weekly_form_tables(name: str, fmt: str, source: str, rows: list[list[str]]) -> None:
    doc = read_fixture(name)
    assert doc.format == fmt
    assert doc.problems == []
    assert [t.source for t in doc.tables] == [source]
    assert doc.tables[0].rows == rows


def test_unruled_pdf_table_found_by_the_text_strategy() -> None:
    doc = read_fixture("weekly_unruled.pdf")
    assert [(t.source, t.rows) for t in doc.tables] == [
        ("page 1 table 1", [HEADER, *DATA_ROWS, ["合计", "", "245"]])
    ]


def test_weekly_word_text_holds_paragraphs_after_the_table() -> None:
    assert read_fixture("weekly.docx").text == FOOTER


@pytest.mark.parametrize("name", ["weekly.pdf", "weekly_named_pdf.xlsx"])
def test_weekly_pdf_ruled_table_and_text(name: str) -> None:
    doc = read_fixture(name)
    assert doc.format == "pdf"
    assert [t.source for t in doc.tables] == ["page 1 table 1"]
    # the 合计 cell spans two columns in the PDF (reportlab SPAN): it repeats in both positions
    assert doc.tables[0].rows == [HEADER, *DATA_ROWS, ["合计", "合计", "245"]]
    assert doc.text.splitlines() == [
        TITLE,
        "地市名称：广州市 时间：2月17日——2月23日",
        "序号 企业名称 备案人数 培训平台名称",
        "1 广州市越秀科技有限公司 120 粤培通线上学习平台",
        "2 广州珠江制造有限公司 85 学习强国",
        "3 广州白云物流有限公司 40 腾讯课堂",
        "合计 245",
        FOOTER,
    ]


# ---------------------------------------------------------------- the application form
APP_CODE = build.credit_code("91440101MA59ABCD1")
INTRO = "面向企业职工的线上职业技能培训平台，提供电工、焊工等课程。"


def application_rows(website_label: str) -> list[list[str]]:
    def wide(label: str, value: str) -> list[str]:
        return [label, label] + [value] * 6

    return [
        ["职业技能提升行动线上培训平台基本情况表"] * 8,
        wide("平台名称", "粤技通在线学习平台"),
        wide(website_label, "https://www.yuejitong.example.cn"),
        wide("机构名称", "广东粤技通教育科技有限公司"),
        wide("统一社会信用代码", APP_CODE),
        ["联系人", "联系人", "李四", "李四", "职务", "职务", "运营总监", "运营总监"],
        ["联系电话", "联系电话", "13800138000", "13800138000", "电子邮箱", "电子邮箱",
         "lisi@yuejitong.example.cn", "lisi@yuejitong.example.cn"],
        wide("通讯地址", "广州市天河区体育西路100号"),
        wide("平台简介", INTRO),
        ["培训项目"] * 8,
        ["序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"],
        ["1", "电工基础", "电工", "线上直播+录播", "48", "线上考试", "自有", "免费"],
        ["2", "焊接工艺", "焊工", "线上录播", "32", "实操考核", "合作开发", "200元/人"],
    ]


@pytest.mark.parametrize(
    ("name", "fmt", "website_label"),
    [
        ("application.docx", "docx", "网    址"),
        ("application.xlsx", "xlsx", "网    址"),
        ("application.pdf", "pdf", "网 址"),  # PDF text extraction collapses runs of spaces
    ],
)
def test_application_form_merged_cells(name: str, fmt: str, website_label: str) -> None:
    doc = read_fixture(name)
    assert doc.format == fmt
    assert len(doc.tables) == 1
    assert doc.tables[0].rows == application_rows(website_label)


def test_credit_code_fixture_has_a_valid_check_character() -> None:
    assert APP_CODE == "91440101MA59ABCD1D"


# ---------------------------------------------------------------- supporting material, images, text
@pytest.mark.parametrize(
    ("name", "fmt", "text_lines", "tables"),
    [
        (
            "平台架构说明.docx",
            "docx",
            ["平台架构说明", "一、平台建设情况：平台采用云服务器部署，支持万人同时在线学习。",
             "二、系统架构：前端门户、学习管理系统、考试系统、数据统计模块。"],
            [],
        ),
        (
            "营业执照.pdf",
            "pdf",
            ["营业执照", f"统一社会信用代码：{APP_CODE}", "名称：广东粤技通教育科技有限公司", "类型：有限责任公司",
             "登记机关 广州市市场监督管理局"],
            [[["登记机关", "广州市市场监督管理局"]]],
        ),
        ("营业执照扫描件.png", "image", [], []),
    ],
)
def test_supporting_material(name: str, fmt: str, text_lines: list[str], tables: list) -> None:
    doc = read_fixture(name)
    assert (doc.format, doc.text.splitlines(), [t.rows for t in doc.tables]) == (fmt, text_lines, tables)


def test_nested_word_tables_become_tables_of_their_own() -> None:
    doc = read_fixture("nested_table.docx")
    assert [(t.source, t.rows) for t in doc.tables] == [
        ("table 1", [["外层A1", "外层B1"], ["外层A2"]]),
        ("table 2 (in table 1)", [["内层1", "内层2"]]),
    ]


def test_csv_is_read_as_a_table() -> None:
    data = "序号,企业名称,备案人数\r\n1,广州甲公司,12\r\n".encode("gbk")
    doc = read_document(data, "周报.csv")
    assert (doc.format, doc.tables[0].rows) == ("text", [["序号", "企业名称", "备案人数"], ["1", "广州甲公司", "12"]])


@pytest.mark.parametrize(("data", "name", "fmt"), [
    (b"Rar!\x1a\x07\x01\x00rest", "材料.rar", "rar"),
    (b"7z\xbc\xaf\x27\x1c\x00\x04", "材料.7z", "7z"),
    (b"\x00\x01\x02\x03", "data.bin", "unknown"),
])
def test_unparsed_formats_are_recorded_by_type(data: bytes, name: str, fmt: str) -> None:
    assert read_document(data, name) == Document(format=fmt)


# ---------------------------------------------------------------- HTML and SpreadsheetML details
def test_html_rowspan_colspan_and_meta_charset() -> None:
    html = (
        '<html><head><meta charset="gbk"></head><body><p>标题说明</p><table>'
        '<tr><td rowspan="2">序号</td><td colspan="2">企业</td></tr>'
        "<tr><td>名称</td><td>人数</td></tr>"
        "<tr><td>1</td><td>甲公司<br>（分公司）</td><td>12</td></tr>"
        "</table></body></html>"
    ).encode("gbk")
    doc = read_document(html, "导出.xls")
    assert doc.format == "xls-html"
    assert doc.tables[0].rows == [["序号", "企业", "企业"], ["序号", "名称", "人数"], ["1", "甲公司\n（分公司）", "12"]]
    assert doc.text == "标题说明"


def test_spreadsheetml_index_gaps_merge_down_and_dates() -> None:
    xml = (
        '<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?>'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="S"><Table>'
        '<Row><Cell ss:MergeDown="1"><Data ss:Type="String">地区</Data></Cell>'
        '<Cell ss:Index="3"><Data ss:Type="DateTime">2020-02-17T00:00:00.000</Data></Cell></Row>'
        '<Row ss:Index="2"><Cell ss:Index="2"><Data ss:Type="Number">120.0</Data></Cell></Row>'
        "</Table></Worksheet></Workbook>"
    ).encode()
    doc = read_document(xml, "a.xls")
    assert (doc.format, doc.tables[0].rows) == ("xls-xml", [["地区", "", "2020-02-17"], ["地区", "120"]])


def test_spreadsheetml_with_a_doctype_is_refused() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><?mso-application progid="Excel.Sheet"?>'
           b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet/></Workbook>')
    with pytest.raises(UnsafeContentError):
        read_document(xml, "a.xls")


# ---------------------------------------------------------------- cell values
@pytest.mark.parametrize(
    ("value", "text"),
    [(120.0, "120"), (12.5, "12.5"), (0.1 + 0.2, "0.3"), (7, "7"), (True, "TRUE"), (None, ""), ("  甲 ", "甲"),
     (float("nan"), "")],
)
def test_format_value(value, text: str) -> None:
    assert format_value(value) == text


def test_xlsx_dates_numbers_and_far_cells() -> None:
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = dt.datetime(2020, 2, 17)
    ws["B1"] = dt.datetime(2020, 2, 17, 9, 30)
    ws["C1"] = 85.0
    ws["D1"] = 3.25
    ws["A3"] = "下一段"
    ws.cell(row=3, column=2000, value="超出列上限的内容")  # beyond max_columns: ignored
    buf = io.BytesIO()
    wb.save(buf)
    doc = read_document(buf.getvalue(), "t.xlsx", Limits(max_columns=1000))
    assert doc.tables[0].rows == [["2020-02-17", "2020-02-17 09:30:00", "85", "3.25"], [], ["下一段"]]


# ---------------------------------------------------------------- zip members
def test_zip_member_names_in_gbk_without_the_utf8_flag() -> None:
    doc = read_fixture("weekly_gbk_names.zip")
    assert doc.format == "zip"
    assert [(name, member.format) for name, member in doc.members] == [
        ("广州市周报.xlsx", "xlsx"),
        ("材料/营业执照.pdf", "pdf"),
    ]
    assert doc.members[0][1].tables[0].rows == WEEKLY_SHEET


@pytest.mark.parametrize(
    ("raw", "flag", "expected"),
    [
        ("广州市周报.xlsx".encode("gbk"), 0, "广州市周报.xlsx"),
        ("广州市周报.xlsx".encode(), 0, "广州市周报.xlsx"),  # macOS: UTF-8 bytes, no flag
        ("广州市周报.xlsx".encode(), 0x800, "广州市周报.xlsx"),
        (b"report.xlsx", 0, "report.xlsx"),
    ],
)
def test_decode_member_name(raw: bytes, flag: int, expected: str) -> None:
    info = zipfile.ZipInfo(raw.decode("utf-8") if flag else raw.decode("cp437"))
    info.flag_bits = flag
    assert decode_member_name(info) == expected


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _mark_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' flag bit on every local and central header of a zip."""
    out = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := out.find(signature, start)) != -1:
            (flags,) = struct.unpack_from("<H", out, pos + flag_offset)
            struct.pack_into("<H", out, pos + flag_offset, flags | 0x1)
            start = pos + 4
    return bytes(out)


def test_zip_member_problems_stay_with_the_member() -> None:
    data = _zip({"坏.xlsx": b"PK\x03\x04garbage", "空.docx": b"", "好.txt": "说明".encode()})
    doc = read_document(data, "材料.zip")
    assert [(n, m.format, m.problems) for n, m in doc.members] == [
        ("坏.xlsx", "xlsx", ["附件“坏.xlsx”已损坏或不完整，无法作为 xlsx 文件打开，请重新保存后发送"]),
        ("空.docx", "unknown", ["附件“空.docx”是空文件（0 字节），请重新添加附件后发送"]),
        ("好.txt", "text", []),
    ]


def test_encrypted_zip_member_is_a_problem_not_a_crash() -> None:
    doc = read_document(_mark_encrypted(_zip({"周报.xlsx": b"secret"})), "加密.zip")
    assert doc.members == [
        ("周报.xlsx", Document(format="unknown", problems=["压缩包内文件“周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送"]))
    ]


def test_encrypted_members_inside_an_xlsx_make_it_encrypted() -> None:
    with pytest.raises(EncryptedFileError):
        read_document(_mark_encrypted(fixture_bytes("weekly.xlsx")), "周报.xlsx")


# ---------------------------------------------------------------- broken and hostile files
@pytest.mark.parametrize(
    ("name", "error", "problem"),
    [
        ("hostile_empty.xlsx", EmptyFileError, "附件“hostile_empty.xlsx”是空文件（0 字节），请重新添加附件后发送"),
        ("hostile_random.xlsx", CorruptFileError,
         "附件“hostile_random.xlsx”已损坏或不完整，无法作为 xlsx 文件打开，请重新保存后发送"),
        ("hostile_truncated.xlsx", CorruptFileError,
         "附件“hostile_truncated.xlsx”已损坏或不完整，无法作为 xlsx 文件打开，请重新保存后发送"),
        ("hostile_truncated.docx", CorruptFileError,
         "附件“hostile_truncated.docx”已损坏或不完整，无法作为 docx 文件打开，请重新保存后发送"),
        ("hostile_truncated.pdf", CorruptFileError,
         "附件“hostile_truncated.pdf”已损坏或不完整，无法作为 pdf 文件打开，请重新保存后发送"),
        ("hostile_billion_laughs.xlsx", UnsafeContentError,
         "附件“hostile_billion_laughs.xlsx”含有不安全的内容（XML 实体定义），已拒绝读取，请用 Excel/WPS 重新保存后发送"),
    ],
)
def test_broken_files_raise_a_specific_error(name: str, error: type, problem: str) -> None:
    with pytest.raises(error) as info:
        read_fixture(name)
    assert info.value.problem == problem
    assert info.value.filename == name


@pytest.mark.parametrize(
    ("name", "keep", "fmt"),
    [("weekly.xls", 0.5, "xls"), ("weekly.xls", 0.05, "xls"), ("application.docx", 0.9, "docx"),
     ("weekly_gbk_names.zip", 0.5, "zip")],
)
def test_truncated_files_of_other_formats(name: str, keep: float, fmt: str) -> None:
    data = build.truncated(fixture_bytes(name), keep)
    target = f"截断.{name.rsplit('.', 1)[1]}"
    with pytest.raises(CorruptFileError) as info:
        read_document(data, target)
    assert info.value.problem == f"附件“{target}”已损坏或不完整，无法作为 {fmt} 文件打开，请重新保存后发送"


def test_openpyxl_uses_defusedxml() -> None:
    assert openpyxl.DEFUSEDXML is True


def test_docx_with_a_doctype_is_refused() -> None:
    def arm(xml: str) -> str:
        return xml.replace("<w:document", '<!DOCTYPE d [<!ENTITY a "aaaaaaaa">]><w:document', 1)

    data = build._rewrite_zip(fixture_bytes("weekly.docx"), {"word/document.xml": arm})
    with pytest.raises(UnsafeContentError):
        read_document(data, "周报.docx")


@pytest.mark.parametrize(
    ("make", "limits", "kind"),
    [
        (lambda: build.make_zip_bomb(20), Limits(), "compression_ratio"),
        (lambda: build.make_zip_bomb(20), Limits(max_compression_ratio=10**6, max_unzipped_bytes=10 * 2**20),
         "unzipped_size"),
        (lambda: build.make_many_members_zip(1001), Limits(), "zip_members"),
        (lambda: build.make_nested_zip(4), Limits(), "zip_depth"),
        # a bomb hidden one level down condemns the whole attachment
        (lambda: build.make_nested_zip(1, build.make_zip_bomb(20), "inner.zip"), Limits(), "compression_ratio"),
        (lambda: fixture_bytes("weekly.xlsx"), Limits(max_rows=5), "rows"),
        (lambda: fixture_bytes("weekly.xls"), Limits(max_rows=5), "rows"),
        (lambda: fixture_bytes("weekly_html.xls"), Limits(max_rows=5), "rows"),
        (lambda: fixture_bytes("weekly.pdf"), Limits(max_pdf_pages=0), "pdf_pages"),
        (lambda: fixture_bytes("weekly.docx"), Limits(max_attachment_bytes=1000), "attachment_size"),
    ],
)
def test_limits_refuse_before_expanding(make, limits: Limits, kind: str) -> None:
    with pytest.raises(LimitExceededError) as info:
        read_document(make(), "附件.zip", limits)
    assert info.value.kind == kind
    assert info.value.problem.startswith("附件“附件.zip”")


def test_nested_zip_within_the_depth_limit_is_read() -> None:
    doc = read_document(build.make_nested_zip(3), "三层.zip")
    level2 = doc.members[0][1]
    level3 = level2.members[0][1]
    assert (doc.members[0][0], level2.members[0][0], level3.members[0][0]) == ("level2.zip", "level3.zip", "a.txt")
    assert level3.members[0][1].text == "hello"


# ---------------------------------------------------------------- PDF streams inflate under a budget
MB = 2**20


@pytest.mark.parametrize(
    ("make", "limits"),
    [
        (lambda: build.make_pdf_huge_stream(100), Limits()),  # FlateDecode: 100 MB of spaces in 100 KB
        (lambda: build.make_pdf_with_stream(zlib.compress(build.deflated_spaces(100)), ["FlateDecode", "FlateDecode"]),
         Limits()),  # deflated twice: the inner stream is small, what it inflates to is not
        (lambda: build.make_pdf_with_stream(build.deflated_spaces(100).hex().encode() + b">",
                                            ["ASCIIHexDecode", "FlateDecode"]), Limits()),  # hex on the outside
        (lambda: build.make_pdf_with_stream(build.lzw_zeros(10), ["LZWDecode"]), Limits()),  # 74 MB from 58 KB
        (lambda: build.make_pdf_with_stream(bytes([129, 0]) * 150_000 + b"\x80", ["RunLengthDecode"]),
         Limits(max_pdf_stream_bytes=16 * MB)),  # 128 bytes from every 2: 19 MB
        (lambda: build.make_pdf_with_stream(b"z" * 300_000 + b"~>", ["ASCII85Decode"]),
         Limits(max_pdf_stream_bytes=1 * MB)),  # refused by its bound alone (4 bytes a "z"), nothing decoded
    ],
    ids=["flate", "flate-in-flate", "hex-then-flate", "lzw", "runlength", "ascii85"],
)
def test_pdf_stream_bomb_is_refused_before_it_grows(make, limits: Limits) -> None:
    data = make()
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError) as info:
            read_document(data, "周报.pdf", limits)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.kind == "pdf_stream"
    limit = human_size(limits.max_pdf_stream_bytes)
    assert info.value.problem == (f"附件“周报.pdf”PDF 内容解压后过大（疑似压缩炸弹）（数据流解压后超过 {limit} 的上限），"
                                  "未予读取，请精简或拆分后重新发送")
    assert peak < 8 * MB + 2 * len(data)  # unchecked, each would hold 16 to 100 MB


def test_pdf_stream_budget_is_a_total_and_a_stream_within_it_is_read() -> None:
    within = read_document(build.make_pdf_huge_stream(1), "一页.pdf", Limits(max_pdf_stream_bytes=2 * MB))
    assert (within.format, within.text) == ("pdf", "")
    with pytest.raises(LimitExceededError):
        read_document(build.make_pdf_huge_stream(3), "一页.pdf", Limits(max_pdf_stream_bytes=2 * MB))
    # a real form: its streams (content, fonts, ToUnicode maps) count together
    form = fixture_bytes("writers/application_libreoffice.pdf")
    assert "统一社会信用代码" in read_document(form, "表.pdf").text
    with pytest.raises(LimitExceededError) as info:
        read_document(form, "表.pdf", Limits(max_pdf_stream_bytes=20_000))
    assert info.value.kind == "pdf_stream"


# ---------------------------------------------------------------- legacy formats (.doc/.wps, .et that is not BIFF)
def test_legacy_format_refused_without_a_converter() -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        read_fixture("weekly.doc", converter=None)
    assert info.value.problem == (
        "附件“weekly.doc”：不支持的文件格式（.doc），请另存为 xlsx/docx/pdf 后重新发送 / unsupported format, please resend as xlsx/docx/pdf"
    )


def test_legacy_format_goes_through_the_converter() -> None:
    calls = []

    def fake_converter(data: bytes, filename: str, fmt: str, target: str) -> bytes:
        calls.append((filename, fmt, target))
        return fixture_bytes("weekly.docx")

    doc = read_fixture("weekly_native.wps", converter=fake_converter)
    assert calls == [("weekly_native.wps", "wps", "docx")]
    assert (doc.format, doc.tables[0].rows, doc.text) == ("wps", WEEKLY_WORD_TABLE, FOOTER)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="branch for machines with LibreOffice")
@pytest.mark.parametrize("name", ["weekly.doc", "weekly_native.wps"])
def test_legacy_format_with_libreoffice(name: str) -> None:
    doc = read_fixture(name)
    assert (doc.tables[0].rows, doc.text) == (WEEKLY_WORD_TABLE, FOOTER)


def test_legacy_format_without_libreoffice(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without soffice, whatever this one has
    with pytest.raises(UnsupportedFormatError):
        read_fixture("weekly.doc")


def test_word_content_controls_are_looked_into() -> None:
    def wrap_table(xml: str) -> str:
        start, end = xml.index("<w:tbl>"), xml.index("</w:tbl>") + len("</w:tbl>")
        return xml[:start] + "<w:sdt><w:sdtContent>" + xml[start:end] + "</w:sdtContent></w:sdt>" + xml[end:]

    data = build._rewrite_zip(fixture_bytes("weekly.docx"), {"word/document.xml": wrap_table})
    assert read_document(data, "周报.docx").tables[0].rows == WEEKLY_WORD_TABLE


@pytest.mark.parametrize(
    ("mimetype", "name", "fmt", "target"),
    [
        (b"application/vnd.oasis.opendocument.spreadsheet", "周报.ods", "odf", "xlsx"),
        (b"application/vnd.oasis.opendocument.text", "周报.odt", "odf", "docx"),
    ],
)
def test_opendocument_is_converted_to_the_matching_ooxml(mimetype: bytes, name: str, fmt: str, target: str) -> None:
    data = _zip({"mimetype": mimetype, "content.xml": b"<office:document-content/>"})
    calls = []

    def fake_converter(data: bytes, filename: str, fmt: str, target: str) -> bytes:
        calls.append((fmt, target))
        return fixture_bytes("weekly.xlsx" if target == "xlsx" else "weekly.docx")

    doc = read_document(data, name, converter=fake_converter)
    assert (calls, doc.format, len(doc.tables)) == ([(fmt, target)], fmt, 1)


def test_xlsb_is_detected_and_needs_conversion() -> None:
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00"})
    assert detect_format(data, "周报.xlsb") == "xlsb"
    with pytest.raises(UnsupportedFormatError):
        read_document(data, "周报.xlsb", converter=None)


def test_mhtml_single_file_web_page_saved_as_xls() -> None:
    html = fixture_bytes("weekly_html.xls").decode("gbk").replace("charset=gb2312", "")

    body = quopri.encodestring(html.encode("gbk")).decode("ascii")
    mhtml = (
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="----=_NextPart_01"\r\n\r\n'
        "------=_NextPart_01\r\n"
        "Content-Location: file:///C:/sheet.htm\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        'Content-Type: text/html; charset="gb2312"\r\n\r\n'
        f"{body}\r\n"
        "------=_NextPart_01--\r\n"
    ).encode("ascii")
    assert detect_format(mhtml, "周报.xls") == "xls-html"
    doc = read_document(mhtml, "周报.xls")
    assert doc.tables[0].rows == weekly_html_sheet()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="branch for machines with LibreOffice")
def test_libreoffice_timeout_is_a_conversion_problem() -> None:
    with pytest.raises(ConversionError) as info:
        read_fixture("weekly.doc", limits=Limits(conversion_timeout_s=0.01))
    assert info.value.problem == "附件“weekly.doc”（.doc）转换失败，请另存为 xlsx/docx/pdf 后重新发送"
