"""From application to published list: the panel sheet and its return, the public list, outcome notices.

Twelve applications arrive through `ingest`; the panel sheet is exported, filled the way a panel
returns it (columns moved, a 备注 column, rows reordered, saved by LibreOffice), imported twice,
and the batch is published: the .docx (rendered to PDF by LibreOffice), the .xlsx and the HTML
are read back, searched for every contact field, and the applicants get one outcome notice each.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pdfplumber
import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select

from ingest.cli.main import main
from ingest.config import load_settings
from ingest.outputs.public_list import PublicList, write_public_list
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.panel import PANEL_COLUMNS, import_panel_sheet, set_verdict
from ingest.workflows.publication import cn_number, publish
from ingest.workflows.reminders import deliver
from notify.transport import MemoryTransport
from store.db import session_scope
from store.models import Application, AuditEntry, Outbox, PanelVerdict, Publication
from tests.conftest import write_config
from tests.panel_support import FIRST_MAIL, PANEL_CONFIG, Applicant, applicant, send_applications

BATCH = "首批"
TITLE = "第一批职业技能提升行动线上培训平台名单"
APPLICANTS = [applicant(n) for n in range(1, 13)]
# the panel's verdicts by applicant number: 8 selected, 2 not, 2 to supplement
VERDICTS = {n: "入选" for n in (1, 2, 3, 5, 6, 8, 9, 11)} | {4: "不入选", 7: "不入选", 10: "补充材料后再议",
                                                           12: "补充材料后再议"}


@pytest.fixture
def config_path(tmp_path: Path, store_url: str) -> Path:
    return write_config(tmp_path, store_url, extra=PANEL_CONFIG)


@pytest.fixture
def batch(app, clock, tmp_path):
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
    send_applications(tmp_path / "in", APPLICANTS, FIRST_MAIL)
    ingest_paths(app, [tmp_path / "in"])
    with session_scope(app.engine) as session:
        rows = session.exec(select(Application).order_by(Application.id)).all()
        assert [(a.platform_name, a.complete, a.batch) for a in rows] == [(a.platform, True, BATCH) for a in APPLICANTS]
        ids = {a.platform_name: a.id for a in rows}
    deliver(app)  # the receipts: the addresses the outcome notices will go to
    app.transport.sent.clear()
    return app, {a.n: ids[a.platform] for a in APPLICANTS}


def cli(app, *args: str) -> int:
    return main(["--config", str(app.settings.path), *args])


def soffice(src: Path, fmt: str, outdir: Path) -> Path:
    """LibreOffice headless, with its own profile so parallel runs never share one."""
    outdir.mkdir(parents=True, exist_ok=True)
    profile = outdir / ".lo-profile"
    result = subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
                             "--outdir", str(outdir), str(src)], capture_output=True, text=True, timeout=180)
    target = outdir / f"{src.stem}.{fmt.split(':')[0]}"
    assert target.exists(), result.stdout + result.stderr
    return target


def fill_as_the_panel(exported: Path, work: Path, extra_rows: list[dict]) -> Path:
    """The panel's copy: verdicts, scores and opinions filled, columns in another order, a 备注 column,
    rows reversed, two rows of their own; then LibreOffice opens it and saves it as xlsx."""
    ws = load_workbook(exported).active
    header = [c.value for c in ws[2]]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=3)]
    by_platform = {a.platform: a for a in APPLICANTS}
    for row in rows:
        n = by_platform[row["平台名称"]].n
        row["结论"], row["得分"] = VERDICTS[n], 90 - n
        row["评审意见"] = f"课程体系{'完整' if VERDICTS[n] == '入选' else '需完善'}（{n}号）"
        row["备注"] = "线上答辩" if n % 3 == 0 else None
    rows = [*reversed(rows), *extra_rows]
    order = ["结论", "得分", "平台名称", "申报编号", "运营机构", "备注", "评审意见", "统一社会信用代码", "主要培训项目",
             "评审材料文件夹", "序号"]
    wb = Workbook()
    out = wb.active
    out.append(["专家评审（返回稿）"])
    out.append(order)
    for row in rows:
        out.append([row.get(label) for label in order])
    out.column_dimensions["D"].hidden = True  # 申报编号 stays hidden in the panel's copy
    edited = work / "panel-edited.xlsx"
    work.mkdir(parents=True, exist_ok=True)
    wb.save(edited)
    saved = soffice(edited, "xlsx:Calc MS Excel 2007 XML", work / "lo")
    written = load_workbook(saved).active
    assert written["A2"].value == "结论" and written["D2"].value == "申报编号"  # LibreOffice wrote it, order kept
    assert written.column_dimensions["D"].hidden
    return saved


def test_panel_sheet_round_trip_publication_and_outcome_notices(batch, tmp_path, capsys):
    app, ids = batch
    sheet = tmp_path / "panel.xlsx"
    assert cli(app, "export", "--format", "xlsx", "--panel", "--batch", BATCH, "--out", str(sheet)) == 0

    # ---- the exported sheet
    wb = load_workbook(sheet)
    ws = wb.active
    assert [c.value for c in ws[2]] == list(PANEL_COLUMNS)
    data = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(data) == 12
    assert ws.column_dimensions["J"].hidden is True  # 申报编号
    assert {row[9] for row in data} == {str(i) for i in ids.values()}
    assert all(row[6] is None and row[7] is None and row[8] is None for row in data)
    [choose] = [v for v in ws.data_validations.dataValidation if v.type == "list"]
    assert choose.formula1 == '"入选,不入选,补充材料后再议"' and str(choose.sqref) == "I3:I14"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
    first = APPLICANTS[0]
    assert data[0][1:5] == (first.platform, first.organization, first.credit_code, first.project)
    dossier = tmp_path / "dossier"
    assert cli(app, "export", "--dossier", "--batch", BATCH, "--out", str(dossier)) == 0
    assert sorted(row[5] for row in data) == sorted(p.name for p in dossier.iterdir() if p.is_dir())

    # ---- the panel's return, saved by LibreOffice, with a stranger's row and a wrong one
    extra = [{"平台名称": "不存在的平台", "申报编号": "99999", "结论": "入选"},
             {"平台名称": "填错的行", "申报编号": str(ids[1]), "结论": "通过", "得分": 120}]
    returned = fill_as_the_panel(sheet, tmp_path / "returned", extra)
    capsys.readouterr()
    assert cli(app, "panel", "import", str(returned), "--date", "2020-03-10") == 1  # rows were refused
    printed = capsys.readouterr().out
    assert "第15行" in printed and "99999 没有对应的申报" in printed
    assert "第16行" in printed and "结论“通过”不是入选/不入选/补充材料后再议之一" in printed
    assert "新录入 recorded 12" in printed
    with session_scope(app.engine) as session:
        verdicts = {v.application_id: v for v in session.exec(select(PanelVerdict))}
    assert {n: verdicts[ids[n]].verdict for n in VERDICTS} == VERDICTS
    assert verdicts[ids[3]].score == 87 and verdicts[ids[3]].remarks == "备注：线上答辩"
    assert verdicts[ids[4]].opinion == "课程体系需完善（4号）"
    assert all(v.panel_date == date(2020, 3, 10) and v.batch == BATCH for v in verdicts.values())
    # the same sheet again: nothing changes, and it says so
    assert cli(app, "panel", "import", str(returned), "--date", "2020-03-11") == 1
    again = capsys.readouterr().out
    assert "没有变化 / nothing changed" in again and "未变 unchanged 12" in again
    with session_scope(app.engine) as session:
        assert {v.panel_date for v in session.exec(select(PanelVerdict))} == {date(2020, 3, 10)}
        assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "panel_verdict")).all()) == 12

    # ---- publication
    result = publish(app, "staff-a", BATCH, date(2020, 3, 20))
    assert (result.title, result.version, result.status) == (TITLE, 1, "first")
    out = tmp_path / "published"
    paths = write_public_list(PublicList(result.title, app.settings.notify.bureau_name, result.issued_on,
                                         result.rows), out)
    assert sorted(p.name for p in paths) == sorted(f"{TITLE}.{ext}" for ext in ("docx", "xlsx", "html"))
    selected = [a for a in APPLICANTS if VERDICTS[a.n] == "入选"]
    check_documents(out, selected, tmp_path / "pdf")
    # the CLI run again: the same list, the same version, the files written again
    capsys.readouterr()
    assert cli(app, "publish", "--batch", BATCH, "--out", str(out), "--date", "2020-03-25") == 0
    assert "unchanged, version 1" in capsys.readouterr().out
    with session_scope(app.engine) as session:
        [publication] = session.exec(select(Publication)).all()
        assert (publication.version, publication.issued_on, publication.published_by) == (1, date(2020, 3, 20),
                                                                                           "staff-a")
        assert publication.sha256 == result.sha256 and len(publication.entries) == 8

    # ---- outcome notices: one each, to the address the receipt went to
    deliver(app)
    sent = {m["To"]: m.get_body(("plain",)).get_content() for m in app.transport.sent}
    assert sorted(sent) == sorted(a.sender for a in APPLICANTS)
    for a in APPLICANTS:
        assert f"评审结果为：{VERDICTS[a.n]}" in sent[a.sender]
        assert a.platform in sent[a.sender]
    assert "名单已于2020年3月20日公布" in sent[APPLICANTS[0].sender]
    assert all(m["Auto-Submitted"] == "auto-generated" for m in app.transport.sent)

    # ---- a verdict changes: a new version, never a second notice
    assert set_verdict(app, "staff-b", ids[2], "不入选", "60", "复核后不入选") == "changed"
    second = publish(app, "staff-b", BATCH, date(2020, 4, 1))
    assert (second.version, second.status, len(second.rows)) == (2, "new_version", 7)
    assert "version 2" in second.describe()
    assert second.told_otherwise == [APPLICANTS[1].platform]
    third = publish(app, "staff-b", BATCH, date(2020, 4, 2))
    assert (third.version, third.status, third.issued_on) == (2, "unchanged", date(2020, 4, 1))
    assert third.describe().endswith("unchanged, version 2")
    app.transport.sent.clear()
    deliver(app)
    assert app.transport.sent == []
    with session_scope(app.engine) as session:
        keys = session.exec(select(Outbox.dedupe_key).where(Outbox.kind == "outcome")).all()
    assert sorted(keys) == sorted(f"outcome:{i}:{BATCH}" for i in ids.values())


def check_documents(out: Path, selected: list[Applicant], pdf_dir: Path) -> None:
    docx_path, xlsx_path, html_path = (out / f"{TITLE}.{ext}" for ext in ("docx", "xlsx", "html"))
    # nothing personal in any of the three, in any part of the files
    texts = {path.name: "\n".join(zipfile.ZipFile(path).read(n).decode("utf-8", "replace")
                                  for n in zipfile.ZipFile(path).namelist()) for path in (docx_path, xlsx_path)}
    texts[html_path.name] = html_path.read_text(encoding="utf-8")
    for a in APPLICANTS:
        for value in a.personal:
            for name, text in texts.items():
                assert value not in text, f"{value} in {name}"
    for a in APPLICANTS:
        assert (a.platform in texts[html_path.name]) == (a in selected)
    # the HTML: escaped, no scripts
    page = texts[html_path.name]
    assert "<script" not in page.lower() and " on" not in page.split("<body>")[1].split(">")[0]
    assert "广州市智造&amp;云&lt;科技&gt;有限公司" in page and "<科技>" not in page
    # the .xlsx: the same table
    ws = load_workbook(xlsx_path).active
    assert ws["A1"].value == TITLE
    assert [c.value for c in ws[2]] == ["序号", "平台名称", "运营机构", "网址", "主要培训项目"]
    table = [row for row in ws.iter_rows(min_row=3, max_row=2 + len(selected), values_only=True)]
    assert table == [(n, a.platform, a.organization, a.website, a.project) for n, a in enumerate(selected, 1)]
    # the .docx: fonts named for East Asian text, rendered by LibreOffice
    document = zipfile.ZipFile(docx_path).read("word/document.xml").decode()
    assert 'w:eastAsia="黑体"' in document and 'w:eastAsia="仿宋_GB2312"' in document
    pdf = soffice(docx_path, "pdf", pdf_dir)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = text.replace(" ", "")
    assert TITLE in flat and "广东省职业训练局" in flat and "2020年3月20日" in flat
    with pdfplumber.open(pdf) as doc:
        assert len(doc.pages) == 1
        width, height = doc.pages[0].width, doc.pages[0].height
        assert (round(width), round(height)) == (595, 842)  # A4 portrait in points
        [table] = doc.pages[0].extract_tables()
    assert [cell.replace("\n", "") for cell in table[0]] == ["序号", "平台名称", "运营机构", "网址", "主要培训项目"]
    assert len(table) == 1 + len(selected)
    for row, a in zip(table[1:], selected, strict=True):
        cells = [(cell or "").replace("\n", "") for cell in row]
        assert cells[1] == a.platform and cells[2] == a.organization and cells[4] == a.project
    shutil.copy(pdf, out / "rendered.pdf")


def test_wps_style_return_without_the_key_column_is_matched_by_credit_code(batch, tmp_path):
    """WPS's habit: labels with spaces and marks, numbers as text, the hidden column deleted."""
    app, ids = batch
    wb = Workbook()
    ws = wb.active
    ws.append(["平台 名称", "统一社会信用代码 *", "得　分", "结 论", "评审意见（专家）"])
    ws.append([APPLICANTS[0].platform, APPLICANTS[0].credit_code, "88分", " 入选 ", "很好"])
    ws.append([APPLICANTS[1].platform, APPLICANTS[1].credit_code.lower(), "75.5", "不入选", ""])
    ws.append(["无名平台", "91440101000000000X", "70", "入选", ""])
    ws.append([APPLICANTS[2].platform, APPLICANTS[2].credit_code, "", "", ""])  # not yet decided
    ws.append([APPLICANTS[3].platform, APPLICANTS[3].credit_code, "120", "入选", ""])
    ws.append([APPLICANTS[4].platform, APPLICANTS[4].credit_code, "八十", "入选", ""])
    ws.append([APPLICANTS[5].platform, APPLICANTS[5].credit_code, "", "", "意见写了，结论没填"])
    path = tmp_path / "wps.xlsx"
    wb.save(path)
    result = import_panel_sheet(app, "staff-a", path, date(2020, 3, 12))
    assert sorted(result.recorded) == sorted([ids[1], ids[2]]) and result.blank == 1
    assert result.refused == [
        "第4行：统一社会信用代码 91440101000000000X 没有对应的申报 / no application with this credit code",
        "第6行：得分 120 不在 0–100 之间 / the score must be from 0 to 100",
        "第7行：得分“八十”不是数字 / the score is not a number",
        "第8行：填了得分或评审意见但没有结论（入选/不入选/补充材料后再议）/ no verdict"]
    with session_scope(app.engine) as session:
        assert session.get(PanelVerdict, ids[1]).score == 88
        assert session.get(PanelVerdict, ids[2]).score == 75.5


