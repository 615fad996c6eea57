"""The three ways applications reach the bureau, through `ingest` end to end, with the stamped-form rule.

1. the form and the four materials in one mail;
2. the materials over several mails (replies to our notices);
3. recommended by a city (a registered city address carrying someone else's application).

The basic form is the notice's own 附件1 (fixtures/build_notice_forms.py) as Word sends
it. A stamped scan needs OCR and seal detection, which run in their own sandboxed
worker; here ``ScriptedAnalyzer`` stands in for them: it reads the file like the real
analyser does and then sets what OCR would report for it (``scanned``, ``stamped``,
``ocr_fields``, ``low_confidence_fields``, ``licence``) for the file names a test names.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.reminders import deliver
from notify.transport import MemoryTransport
from tests.conftest import FIXTURES, write_config

NOTICE = FIXTURES / "attachments" / "notice"
ATT = FIXTURES / "attachments"
sys.path.insert(0, str(FIXTURES))

import build_notice_forms as notice  # noqa: E402 - the fixtures folder is not a package

FORM = "附件1_基本情况表.docx"
SCAN = "附件1_基本情况表（盖章扫描件）.pdf"
APPLICANT = "chenxm@nanyuegongjiang.example.cn"  # the contact address the form names
SENDER = "apply@nanyuegongjiang.example.cn"


@dataclass
class LicenceRead:
    """What the licence reader returns (kind, name, credit_code, credit_code_valid, confidence)."""

    kind: str
    name: str
    credit_code: str
    credit_code_valid: bool
    confidence: float


class ScriptedAnalyzer(InProcessAnalyzer):
    """The in-process analyser, plus what OCR would have said about the files named in ``ocr``."""

    def __init__(self):
        self.ocr: dict[str, dict] = {}

    def analyze(self, data, filename, mail_date):
        analysis = super().analyze(data, filename, mail_date)
        for key, value in self.ocr.get(filename, {}).items():
            if key == "form_values":  # what OCR read differently from the text (a misread character)
                for name, read in value.items():
                    setattr(analysis.application, name, read)
            else:
                setattr(analysis, key, value)
        return analysis


STAMPED_SCAN = {"scanned": True, "stamped": True,
                "ocr_fields": {key: 0.97 for key in notice.VALUES}}


def docx_bytes(title: str, text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


MATERIALS = {
    "营业执照.pdf": (ATT / "营业执照.pdf").read_bytes(),
    "平台架构说明.docx": (ATT / "平台架构说明.docx").read_bytes(),
    "平台运行机制及质量管控体系.docx": docx_bytes("平台运行机制", "实行学员实名认证、学习过程记录与质量管控。"),
    "培训内容材料（课程介绍、培训大纲）.docx": docx_bytes("课程介绍", "低压电工作业安全培训大纲：48课时。"),
}


def form_bytes() -> bytes:
    return (NOTICE / FORM).read_bytes()


def scan_bytes() -> bytes:
    return (NOTICE / "附件1_基本情况表.pdf").read_bytes()


def mail(folder: Path, name: str, *, sender: str, subject: str, when: datetime, files: dict[str, bytes],
         body: str = "您好，附件为申报材料，请查收。", reply_to: str | None = None, from_name: str = "") -> str:
    """A message the way a mail client writes it: multipart/mixed, RFC 2231 file names, base64."""
    msg = EmailMessage()
    msg["From"] = f"{from_name} <{sender}>" if from_name else sender
    msg["To"] = "zxjyck@163.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid = make_msgid(domain=sender.split("@")[1])
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body)
    for filename, data in files.items():
        maintype, subtype = {".pdf": ("application", "pdf"), ".jpg": ("image", "jpeg"),
                             ".zip": ("application", "zip")}.get(Path(filename).suffix.lower(), (
            "application", "vnd.openxmlformats-officedocument.wordprocessingml.document"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(bytes(msg))
    return mid


@pytest.fixture
def analyzer() -> ScriptedAnalyzer:
    return ScriptedAnalyzer()


@pytest.fixture
def app(app, clock, analyzer):
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    app.analyzer = analyzer
    app.transport = MemoryTransport()
    return app


def ingest(app, folder: Path) -> dict:
    ingest_paths(app, [folder])
    return export_state(app.engine)


def outbox(doc: dict, kind: str | None = None) -> list[dict]:
    return [o for o in doc["outbox"] if kind is None or o["kind"] == kind]


def sent_text(app, to: str) -> str:
    deliver(app)
    mails = [m for m in app.transport.sent if m["To"] == to]
    assert mails, f"nothing sent to {to}"
    return mails[-1].get_body(("plain",)).get_content()


# ------------------------------------------------------------------------------ path 1: one mail


def test_form_stamped_scan_and_materials_in_one_mail_complete_in_the_first_batch(app, analyzer, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="职业技能提升行动线上培训平台申报材料（南粤工匠云课堂）",
         when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    for key, value in notice.VALUES.items():
        assert application[key] == value, key
    assert application["complete"] is True and application["missing"] == []
    assert application["stamped"] is True
    assert application["batch"] == "首批"
    assert application["recommended_by"] is None
    assert application["ocr_fields"] == {}  # the values came from the Word copy, not from OCR
    assert [m["kind"] for m in doc["messages"]] == ["application"]
    [receipt] = outbox(doc, "receipt")  # the platform applied itself: no copy
    assert receipt["to"] == [SENDER]
    assert "南粤工匠云课堂" in sent_text(app, SENDER)


def test_editable_form_only_asks_for_the_stamped_copy_and_the_reply_completes_it_in_the_open_batch(
        app, analyzer, clock, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    first = mail(tmp_path / "in1", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
                 when=datetime(2020, 2, 27, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in1")
    [application] = doc["applications"]
    assert application["complete"] is False
    assert application["missing"] == ["stamped_form"]  # the five materials are there; only the seal is not
    assert application["stamped"] is False and application["batch"] is None
    [notice_row] = outbox(doc, "missing_items")
    assert notice_row["to"] == [SENDER]
    text = sent_text(app, SENDER)
    assert "加盖公章的基本情况表（扫描件或照片）" in text
    assert "需更正" not in text  # the form itself is right: nothing to correct
    ours = next(o for o in export_state(app.engine)["outbox"] if o["kind"] == "missing_items")["message_id"]
    # the stamped scan arrives after the first batch closed (2020-02-28)
    clock.value = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
    mail(tmp_path / "in2", "b.eml", sender=SENDER, subject="回复：补充材料通知", reply_to=ours,
         when=datetime(2020, 3, 2, 8, 0, tzinfo=UTC), files={SCAN: scan_bytes()})
    doc = ingest(app, tmp_path / "in2")
    [application] = doc["applications"]
    assert application["complete"] is True and application["stamped"] is True
    assert application["batch"] == "常态征集"
    assert len(application["message_ids"]) == 2 and application["message_ids"][0] == first


# ------------------------------------------------------------------------------ path 2: several mails


def test_materials_over_several_mails_end_complete(app, analyzer, clock, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    files = list(MATERIALS.items())
    mail(tmp_path / "in1", "a.eml", sender=SENDER, subject="线上培训平台申报：基本情况表",
         when=datetime(2020, 2, 26, 1, 0, tzinfo=UTC), files={FORM: form_bytes(), files[0][0]: files[0][1]})
    doc = ingest(app, tmp_path / "in1")
    [application] = doc["applications"]
    assert application["missing"] == ["construction", "operation", "content", "stamped_form"]
    text = sent_text(app, SENDER)
    for label in ("平台建设材料", "平台运行材料", "平台培训内容材料", "加盖公章的基本情况表（扫描件或照片）"):
        assert label in text
    ours = outbox(export_state(app.engine), "missing_items")[-1]["message_id"]
    mail(tmp_path / "in2", "b.eml", sender=SENDER, subject="回复：补充材料通知", reply_to=ours,
         when=datetime(2020, 2, 26, 5, 0, tzinfo=UTC), files=dict(files[1:3]))
    doc = ingest(app, tmp_path / "in2")
    [application] = doc["applications"]
    assert application["missing"] == ["content", "stamped_form"] and application["complete"] is False
    ours = outbox(doc, "missing_items")[-1]["message_id"]
    mail(tmp_path / "in3", "c.eml", sender=SENDER, subject="回复：补充材料通知", reply_to=ours,
         when=datetime(2020, 2, 26, 8, 0, tzinfo=UTC), files={files[3][0]: files[3][1], SCAN: scan_bytes()})
    doc = ingest(app, tmp_path / "in3")
    [application] = doc["applications"]
    assert application["complete"] is True and application["missing"] == [] and application["batch"] == "首批"
    assert len(application["message_ids"]) == 3
    assert [o["to"] for o in outbox(doc, "receipt")] == [[SENDER]]


# ------------------------------------------------------------------------------ path 3: recommended


def test_city_recommending_a_platform_is_an_application_with_recommended_by(app, analyzer, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn", from_name="广州市人社局职业能力建设处",
         subject="关于推荐南粤工匠云课堂的函", body="现推荐以下线上培训平台，申报材料见附件。",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["kind"] == "application" and message["status"] == "processed"
    assert doc["weekly_reports"] == []
    [application] = doc["applications"]
    assert application["complete"] is True
    assert "广州市" in application["recommended_by"] and "gzrsj@example.gov.cn" in application["recommended_by"]
    # the receipt to the city, a copy to the platform's contact the form names
    assert sorted(o["to"][0] for o in outbox(doc, "receipt")) == sorted(["gzrsj@example.gov.cn", APPLICANT])
    assert "南粤工匠云课堂" in sent_text(app, APPLICANT)


def test_an_association_saying_it_recommends_is_recorded(app, analyzer, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    mail(tmp_path / "in", "a.eml", sender="gdpxxh@163.com", from_name="广东省职业培训协会",
         subject="推荐线上培训平台申报材料", body="我会推荐该平台参加征集。",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    [application] = ingest(app, tmp_path / "in")["applications"]
    assert application["recommended_by"] == "广东省职业培训协会 <gdpxxh@163.com>"


SECOND = {"platform_name": "岭南技工学堂", "organization": "广州岭南技工教育科技有限公司",
          "credit_code": notice.credit_code("91440300MA5F8Q1X3"), "email": "li@lingnan.example.cn",
          "website": "https://www.lingnan.example.cn"}


def second_form(monkeypatch, build) -> bytes:
    """The notice's 附件1 filled in for a second organisation (the same builder, other values)."""
    with monkeypatch.context() as patch:
        patch.setattr(notice, "VALUES", {**notice.VALUES, **SECOND})
        return build()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def materials_by_application(app) -> dict[str, list[tuple[str, str]]]:
    from sqlmodel import select

    from store.db import session_scope
    from store.models import Application, ApplicationMaterial

    with session_scope(app.engine) as session:
        names = {a.id: a.platform_name for a in session.exec(select(Application))}
        out: dict[str, list[tuple[str, str]]] = {name: [] for name in names.values()}
        for m in session.exec(select(ApplicationMaterial).order_by(ApplicationMaterial.id)):
            out[names[m.application_id]].append((m.category, m.filename))
    return out


