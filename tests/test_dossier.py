"""`zxjyck export --dossier`: the expert panel's folders and zips, from mail ingested end to end."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime

import pdfplumber
import pytest
from openpyxl import load_workbook

from ingest.cli.main import main
from ingest.pipeline.analyse import InProcessAnalyzer
from notify.transport import MemoryTransport
from tests.conftest import FIXTURES
from tests.test_application_paths import (
    MATERIALS,
    SCAN,
    SENDER,
    STAMPED_SCAN,
    ScriptedAnalyzer,
    ingest,
    mail,
    notice,
    scan_bytes,
)

HOSTILE = "../../评审/营业执照:副本*?.pdf"  # a sender's name with separators and characters Windows refuses


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def loaded(app, clock, tmp_path):
    """One complete application (form read from a stamped scan, a material inside a zip) and one incomplete."""
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    analyzer = ScriptedAnalyzer()
    analyzer.ocr[SCAN] = {**STAMPED_SCAN, "ocr_fields": {**STAMPED_SCAN["ocr_fields"], "address": 0.71}}
    app.analyzer, app.transport = analyzer, MemoryTransport()
    files = dict(MATERIALS)
    licence = files.pop("营业执照.pdf")
    content_name, content = next((k, v) for k, v in files.items() if k.startswith("培训内容"))
    del files[content_name]
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC),
         files={SCAN: scan_bytes(), HOSTILE: licence, "课程材料.zip": zipped({content_name: content}), **files})
    mail(tmp_path / "in", "b.eml", sender="other@example.com", subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC),
         files={"附件1.docx": (FIXTURES / "attachments" / "application.docx").read_bytes()})
    doc = ingest(app, tmp_path / "in")
    assert [a["complete"] for a in doc["applications"]] == [True, False]
    app.analyzer = InProcessAnalyzer()
    return app, {"licence": licence, "content": content, "content_name": content_name}


def run_cli(app, *args: str) -> int:
    return main(["--config", str(app.settings.path), "export", *args])


def test_dossier_folder_zip_cover_and_read_values(loaded, tmp_path, capsys):
    app, originals = loaded
    out = tmp_path / "dossier"
    assert run_cli(app, "--dossier", "--out", str(out)) == 0
    assert "1 件申报" in capsys.readouterr().out
    folder = out / "01_南粤工匠云课堂"
    assert sorted(p.name for p in out.iterdir()) == ["01_南粤工匠云课堂", "01_南粤工匠云课堂.zip"]
    listing = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert listing == sorted([
        "封面_南粤工匠云课堂.pdf", "封面_南粤工匠云课堂.xlsx",
        f"1_基本情况表/{SCAN}", "1_基本情况表/识别结果.pdf",
        "2_机构资信类材料/营业执照副本.pdf",
        "3_平台建设材料/平台架构说明.docx",
        "4_平台运行材料/平台运行机制及质量管控体系.docx",
        f"5_平台培训内容材料/{originals['content_name']}",
    ])
    # the senders' bytes, unchanged, including the one taken out of the zip attachment
    assert (folder / "2_机构资信类材料/营业执照副本.pdf").read_bytes() == originals["licence"]
    assert (folder / f"5_平台培训内容材料/{originals['content_name']}").read_bytes() == originals["content"]
    assert (folder / f"1_基本情况表/{SCAN}").read_bytes() == scan_bytes()
    with zipfile.ZipFile(out / "01_南粤工匠云课堂.zip") as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"01_南粤工匠云课堂/{p}" for p in listing)
        digest = hashlib.sha256(zf.read(f"01_南粤工匠云课堂/1_基本情况表/{SCAN}")).hexdigest()
        assert digest == hashlib.sha256(scan_bytes()).hexdigest()

    ws = load_workbook(folder / "封面_南粤工匠云课堂.xlsx").active
    cells = {ws.cell(row=r, column=1).value: ws.cell(row=r, column=2).value for r in range(1, ws.max_row + 1)}
    assert cells["注册登记机构"] == notice.VALUES["organization"]
    assert cells["统一社会信用代码"] in (notice.VALUES["credit_code"], f"{notice.VALUES['credit_code']}：校验通过")
    assert cells["批次"] == "首批"
    assert cells["公章"] == "已收到加盖公章的扫描件或照片"
    assert cells["材料"] == "五项材料齐全"
    assert cells["申报方式"] == "平台自行申报"
    column_a = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    assert "六、邮件往来" in column_a
    history = [ws.cell(row=r, column=2).value for r in range(column_a.index("六、邮件往来") + 3, ws.max_row + 1)]
    assert history[:1] == ["收到"] and "发出" in history  # our receipt follows their mail

    with pdfplumber.open(folder / "封面_南粤工匠云课堂.pdf") as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    for expected in (notice.VALUES["platform_name"], notice.VALUES["credit_code"], "校验通过", "五项材料齐全",
                     "焊接工艺基础", "营业执照副本.pdf"):
        assert expected in text.replace("\n", "")
    with pdfplumber.open(folder / "1_基本情况表/识别结果.pdf") as pdf:
        text = pdf.pages[0].extract_text().replace("\n", "")
    assert notice.VALUES["address"] in text and "0.71" in text and "0.97" in text


def test_dossier_by_batch_and_refusals(loaded, tmp_path, capsys):
    app, _ = loaded
    assert run_cli(app, "--dossier", "--batch", "常态征集", "--out", str(tmp_path / "later")) == 0
    assert [p for p in (tmp_path / "later").iterdir()] == []
    assert run_cli(app, "--dossier", "--batch", "首批", "--out", str(tmp_path / "first")) == 0
    assert len(list((tmp_path / "first").glob("*.zip"))) == 1
    assert run_cli(app, "--dossier", "--batch", "第九批", "--out", str(tmp_path / "x")) == 1
    assert "第九批" in capsys.readouterr().err
    assert run_cli(app, "--dossier") == 2  # no --out
    assert run_cli(app, "--batch", "首批", "--format", "json") == 2


def test_cover_pdf_survives_hostile_long_and_markup_text(tmp_path):
    """A stranger's 20 000-character introduction and reportlab markup in a name: the PDF is written."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from ingest.outputs.dossier import Dossier, MailEvent, MaterialFile
    from ingest.outputs.dossier_sheets import write_cover_pdf, write_cover_xlsx, write_read_values_pdf
    from store.models import Application, ApplicationProject

    now = datetime(2020, 2, 26, 2, 0, tzinfo=UTC)
    a = Application(key="k", platform_name="<b>平台</b> & <font size=90>x</font>", organization="=HYPERLINK(\"x\")",
                    intro="很长的简介。" * 3400 + "\n第二段", address="地址" * 800, first_received_at=now, updated_at=now,
                    form_scanned=True, ocr_fields={"intro": 0.5}, staff_problems=["<para>坏</para>"], stamped=None)
    d = Dossier(a, [ApplicationProject(application_id=1, position=0, name="课" * 2000, hours=48)],
                files=[MaterialFile("credentials", "<x>.pdf", "x.pdf")],
                history=[MailEvent(now, "收到", "a@b.cn", "<script>", "附件：" + "、".join(["f.pdf"] * 500))])
    tz = ZoneInfo("Asia/Shanghai")
    pdf = write_cover_pdf(d, tmp_path / "c.pdf", tz)
    write_read_values_pdf(d, tmp_path / "r.pdf")
    xlsx = write_cover_xlsx(d, tmp_path / "c.xlsx", tz)
    with pdfplumber.open(pdf) as doc:
        text = "".join(page.extract_text() or "" for page in doc.pages)
    assert "<b>平台</b>" in text.replace("\n", "") and "第二段" not in text  # shown as text, cut at the limit
    ws = load_workbook(xlsx).active
    cell = next(c for row in ws.iter_rows() for c in row if c.value and str(c.value).startswith("=HYPERLINK"))
    assert cell.data_type == "s"  # a sender's formula stays text