def test_publishing_before_every_verdict_is_in_is_refused(batch, tmp_path):
    app, ids = batch
    set_verdict(app, "staff-a", ids[1], "入选", "90")
    with pytest.raises(Exception, match="11 件申报尚无评审结论"):
        publish(app, "staff-a", BATCH, date(2020, 3, 20))


def test_chinese_batch_numbers():
    assert [cn_number(n) for n in (1, 2, 3, 9, 10, 11, 20, 23)] == ["一", "二", "三", "九", "十", "十一", "二十",
                                                                    "二十三"]


def test_the_outcome_setting_is_off_by_default(tmp_path):
    settings = load_settings(write_config(tmp_path, "sqlite:///var/x.db"), environ={})
    assert settings.applications.notify_outcome is False


# ---------------------------------------------------------------------------------------------- status by mail


def answers(app) -> dict[str, list[str]]:
    deliver(app)
    found: dict[str, list[str]] = {}
    for m in app.transport.sent:
        if "进度查询答复" in str(m["Subject"]):
            found.setdefault(str(m["To"]), []).append(m.get_body(("plain",)).get_content())
    app.transport.sent.clear()
    return found


def test_status_by_mail_tells_a_sender_its_own_applications_and_a_stranger_nothing(batch, clock, tmp_path):
    from tests.panel_support import form_xlsx, query
    from tests.test_application_paths import mail

    app, ids = batch
    half = applicant(13)
    # a subject with 状态 and 平台, but with the form attached: an application, not a query
    mail(tmp_path / "half", "half.eml", sender=half.sender, subject="平台申报材料（状态：先发基本情况表）",
         when=datetime(2020, 2, 29, 1, 0, tzinfo=UTC), files={"附件1_基本情况表.xlsx": form_xlsx(half)})
    clock.value = datetime(2020, 2, 29, 2, 0, tzinfo=UTC)
    ingest_paths(app, [tmp_path / "half"])
    for n, verdict in VERDICTS.items():
        set_verdict(app, "staff-a", ids[n], verdict, str(80 + n % 5))
    # before publication: the verdict is not told
    clock.value = datetime(2020, 3, 15, 2, 0, tzinfo=UTC)
    query(tmp_path / "q1", "early.eml", APPLICANTS[3].sender, "查询申报进度", datetime(2020, 3, 15, 1, 0, tzinfo=UTC))
    ingest_paths(app, [tmp_path / "q1"])
    early = answers(app)[APPLICANTS[3].sender][0]
    assert "材料齐全，已列入首批评审" in early and "评审结果" not in early and "不入选" not in early

    publish(app, "staff-a", BATCH, date(2020, 3, 20))
    deliver(app)
    app.transport.sent.clear()
    clock.value = datetime(2020, 3, 21, 2, 0, tzinfo=UTC)
    stranger = "nobody@elsewhere.example.org"
    when = datetime(2020, 3, 21, 1, 0, tzinfo=UTC)
    query(tmp_path / "q2", "a.eml", APPLICANTS[0].sender, "请问我单位平台申报的进度", when)
    query(tmp_path / "q2", "b.eml", half.sender, "申报状态查询", when)
    query(tmp_path / "q2", "c.eml", stranger, "查询平台申报进度", when)
    query(tmp_path / "q2", "d.eml", APPLICANTS[3].sender, "Re: 查询申报进度", when)
    ingest_paths(app, [tmp_path / "q2"])
    with session_scope(app.engine) as session:
        from store.models import Message

        kinds = {m.from_addr: m.kind for m in session.exec(select(Message).where(Message.subject.contains("查询")))}
    assert set(kinds.values()) == {"status_query"}
    replies = answers(app)
    [own] = replies[APPLICANTS[0].sender]
    assert APPLICANTS[0].platform in own and "评审结果：入选（2020年3月20日公布）" in own
    assert all(a.platform not in own for a in APPLICANTS[1:]) and half.platform not in own
    [rejected] = replies[APPLICANTS[3].sender]
    assert "评审结果：不入选" in rejected and APPLICANTS[0].platform not in rejected
    [partial] = replies[half.sender]
    assert half.platform in partial and "已收到，材料尚需补充或更正" in partial
    assert "平台建设材料" in partial and "评审批次" not in partial
    [nothing] = replies[stranger]
    assert "未查到从您的邮箱（nobody@elsewhere.example.org）报送的线上培训平台申报" in nothing
    assert all(a.platform not in nothing for a in [*APPLICANTS, half]) and "件" not in nothing.split("。")[0]


