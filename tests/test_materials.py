"""classify_material: file name first, then the form itself, then the content."""

from __future__ import annotations

import pytest

from parsers.materials import MaterialGuess, classify_material
from tests.form_builders import doc, merged, table


@pytest.mark.parametrize(
    ("filename", "category", "evidence", "confidence"),
    [
        ("附件1：职业技能提升行动线上培训平台基本情况表.xlsx", "basic_form", "文件名含“基本情况表”", 0.95),
        ("基本情况表（粤学通）.docx", "basic_form", "文件名含“基本情况表”", 0.95),
        ("营业执照.pdf", "credentials", "文件名含“营业执照”", 0.95),
        ("营业执照副本扫描件.JPG", "credentials", "文件名含“营业执照”", 0.95),
        ("ＩＣＰ 备案.png", "credentials", "文件名含“icp备案”", 0.95),
        ("ICP许可证.pdf", "credentials", "文件名含“icp许可”", 0.95),
        ("民办学校办学许可证.pdf", "credentials", "文件名含“办学许可”", 0.95),
        ("二、机构资信类材料.zip", "credentials", "文件名含“资信”", 0.9),
        ("事业单位法人证书.pdf", "credentials", "文件名含“事业单位法人”", 0.95),
        ("授权书.pdf", "credentials", "文件名含“授权书”", 0.9),
        ("信息系统安全等级保护备案证明.pdf", "credentials", "文件名含“等级保护备案证明”", 0.9),
        ("三、平台建设材料.docx", "construction", "文件名含“平台建设”", 0.95),
        ("平台架构说明.docx", "construction", "文件名含“平台架构”", 0.95),
        ("系统 架构图.png", "construction", "文件名含“系统架构”", 0.95),
        ("信息安全保障措施.doc", "construction", "文件名含“信息安全”", 0.9),
        ("个人信息保护制度.pdf", "construction", "文件名含“个人信息保护”", 0.9),
        ("服务器配置清单.xlsx", "construction", "文件名含“服务器”", 0.85),
        ("技术方案.pdf", "construction", "文件名含“技术方案”", 0.9),
        ("四、平台运行材料.pdf", "operation", "文件名含“平台运行”", 0.95),
        ("运行机制说明.docx", "operation", "文件名含“运行机制”", 0.95),
        ("质量管控办法.docx", "operation", "文件名含“质量管控”", 0.95),
        ("服务保障方案.pdf", "operation", "文件名含“服务保障”", 0.95),
        ("运维管理制度.docx", "operation", "文件名含“运维”", 0.9),
        ("五、平台培训内容材料.pdf", "content", "文件名含“培训内容”", 0.95),
        ("课程目录.xlsx", "content", "文件名含“课程目录”", 0.95),
        ("课程清单（2020版）.xls", "content", "文件名含“课程清单”", 0.95),
        ("电工培训大纲.doc", "content", "文件名含“培训大纲”", 0.95),
        ("教学计划.docx", "content", "文件名含“教学计划”", 0.95),
        ("附件4-师资介绍.docx", "content", "文件名含“师资”", 0.95),
        ("考核办法.pdf", "content", "文件名含“考核”", 0.85),
        # two items in one name: the stronger keyword, then the earlier one
        ("平台运行管理制度及信息安全制度.docx", "operation", "文件名含“平台运行”", 0.95),
        ("营业执照及ICP备案.pdf", "credentials", "文件名含“营业执照”", 0.95),
        # 附件1 alone is weak: people number their own files
        ("附件1.docx", "basic_form", "文件名含“附件1”", 0.5),
        ("附件１.xlsx", "basic_form", "文件名含“附件1”", 0.5),
    ],
)
def test_by_file_name(filename: str, category: str, evidence: str, confidence: float) -> None:
    assert classify_material(filename, None) == MaterialGuess(category, evidence, confidence)


def test_name_beats_content() -> None:
    content = doc(text="课程目录\n1 电工基础\n2 焊工基础", fmt="docx")
    assert classify_material("营业执照.docx", content) == MaterialGuess("credentials", "文件名含“营业执照”", 0.95)


def test_the_form_itself_is_basic_form() -> None:
    form = doc(table([
        merged("职业技能提升行动线上培训平台基本情况表", 4),
        ["平台名称", "粤学通", "网址", "www.example.com"],
        ["机构名称", "某公司", "统一社会信用代码", "91440300708461136T"],
        ["联系人", "张三", "联系电话", "13812345678"],
    ]), fmt="xlsx")
    assert classify_material("粤学通申报.xlsx", form) == MaterialGuess("basic_form", "内容为线上培训平台基本情况表", 0.9)


@pytest.mark.parametrize(
    ("text", "category", "evidence", "confidence"),
    [
        ("平台运行保障方案\n一、运维团队\n二、客服体系", "operation", "标题含“平台运行”", 0.76),
        ("粤学通\n课程介绍\n本平台提供……", "content", "标题含“课程介绍”", 0.76),
        ("关于我司的说明\n" + "本公司系统架构采用微服务，服务器部署于云端，具备容灾备份能力。" * 2,
         "construction", "内容含“系统架构”“服务器”“容灾”", 0.7),
    ],
)
def test_by_content(text: str, category: str, evidence: str, confidence: float) -> None:
    assert classify_material("材料.docx", doc(text=text, fmt="docx")) == MaterialGuess(category, evidence, confidence)


def test_table_text_counts_as_content() -> None:
    courses = doc(table([["序号", "课程名称", "课时"], ["1", "电工基础", "8"]], "sheet 'Sheet1'"),
                  table([["课程目录"]]), fmt="xlsx")
    guess = classify_material("粤学通.xlsx", courses)
    assert guess is not None
    assert guess.category == "content"


@pytest.mark.parametrize(
    ("filename", "document"),
    [
        ("IMG_0001.jpg", None),
        ("新建文件夹.zip", None),
        ("粤学通平台材料.pdf", doc(text="你好", fmt="pdf")),
        ("document.pdf", doc(fmt="pdf")),
    ],
)
def test_nothing_matches(filename: str, document) -> None:
    assert classify_material(filename, document) is None


def test_archive_takes_the_category_of_most_members() -> None:
    archive = doc(fmt="zip")
    archive.members = [
        ("营业执照.pdf", doc(fmt="pdf")),
        ("ICP备案截图.png", doc(fmt="image")),
        ("平台架构.docx", doc(fmt="docx")),
        ("scan001.jpg", doc(fmt="image")),
    ]
    assert classify_material("材料.zip", archive) == MaterialGuess(
        "credentials", "压缩包内2个文件：文件名含“营业执照”", 0.65)


def test_archive_name_beats_members() -> None:
    archive = doc(fmt="zip")
    archive.members = [("营业执照.pdf", doc(fmt="pdf"))]
    assert classify_material("平台建设材料.zip", archive) == MaterialGuess("construction", "文件名含“平台建设”", 0.95)


def test_weekly_form_is_not_a_material() -> None:
    weekly = doc(table([
        ["企业职工线上适岗技能提升培训备案情况统计表"] * 4,
        ["序号", "企业名称", "备案人数", "培训平台名称"],
        ["1", "甲公司", "10", "粤学通"],
    ]), text="企业职工线上适岗技能提升培训备案情况统计表", fmt="xlsx")
    assert classify_material("2月17日-2月23日周报.xlsx", weekly) is None