def test_a_city_recommending_two_platforms_in_one_mail_makes_two_applications(app, analyzer, monkeypatch, tmp_path):
    """Each form its own application with the materials its file or folder name names, one receipt each."""
    a_scan, b_scan = "南粤工匠云课堂_附件1（盖章扫描件）.pdf", "岭南技工学堂_附件1（盖章扫描件）.pdf"
    analyzer.ocr[a_scan] = STAMPED_SCAN
    analyzer.ocr[b_scan] = {**STAMPED_SCAN, "ocr_fields": {key: 0.96 for key in notice.VALUES}}
    files = {"南粤工匠云课堂_附件1.docx": form_bytes(), a_scan: scan_bytes(),
             **{f"南粤工匠云课堂_{name}": data for name, data in MATERIALS.items()},
             "岭南技工学堂_附件1.docx": second_form(monkeypatch, notice.basic_form_docx),
             b_scan: second_form(monkeypatch, notice.basic_form_pdf),
             "岭南技工学堂申报材料.zip": zip_bytes({f"岭南技工学堂/{name}": data for name, data in MATERIALS.items()})}
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn", from_name="广州市人社局职业能力建设处",
         subject="关于推荐两家线上培训平台的函", body="现推荐以下两家线上培训平台，申报材料见附件。",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files=files)
    doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["kind"] == "application" and message["status"] == "processed", message["problems"]
    first, second = doc["applications"]
    for key, value in notice.VALUES.items():
        assert first[key] == value, key
        assert second[key] == SECOND.get(key, value), key
    for application in (first, second):
        assert application["complete"] is True and application["missing"] == [] and application["stamped"] is True
        assert "广州市" in application["recommended_by"] and application["batch"] == "首批"
        assert application["message_ids"] == [message["message_id"]]
    materials = materials_by_application(app)
    assert [name for _, name in materials["南粤工匠云课堂"]] == [
        "南粤工匠云课堂_附件1.docx", a_scan, *(f"南粤工匠云课堂_{name}" for name in MATERIALS)]
    assert [name for _, name in materials["岭南技工学堂"]] == [
        "岭南技工学堂_附件1.docx", b_scan, *(f"岭南技工学堂/{name}" for name in MATERIALS)]
    # one receipt per application to the city, and a copy to each form's contact
    receipts = outbox(doc, "receipt")
    assert sorted(o["to"][0] for o in receipts) == sorted(
        ["gzrsj@example.gov.cn", "gzrsj@example.gov.cn", APPLICANT, SECOND["email"]])
    assert "岭南技工学堂" in sent_text(app, SECOND["email"]) and "南粤工匠云课堂" in sent_text(app, APPLICANT)
    city_mail = [m.get_body(("plain",)).get_content() for m in app.transport.sent if m["To"] == "gzrsj@example.gov.cn"]
    assert sorted("岭南技工学堂" in text for text in city_mail) == [False, True]