def test_status_queries_obey_the_daily_limit_per_sender(batch, clock, tmp_path):
    from tests.panel_support import query

    app, _ = batch
    clock.value = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
    sender = APPLICANTS[5].sender
    for n in range(7):
        query(tmp_path / "q", f"{n}.eml", sender, f"查询申报进度（第{n + 1}次）", datetime(2020, 3, 2, 8, n, tzinfo=UTC))
    ingest_paths(app, [tmp_path / "q"])
    with session_scope(app.engine) as session:
        rows = session.exec(select(Outbox).where(Outbox.kind == "status_reply").order_by(Outbox.id)).all()
    assert len(rows) == 7
    assert [r.status == "suppressed" for r in rows] == [False] * 5 + [True] * 2
    assert "每日上限" in rows[-1].reason


# ---------------------------------------------------------------------------------------------- the console


def test_the_console_shows_and_edits_verdicts_with_csrf_and_audit(batch, tmp_path):
    from starlette.testclient import TestClient

    from ingest.workflows import staff as staff_actions
    from tests.web_support import STAFF, csrf_of, sign_in
    from web.app import create_app

    app, ids = batch
    staff_actions.add_user(app, "test", STAFF[0], "staff", STAFF[1])
    set_verdict(app, "staff-a", ids[1], "入选", "91.5", "课程体系完整")
    with TestClient(create_app(app), base_url="http://testserver", follow_redirects=False) as client:
        sign_in(client, STAFF)
        page = client.get("/applications").text
        assert "结论：<strong>入选</strong> · 得分 91.5" in page and "评审意见：课程体系完整" in page
        assert page.count('action="/applications/') >= 24  # review and verdict forms for the twelve
        target = f"/applications/{ids[2]}/verdict"
        form = {"verdict": "补充材料后再议", "score": "70", "opinion": "<b>需补充</b>平台运行数据"}
        assert client.post(target, data={**form, "csrf_token": "forged"}).status_code == 403
        done = client.post(target, data={**form, "csrf_token": csrf_of(page)})
        assert done.status_code == 200 and "评审结论已录入" in done.text
        bad = client.post(target, data={**form, "score": "150", "csrf_token": csrf_of(page)})
        assert bad.status_code == 400 and "不在 0–100 之间" in bad.text
        shown = client.get("/applications").text
        assert "&lt;b&gt;需补充&lt;/b&gt;平台运行数据" in shown and "<b>需补充" not in shown
        (tmp_path / "applications.html").write_text(shown, encoding="utf-8")
        assert "还没有公布过名单" in client.get("/exports").text
        for n, verdict in VERDICTS.items():
            if n != 2:
                set_verdict(app, "staff-a", ids[n], verdict)
        publish(app, "staff-a", BATCH, date(2020, 3, 20))
        exports = client.get("/exports").text
        assert "<td>首批</td><td>第 1 版</td><td>2020-03-20</td>" in exports and "<td>7 个</td>" in exports  # 2 is 补充材料后再议 now
    with session_scope(app.engine) as session:
        verdict = session.get(PanelVerdict, ids[2])
        assert (verdict.verdict, verdict.score, verdict.recorded_by) == ("补充材料后再议", 70, STAFF[0])
        entry = session.exec(select(AuditEntry).where(AuditEntry.actor == STAFF[0],
                                                      AuditEntry.action == "panel_verdict")).one()
        assert f"application {ids[2]}" in entry.detail and "控制台" in entry.detail


