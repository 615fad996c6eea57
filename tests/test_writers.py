"""The weekly and application forms as every writer we can run saves them: the same values out.

fixtures/build_writers.py writes the files (committed). Spreadsheets must give
the very same grid; Word files the same table; PDFs (where line wraps and
spaces are the printer's) the same parsed form. Files that go through the
LibreOffice conversion path (.ods/.odt) need LibreOffice at test time.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from parsers.analysis import analyze_attachment
from parsers.formats import EncryptedFileError, read_document
from parsers.formats.limits import Limits

WRITERS = Path(__file__).resolve().parent.parent / "fixtures" / "attachments" / "writers"
MAIL_DATE = dt.date(2020, 2, 24)

TITLE = "企业职工线上适岗技能提升培训备案情况统计表"
CITY_LINE = "地市名称：广州市  时间：2月17日——2月23日"
FOOTER = "填报人：张三 联系电话：020-12345678"
WEEKLY_BODY = [
    ["序号", "企业名称", "备案人数", "培训平台名称"],
    ["1", "广州市越秀科技有限公司", "120", "粤培通线上学习平台"],
    ["2", "广州珠江制造有限公司", "85", "学习强国"],
    ["3", "广州白云物流有限公司", "40", "腾讯课堂"],
    ["合计", "", "245"],
]
WEEKLY_SHEET = [[TITLE] * 4, [CITY_LINE] * 4, *WEEKLY_BODY, [FOOTER] * 4]
WEEKLY_WORD = [[TITLE] * 4, [CITY_LINE] * 4, *WEEKLY_BODY]


def _wide(label: str, value: str) -> list[str]:
    return [label, label] + [value] * 6


APPLICATION_GRID = [
    ["职业技能提升行动线上培训平台基本情况表"] * 8,
    _wide("平台名称", "粤技通在线学习平台"),
    _wide("网    址", "https://www.yuejitong.example.cn"),
    _wide("机构名称", "广东粤技通教育科技有限公司"),
    _wide("统一社会信用代码", "91440101MA59ABCD1D"),
    ["联系人", "联系人", "李四", "李四", "职务", "职务", "运营总监", "运营总监"],
    ["联系电话", "联系电话", "13800138000", "13800138000", "电子邮箱", "电子邮箱",
     "lisi@yuejitong.example.cn", "lisi@yuejitong.example.cn"],
    _wide("通讯地址", "广州市天河区体育西路100号"),
    _wide("平台简介", "面向企业职工的线上职业技能培训平台，提供电工、焊工等课程。"),
    ["培训项目"] * 8,
    ["序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"],
    ["1", "电工基础", "电工", "线上直播+录播", "48", "线上考试", "自有", "免费"],
    ["2", "焊接工艺", "焊工", "线上录播", "32", "实操考核", "合作开发", "200元/人"],
]

# writer output -> (format read_document reports, what the table holds: "sheet", "word" or None for PDF)
WRITER_FILES = {
    "openpyxl.xlsx": ("xlsx", "sheet"),
    "xlsxwriter.xlsx": ("xlsx", "sheet"),
    "excel_handmade.xlsx": ("xlsx", "sheet"),
    "wps_handmade.xlsx": ("xlsx", "sheet"),
    "wps_handmade.et": ("xlsx", "sheet"),
    "libreoffice.xlsx": ("xlsx", "sheet"),
    "libreoffice.xls": ("xls", "sheet"),
    "libreoffice_xls_as.et": ("et", "sheet"),
    "libreoffice.ods": ("odf", "sheet"),
    "python-docx.docx": ("docx", "word"),
    "libreoffice.docx": ("docx", "word"),
    "libreoffice.odt": ("odf", "word"),
    "libreoffice.pdf": ("pdf", None),
}
NEEDS_LIBREOFFICE = {"libreoffice.ods", "libreoffice.odt"}
CASES = [(form, writer) for form in ("weekly", "application") for writer in WRITER_FILES]


def _data(form: str, writer: str) -> tuple[str, bytes]:
    if writer in NEEDS_LIBREOFFICE and shutil.which("soffice") is None:
        pytest.skip("OpenDocument is read through LibreOffice, which is not installed")
    name = f"{form}_{writer}"
    return name, (WRITERS / name).read_bytes()


def _baseline(form: str):
    """What the parsers make of the openpyxl file: every other writer must give the same."""
    name = f"{form}_openpyxl.xlsx"
    return analyze_attachment((WRITERS / name).read_bytes(), name, MAIL_DATE, converter=None)


def _weekly_values(report) -> tuple:
    return (report.city, report.week_start, report.week_end, report.period_text, report.filled_by, report.phone,
            report.declared_total, [(r.enterprise, r.headcount, r.platform) for r in report.rows], report.problems)


@pytest.mark.parametrize(("form", "writer"), CASES, ids=[f"{f}-{w}" for f, w in CASES])
def test_every_writer_gives_the_same_grid(form: str, writer: str) -> None:
    name, data = _data(form, writer)
    fmt, kind = WRITER_FILES[writer]
    doc = read_document(data, name)
    assert doc.format == fmt
    assert doc.problems == []
    assert len(doc.tables) == 1
    rows = doc.tables[0].rows
    if form == "weekly":
        expected = {"sheet": WEEKLY_SHEET, "word": WEEKLY_WORD}.get(kind)
    else:
        expected = APPLICATION_GRID if kind else None
    if expected is None:  # PDF: the printer wraps long cells and collapses runs of spaces
        rows = [[" ".join(cell.replace("\n", "").split()) for cell in row] for row in rows]
        expected = WEEKLY_WORD if form == "weekly" else APPLICATION_GRID
        expected = [[" ".join(cell.split()) for cell in row] for row in expected]
    assert rows == expected


@pytest.mark.parametrize(("form", "writer"), CASES, ids=[f"{f}-{w}" for f, w in CASES])
def test_every_writer_gives_the_same_form(form: str, writer: str) -> None:
    name, data = _data(form, writer)
    result = analyze_attachment(data, name, MAIL_DATE)
    baseline = _baseline(form)
    assert result.problems == []
    if form == "weekly":
        assert result.weekly is not None
        assert _weekly_values(result.weekly) == _weekly_values(baseline.weekly)
        assert _weekly_values(result.weekly)[:7] == (
            "广州市", dt.date(2020, 2, 17), dt.date(2020, 2, 23), "2月17日——2月23日", "张三", "020-12345678", 245)
    else:
        assert result.application is not None
        assert result.application == baseline.application
        assert result.application.credit_code == "91440101MA59ABCD1D"
        assert [p.fee for p in result.application.projects] == ["免费", "200元/人"]


def test_the_writers_really_differ_in_how_they_store_text() -> None:
    """The point of the set: shared strings (Excel, WPS, LibreOffice), rich text, formula strings, inline."""
    def parts(name: str) -> tuple[str, str]:
        with zipfile.ZipFile(io.BytesIO((WRITERS / name).read_bytes())) as zf:
            sheet = zf.read("xl/worksheets/sheet1.xml").decode()
            shared = zf.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in zf.namelist() else ""
        return sheet, shared

    sheet, shared = parts("weekly_openpyxl.xlsx")
    assert 't="inlineStr"' in sheet and 't="s"' not in sheet
    for name in ("weekly_xlsxwriter.xlsx", "weekly_libreoffice.xlsx", "weekly_wps_handmade.xlsx"):
        sheet, shared = parts(name)
        assert 't="s"' in sheet and 'inlineStr' not in sheet and "<si>" in shared, name
    sheet, _ = parts("weekly_xlsxwriter.xlsx")
    assert "<f>SUM(C4:C6)</f><v>245</v>" in sheet
    sheet, shared = parts("weekly_excel_handmade.xlsx")
    assert all(marker in sheet for marker in ('t="s"', 't="inlineStr"', 't="str"'))
    assert "<r><rPr>" in shared and "<rPh" in shared and "_x000D_" in shared
    sheet, _ = parts("weekly_wps_handmade.xlsx")
    assert '<dimension ref="A1"/>' in sheet


def test_a_shared_string_index_past_the_table_is_a_corrupt_file() -> None:
    data = (WRITERS / "weekly_xlsxwriter.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b't="s"><v>0</v>', b't="s"><v>99999</v>', 1)
            dst.writestr(info, content)
    result = analyze_attachment(out.getvalue(), "周报.xlsx", MAIL_DATE, converter=None)
    assert result.problems == ["附件“周报.xlsx”已损坏或不完整，无法作为 xlsx 文件打开，请重新保存后发送"]


@pytest.mark.parametrize("name", ["weekly_encrypted.xlsx", "weekly_encrypted_named.xls", "application_encrypted.docx",
                                  "weekly_encrypted_biff.xls", "application_encrypted_word97.doc"])
def test_password_protected_files_say_so(name: str) -> None:
    data = (WRITERS / name).read_bytes()
    assert data.startswith(b"\xd0\xcf\x11\xe0")  # an OLE2 file, as Office stores an encrypted package
    with pytest.raises(EncryptedFileError):
        read_document(data, name, Limits(), converter=None)
    result = analyze_attachment(data, name, MAIL_DATE, converter=None)
    assert result.problems == [f"附件“{name}”设置了密码（已加密），无法读取，请去掉密码后重新发送"]


def test_password_protected_file_inside_a_zip_is_named() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("广州周报.xlsx", (WRITERS / "weekly_encrypted.xlsx").read_bytes())
        zf.writestr("说明.txt", "见附件".encode())
    result = analyze_attachment(buf.getvalue(), "材料.zip", MAIL_DATE, converter=None)
    assert "附件“广州周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送" in result.all_problems