def test_a_material_no_name_ties_to_one_platform_counts_for_each_and_waits_for_staff(
        app, analyzer, monkeypatch, tmp_path):
    analyzer.ocr["南粤工匠云课堂_盖章扫描件.pdf"] = STAMPED_SCAN
    analyzer.ocr["岭南技工学堂_盖章扫描件.pdf"] = STAMPED_SCAN
    shared = "培训内容材料（课程介绍、培训大纲）.docx"
    files = {"南粤工匠云课堂_附件1.docx": form_bytes(), "南粤工匠云课堂_盖章扫描件.pdf": scan_bytes(),
             "岭南技工学堂_附件1.docx": second_form(monkeypatch, notice.basic_form_docx),
             "岭南技工学堂_盖章扫描件.pdf": second_form(monkeypatch, notice.basic_form_pdf),
             **{f"{platform}_{name}": data for platform in ("南粤工匠云课堂", "岭南技工学堂")
                for name, data in list(MATERIALS.items())[:3]},
             shared: MATERIALS[shared]}
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn", subject="推荐线上培训平台",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files=files)
    doc = ingest(app, tmp_path / "in")
    assert [a["platform_name"] for a in doc["applications"]] == ["南粤工匠云课堂", "岭南技工学堂"]
    for application in doc["applications"]:
        assert application["missing"] == [] and application["complete"] is True
        assert any(shared in p and "工作人员核对" in p for p in application["staff_problems"])
        assert [name for _, name in materials_by_application(app)[application["platform_name"]]][-1] == shared
    assert doc["messages"][0]["status"] == "needs_review"
    assert len(outbox(doc, "receipt")) == 4  # the applications are complete: receipts go, staff check the file