def test_without_notify_outcome_publishing_tells_nobody(batch):
    from dataclasses import replace

    app, ids = batch
    app.settings = replace(app.settings, applications=app.settings.applications.model_copy(
        update={"notify_outcome": False}))
    for n, verdict in VERDICTS.items():
        set_verdict(app, "staff-a", ids[n], verdict)
    assert publish(app, "staff-a", BATCH, date(2020, 3, 20)).version == 1
    with session_scope(app.engine) as session:
        assert session.exec(select(Outbox).where(Outbox.kind == "outcome")).all() == []


def test_an_application_nobody_could_be_answered_for_gets_no_outcome_notice(batch, tmp_path):
    from dataclasses import replace as copy_of

    app, ids = batch
    silent = copy_of(applicant(13), sender="noreply@yueji13.example.cn")  # its receipt was held back (RFC 3834)
    send_applications(tmp_path / "silent", [silent], FIRST_MAIL)
    ingest_paths(app, [tmp_path / "silent"])
    with session_scope(app.engine) as session:
        silent_id = session.exec(select(Application.id).where(Application.platform_name == silent.platform)).one()
    for n, verdict in VERDICTS.items():
        set_verdict(app, "staff-a", ids[n], verdict)
    set_verdict(app, "staff-a", silent_id, "入选")
    result = publish(app, "staff-a", BATCH, date(2020, 3, 20))
    assert result.outcome_queued == 12 and result.outcome_without_address == [silent.platform]
    with session_scope(app.engine) as session:
        row = session.exec(select(Outbox).where(Outbox.dedupe_key == f"outcome:{silent_id}:{BATCH}")).one()
    assert row.status == "suppressed" and "没有经自动回复规则确认过的收件地址" in row.reason


def test_a_file_that_is_not_a_panel_sheet_is_refused_in_one_line(batch, tmp_path, capsys):
    app, _ = batch
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0 not really")
    assert cli(app, "panel", "import", str(tmp_path / "old.xls")) == 1
    assert "无法读取为 xlsx 工作簿（请另存为 .xlsx）" in capsys.readouterr().err
    assert cli(app, "panel", "import", str(tmp_path / "absent.xlsx")) == 1
    assert "找不到该文件" in capsys.readouterr().err
    wb = Workbook()
    wb.active.append(["平台名称", "得分"])
    wb.save(tmp_path / "other.xlsx")
    assert cli(app, "panel", "import", str(tmp_path / "other.xlsx")) == 1
    assert "找不到含“结论”列的表头" in capsys.readouterr().err
