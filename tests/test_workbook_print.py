"""The staff workbooks on paper: converted to PDF by LibreOffice and read back with pdfplumber.

The seeded week (test_digest.seed_week) plus what makes printing hard: a city
whose problems run to several lines, long enterprise and platform names, an
application with a long introduction and web address, projects numbered by the
form from 0. Every page must be A4, the page count what the layout promises,
every character drawn in a sans face, and no character outside its cell (text
cut at a cell's edge or bottom, or running over the next cell, still lies in
the PDF beyond the cell's border) nor outside the paper. With
ZXJYCK_UPDATE_DOCS=1 the pages are also rendered to docs/workbooks/*.png
(pdftoppm).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pdfplumber
import pytest
from sqlmodel import select

from ingest.outputs.workbooks import export_workbook
from store.db import session_scope
from store.models import Application, ApplicationProject
from tests.conftest import REPO, sqlite_app
from tests.test_digest import WEEK, Seeder, seed_week, sh

DOCS = REPO / "docs" / "workbooks"
LONG_PROBLEMS = [
    "第4行“备案人数”无法识别：“约一百二十人（含外包人员，另有三十人待确认）”",
    "第6行“企业名称”为空",
    "表内未填写报送时间，按2020-02-17至2020-02-23处理",
    "发件人 a.very.long.personal.mailbox@some-provider.example.com 不是江门市登记的报送邮箱，已暂存待工作人员确认"
    " / sender is not a registered address of 江门市",
]
LONG_INTRO = ("面向制造业、现代服务业和建筑业企业职工的线上职业技能培训平台，提供直播、录播、"
              "在线考试与证书查询，支持企业批量报名、学时统计和培训档案管理。") * 2
A4 = {(595, 842), (842, 595)}


@pytest.fixture(scope="module")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found, "LibreOffice is needed to print the workbooks (apt-get install libreoffice-calc-nogui)"
    return found


@pytest.fixture
def printed(tmp_path: Path, make_app, soffice: str) -> dict[str, Path]:
    app = sqlite_app(tmp_path, make_app)  # the printed layout does not depend on the database
    seed_week(app)
    with session_scope(app.engine) as session:
        seeder = Seeder(session)
        seeder.n = 700
        seeder.report("江门市", sh(2, 24, 13), [
            ("江门市蓬江区某某精密五金制品与智能制造装备有限责任公司（新会分厂及鹤山生产基地）", 12,
             "粤技通在线学习平台（企业版）暨南粤职业技能提升线上培训云平台"),
            ("江门某某", 8, "腾讯课堂")], status="needs_correction", problems=LONG_PROBLEMS)
        for application in session.exec(select(Application)):
            application.intro = LONG_INTRO
            application.website = "https://www.yuejitong-online-training.example.com.cn/platform/index"
            if application.complete:  # as processing files it: the batch of the day it became complete
                application.batch = "首批"
        for project in session.exec(select(ApplicationProject)):
            project.position -= 1  # as a form numbered from 0 gives them
    out = {"week": export_workbook(app, tmp_path / "week.xlsx", week=WEEK, applications=False),
           "applications": export_workbook(app, tmp_path / "applications.xlsx", week=None, applications=True)}
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--norestore",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), *map(str, out.values())],
                   check=True, capture_output=True, timeout=240)
    pdfs = {name: tmp_path / f"{path.stem}.pdf" for name, path in out.items()}
    for name, path in out.items():
        pdfs[f"{name}.xlsx"] = path
    if os.environ.get("ZXJYCK_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for old in DOCS.glob("*.png"):
            old.unlink()
        for name, pdf in pdfs.items():
            if name.endswith(".xlsx"):
                continue
            subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(DOCS / name)], check=True, timeout=120)
    return pdfs


def _pages(pdf: Path) -> list:
    with pdfplumber.open(pdf) as doc:
        return [(round(p.width), round(p.height), p.chars, [c for t in p.find_tables() for c in t.cells if c],
                 p.extract_text() or "") for p in doc.pages]


def _table_rows(pdf: Path, page: int) -> list[list[str]]:
    """The table cells of one page, each cell's wrapped lines joined again."""
    with pdfplumber.open(pdf) as doc:
        return [[(cell or "").replace("\n", "") for cell in row]
                for table in doc.pages[page].extract_tables() for row in table]


def _squash(text: str) -> str:
    return "".join(text.split())


def _cut_texts(xlsx: Path, pdf: Path) -> list[str]:
    """Text cells of the workbook that do not come out whole on paper.

    LibreOffice leaves out of the PDF what a cell clips, so a cut text is one that no table cell
    (its wrapped lines joined) and no line run of the page (titles, notes under a table) holds whole.
    """
    import openpyxl

    with pdfplumber.open(pdf) as doc:
        cells = {_squash(cell or "") for page in doc.pages for table in page.extract_tables()
                 for row in table for cell in row}
        running = _squash("".join(page.extract_text() or "" for page in doc.pages))
    cut = []
    for ws in openpyxl.load_workbook(xlsx).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.strip():
                    text = _squash(cell.value)
                    if text not in cells and text not in running:
                        cut.append(f"{ws.title}!{cell.coordinate}: {cell.value[:40]}")
    return cut