def test_more_organisations_than_the_limit_in_one_mail_are_left_to_staff(app, analyzer, tmp_path):
    from ingest.workflows.applications import MAX_ORGANISATIONS

    files = {}
    for n in range(MAX_ORGANISATIONS + 1):
        name = f"附件1_{n}.docx"
        files[name] = form_bytes()
        analyzer.ocr[name] = {"form_values": {"platform_name": f"平台{n}", "organization": f"单位{n}",
                                              "credit_code": notice.credit_code(f"9144010{n:02d}MA5D3K7P")}}
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn", subject="推荐线上培训平台",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files=files)
    doc = ingest(app, tmp_path / "in")
    assert doc["applications"] == [] and outbox(doc) == []
    [message] = doc["messages"]
    assert message["status"] == "needs_review"
    assert any(f"超过{MAX_ORGANISATIONS}个" in p for p in message["problems"])


# ------------------------------------------------------------------------------ staff, not the sender


def test_grayscale_scan_goes_to_staff_never_to_the_sender_as_missing(app, analyzer, tmp_path):
    analyzer.ocr[SCAN] = {"scanned": True, "stamped": None, "ocr_fields": {k: 0.95 for k in notice.VALUES}}
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={SCAN: scan_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    assert application["complete"] is False and application["stamped"] is None
    assert any("公章" in p for p in application["staff_problems"])
    assert doc["messages"][0]["status"] == "needs_review"
    assert outbox(doc) == []
    assert application["ocr_fields"]["organization"] == 0.95


def test_low_confidence_credit_code_never_causes_a_correction_request(app, analyzer, tmp_path):
    wrong = notice.VALUES["credit_code"][:-1] + ("0" if notice.VALUES["credit_code"][-1] != "0" else "1")
    analyzer.ocr[SCAN] = {"scanned": True, "stamped": True, "ocr_fields": {"credit_code": 0.41, "organization": 0.98},
                          "low_confidence_fields": ["credit_code"], "form_values": {"credit_code": wrong}}
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={SCAN: scan_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    assert application["credit_code"] == wrong
    assert application["complete"] is False
    assert application["problems"] == []  # nothing for the sender to correct
    assert any("统一社会信用代码（0.41）" in p for p in application["staff_problems"])
    assert doc["messages"][0]["status"] == "needs_review"
    assert outbox(doc) == []  # neither a correction request nor anything else until staff have looked
    assert application["ocr_fields"] == {"credit_code": 0.41, "organization": 0.98}


def test_licence_naming_another_organisation_is_shown_to_staff_not_sent(app, analyzer, tmp_path):
    analyzer.ocr[SCAN] = STAMPED_SCAN
    analyzer.ocr["营业执照.pdf"] = {"licence": LicenceRead("营业执照", "广东另一家科技有限公司",
                                                            "91440101MA59ABCD1X", False, 0.93)}
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    problems = application["staff_problems"]
    assert any("91440101MA59ABCD1X" in p for p in problems)
    assert any("广东另一家科技有限公司" in p for p in problems)
    assert application["complete"] is True  # the applicant's materials are complete: staff judge the licence
    assert doc["messages"][0]["status"] == "needs_review"
    deliver(app)
    for sent in app.transport.sent:
        assert "另一家" not in sent.get_body(("plain",)).get_content()


def test_without_the_stamp_rule_an_editable_form_completes(tmp_path, store_url, make_app, clock):
    settings = load_settings(write_config(tmp_path, store_url, extra="[applications]\nrequire_stamped_form = false\n"
                                          'batches = [{name = "第一批", closes = 2020-02-29}]\n'), environ={})
    app = make_app(settings)
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    app.analyzer = ScriptedAnalyzer()
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), **MATERIALS})
    [application] = ingest(app, tmp_path / "in")["applications"]
    assert application["complete"] is True and application["stamped"] is False
    assert application["batch"] == "第一批"