def _overflows(width: int, height: int, chars: list, cells: list) -> list[str]:
    """Characters not wholly inside the table cell their centre falls in, or off the paper."""
    bad = []
    for ch in chars:
        if not ch["text"].strip():
            continue
        cx, cy = (ch["x0"] + ch["x1"]) / 2, (ch["top"] + ch["bottom"]) / 2
        home = [c for c in cells if c[0] <= cx <= c[2] and c[1] <= cy <= c[3]]
        box = min(home, key=lambda c: (c[2] - c[0]) * (c[3] - c[1])) if home else (10, 10, width - 10, height - 10)
        tol = 0.8
        if ch["x0"] < box[0] - tol or ch["x1"] > box[2] + tol or ch["top"] < box[1] - tol or ch["bottom"] > box[3] + tol:
            bad.append(f"{ch['text']!r} at ({ch['x0']:.0f},{ch['top']:.0f})-({ch['x1']:.0f},{ch['bottom']:.0f})"
                       f" outside {tuple(round(v) for v in box)}")
    return bad


def test_week_workbook_prints_on_a4_one_page_per_sheet_with_nothing_cut(printed) -> None:
    assert _cut_texts(printed["week.xlsx"], printed["week"]) == []
    pages = _pages(printed["week"])
    # 汇总 on two pages (江门's problems make its row tall; title and header repeated on the second),
    # 平台汇总, and one page per city sheet (广州 深圳 珠海 汕头 佛山 江门)
    assert len(pages) == 2 + 1 + 6
    for number, (width, height, chars, cells, text) in enumerate(pages, start=1):
        assert (width, height) in A4, number
        assert _overflows(width, height, chars, cells) == [], number
        assert "2020年2月17日—2月23日" in text.replace("\n", ""), f"page {number} has no week"
        assert f"第 {number} 页，共 {len(pages)} 页" in text
    assert pages[0][:2] == pages[1][:2] == (842, 595)  # the summary is landscape
    assert "序号地市状态逾期企业数备案人数" in pages[1][4].replace("\n", "").replace(" ", "")
    summary = (pages[0][4] + pages[1][4]).replace("\n", "")
    assert "约一百二十人（含外包人员，另有三十人待确认）" in summary  # the whole 问题 text is there, wrapped
    assert "sender is not" not in summary  # staff read Chinese
    jiangmen = _table_rows(printed["week"], len(pages) - 1)
    assert ["1", "江门市蓬江区某某精密五金制品与智能制造装备有限责任公司（新会分厂及鹤山生产基地）", "12",
            "粤技通在线学习平台（企业版）暨南粤职业技能提升线上培训云平台"] in jiangmen  # wrapped, whole
    assert "各培训平台汇总" in pages[2][4]


def test_every_character_is_printed_in_a_sans_face(printed) -> None:
    for name in ("week", "applications"):
        pdf = printed[name]
        faces = {ch["fontname"].split("+")[-1] for _w, _h, chars, _c, _t in _pages(pdf) for ch in chars}
        assert faces and all("Sans" in face for face in faces), (name, faces)


def test_applications_workbook_prints_full_size_with_repeated_header(printed) -> None:
    assert _cut_texts(printed["applications.xlsx"], printed["applications"]) == []
    pages = _pages(printed["applications"])
    # 申报汇总: the 18 columns side by side on 4 landscape pages, 序号 and 平台名称 on each; 培训项目: 1 page
    assert len(pages) == 4 + 1
    for number, (width, height, chars, cells, text) in enumerate(pages, start=1):
        assert (width, height) == (842, 595), number
        assert _overflows(width, height, chars, cells) == [], number
        assert "线上培训平台申报" in text and "共2件" in text
        sizes = {round(ch["size"]) for ch in chars if ch["text"].strip()}
        assert min(sizes) >= 8, (number, sizes)  # full size, never squeezed to a few points
    for _w, _h, _chars, _cells, text in pages[:4]:
        assert "序号" in text and "平台名称" in text and "粤技通在线学习平台" in text and "云课堂" in text
    projects = [row[:3] for row in _table_rows(printed["applications"], 4)[1:]]
    assert projects == [["粤技通在线学习平台", "1", "电工技能提升"], ["粤技通在线学习平台", "2", "焊工安全培训"],
                        ["云课堂", "1", "客服礼仪"]]  # 1..n per platform, not the form's 0, 1, 0


def test_committed_page_renders_exist() -> None:
    names = sorted(p.name for p in DOCS.glob("*.png"))
    assert any(n.startswith("week-") for n in names) and any(n.startswith("applications-") for n in names), names