# ------------------------------------------------------------------------------ what staff see


def test_show_prints_ocr_values_with_confidences_beside_the_attachment(app, analyzer, tmp_path, capsys):
    from ingest.cli.main import main

    analyzer.ocr[SCAN] = {"scanned": True, "stamped": None,
                          "ocr_fields": {"organization": 0.95, "credit_code": 0.52},
                          "low_confidence_fields": ["credit_code"]}
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={SCAN: scan_bytes()})
    [message] = ingest(app, tmp_path / "in")["messages"]
    capsys.readouterr()
    assert main(["--config", str(app.settings.path), "show", str(message["id"])]) == 0
    shown = capsys.readouterr().out
    assert f"识别结果 OCR of “{SCAN}”" in shown
    assert "无法判断" in shown  # the seal cannot be told on this scan
    org_line = next(line for line in shown.splitlines() if "机构名称" in line and "0.95" in line)
    assert "广东南粤工匠" in org_line  # the value read, in the same row as its confidence
    code_line = next(line for line in shown.splitlines() if notice.VALUES["credit_code"] in line)
    assert "0.52" in code_line and "待核对" in code_line
    from ingest.outputs.queries import message_detail

    archived = app.archive.path_for(message_detail(app, message["id"]).message.sha256)  # where the page is kept
    assert archived.is_file()
    assert archived.name in "".join(shown.split())  # rich may fold the long path over lines
    assert f"/messages/{message['id']}/attachments/0/page.png" in "".join(shown.split())


def test_digest_shows_batch_recommender_and_staff_checks(app, analyzer, clock, tmp_path):
    from datetime import date

    from ingest.outputs.digest import digest_command

    analyzer.ocr[SCAN] = STAMPED_SCAN
    analyzer.ocr["营业执照.pdf"] = {"licence": LicenceRead("营业执照", "广东另一家科技有限公司",
                                                            notice.VALUES["credit_code"], True, 0.9)}
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn", subject="关于推荐线上培训平台的函",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    ingest(app, tmp_path / "in")
    text = digest_command(app, date(2020, 2, 27), send=False)
    line = next(line for line in text.splitlines() if "南粤工匠云课堂" in line)
    assert "材料齐全，首批" in line and "由广州市" in line and "推荐" in line
    assert "待核对：证照" in text and "广东另一家科技有限公司" in text


def test_weekly_report_with_doubtful_ocr_figures_waits_for_staff(app, analyzer, tmp_path):
    name = "附件2_名称1.xlsx"
    analyzer.ocr[name] = {"scanned": True, "ocr_fields": {"rows[1].headcount": 0.38, "city": 0.99},
                          "low_confidence_fields": ["rows[1].headcount"]}
    mail(tmp_path / "in", "a.eml", sender="gzrsj@example.gov.cn",
         subject="广州市企业职工线上适岗技能提升培训备案情况统计表", when=datetime(2020, 3, 2, 2, 0, tzinfo=UTC), files={name: (NOTICE / name).read_bytes()})
    doc = ingest(app, tmp_path / "in")
    [report] = doc["weekly_reports"]
    assert report["status"] == "needs_review"
    assert any("rows[1].headcount" in p for p in report["problems"])
    assert outbox(doc) == []  # no correction request, no receipt: staff confirm the figure first
    assert doc["messages"][0]["status"] == "needs_review"


def test_scanned_form_ocr_could_not_read_goes_to_staff_not_back_as_please_send_word(app, analyzer, tmp_path):
    photo = "附件1基本情况表（盖章）.jpg"
    analyzer.ocr[photo] = {"scanned": True, "stamped": True}
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={photo: b"\xff\xd8\xff\xe0 not really a photo", **MATERIALS})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    assert application["complete"] is False and application["problems"] == []
    assert any("未能识别出内容" in p for p in application["staff_problems"])
    assert doc["messages"][0]["status"] == "needs_review"
    assert outbox(doc) == []


def test_applications_workbook_has_the_batch_column(app, analyzer, tmp_path):
    from openpyxl import load_workbook

    from ingest.outputs.workbooks import export_workbook

    analyzer.ocr[SCAN] = STAMPED_SCAN
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC), files={FORM: form_bytes(), SCAN: scan_bytes(), **MATERIALS})
    ingest(app, tmp_path / "in")
    path = export_workbook(app, tmp_path / "apps.xlsx", week=None, applications=True)
    ws = load_workbook(path)["申报汇总"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, [c.value for c in ws[2]], strict=False))
    assert row["批次"] == "首批" and row["机构名称"] == notice.VALUES["organization"]
