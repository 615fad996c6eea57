"""Scans and photos through ``ingest`` end to end, read by the real sandboxed OCR worker (nothing scripted).

The two halves of the scanned-form feature meet here: the OCR worker
(``parsers.sandbox`` → ``parsers.ocr``) reads the scan fixtures of
``fixtures/build_scans.py``, and the workflow decides completeness, the seal,
staff problems and notices from what it read. OCR costs seconds a page, so each
distinct file is read once by one module-scoped sandbox and its reading reused
(``ReusingAnalyzer``): every page here went through the real worker exactly once.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.config import load_settings
from ingest.outputs.export import export_state
from ingest.workflows.reminders import deliver
from notify.transport import MemoryTransport
from parsers.sandbox import Sandbox
from tests.conftest import CITIES_TOML, FIXTURES, write_config
from tests.test_application_paths import MATERIALS, ingest, mail, outbox, sent_text

SCANS = FIXTURES / "attachments" / "scans"
sys.path.insert(0, str(FIXTURES))

import build_notice_forms as notice_forms  # noqa: E402 - the fixtures folder is not a package


def _load_scan_builder():
    spec = importlib.util.spec_from_file_location("build_scans_e2e", FIXTURES / "build_scans.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


build = _load_scan_builder()
SENDER = "apply@yxt-edu.example.cn"
FOSHAN = "fsrsj@example.gov.cn"
STAMPED = "附件1_基本情况表（盖章扫描件）.pdf"
GRAY = "附件1_基本情况表（盖章）.pdf"
FORM_DOCX = "附件1_基本情况表.docx"
WEEKLY_PHOTO = "附件2_佛山市周报（手机拍照）.jpg"
OTHER_LICENCE = "营业执照（扫描件）.jpg"
OTHER_ORG = "广州另一家教育咨询有限公司"
OTHER_CODE = build.credit_code("91440101MA5ABC12X")

# the four materials besides the form; the typed licence PDF names nobody in particular (no OCR needed)
FOUR = dict(MATERIALS)


def scan(name: str) -> bytes:
    return (SCANS / name).read_bytes()


def form_docx() -> bytes:
    """The notice's 附件1 as Word writes it, filled with the values the scans carry."""
    saved = notice_forms.VALUES, notice_forms.PROJECTS
    try:
        notice_forms.VALUES = dict(build.APPLICATION)
        notice_forms.PROJECTS = [list(p) for p in build.PROJECTS]
        return notice_forms.basic_form_docx()
    finally:
        notice_forms.VALUES, notice_forms.PROJECTS = saved


def other_licence_jpg() -> bytes:
    """A licence scan (as the fixtures build it) of another organisation."""
    saved = build.LICENCE
    try:
        build.LICENCE = {"kind": "营业执照", "name": OTHER_ORG, "credit_code": OTHER_CODE}
        return build.jpeg(build.licence_page(), 80)
    finally:
        build.LICENCE = saved


class ReusingAnalyzer:
    """The production sandbox; a file already read (same name and bytes) gets a copy of its first reading."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.readings: dict[tuple[str, str], object] = {}

    def analyze(self, data, filename, mail_date):
        key = (filename, hashlib.sha256(data).hexdigest())
        if key not in self.readings:
            self.readings[key] = self.sandbox.analyze(data, filename, mail_date)
        return copy.deepcopy(self.readings[key])


@pytest.fixture(scope="module")
def reader():
    with Sandbox() as sandbox:
        yield ReusingAnalyzer(sandbox)


@pytest.fixture
def settings(tmp_path: Path, store_url: str):
    cities = CITIES_TOML + f'"佛山市" = ["{FOSHAN}"]\n'
    return load_settings(write_config(tmp_path, store_url, cities=cities), environ={})


@pytest.fixture
def app(app, clock, reader):
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    app.analyzer = reader
    app.transport = MemoryTransport()
    return app


# ------------------------------------------------------------------------ (a) a stamped colour scan


def test_stamped_colour_scan_and_four_materials_complete_with_values_read_exactly(app, tmp_path):
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="职业技能提升行动线上培训平台申报材料（粤学通）",
         when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC), files={STAMPED: scan("basic_form_stamped.pdf"), **FOUR})
    doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["kind"] == "application"
    [application] = doc["applications"]
    for key in ("platform_name", "website", "organization", "credit_code", "contact", "contact_title", "phone",
                "email", "address"):
        assert application[key] == build.APPLICATION[key], key
    assert build.APPLICATION["intro"] in (application["intro"] or "")  # 二、平台简介, read from the scan
    assert application["stamped"] is True
    assert application["complete"] is True and application["missing"] == []
    assert application["batch"] == "首批"
    assert application["ocr_fields"]["credit_code"] >= 0.9
    assert application["ocr_fields"]["organization"] >= 0.9
    assert application["staff_problems"] == [] and application["problems"] == []
    assert message["status"] == "processed"
    [receipt] = outbox(doc, "receipt")  # the platform applied itself (its own domain): no copy to the contact
    assert receipt["to"] == [SENDER]
    assert build.APPLICATION["platform_name"] in sent_text(app, SENDER)


# ------------------------------------------------------------------------ (b) Word first, the scan later


def test_editable_form_asks_for_the_stamped_copy_and_the_scan_completes_it(app, clock, tmp_path):
    mail(tmp_path / "in1", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 27, 0, 30, tzinfo=UTC), files={FORM_DOCX: form_docx(), **FOUR})
    doc = ingest(app, tmp_path / "in1")
    [application] = doc["applications"]
    assert application["organization"] == build.APPLICATION["organization"]
    assert application["complete"] is False and application["stamped"] is False
    assert application["missing"] == ["stamped_form"]  # as the missing-items notice asks for it
    text = sent_text(app, SENDER)
    assert "加盖公章的基本情况表（扫描件或照片）" in text
    assert "需更正" not in text
    ours = outbox(export_state(app.engine), "missing_items")[-1]["message_id"]
    clock.value = datetime(2020, 2, 27, 9, 0, tzinfo=UTC)
    mail(tmp_path / "in2", "b.eml", sender=SENDER, subject="回复：补充材料通知", reply_to=ours,
         when=datetime(2020, 2, 27, 8, 0, tzinfo=UTC), files={STAMPED: scan("basic_form_stamped.pdf")})
    doc = ingest(app, tmp_path / "in2")
    [application] = doc["applications"]
    assert application["complete"] is True and application["stamped"] is True
    assert application["batch"] == "首批"
    assert application["staff_problems"] == []
    assert len(application["message_ids"]) == 2
    assert outbox(doc, "receipt")


# ------------------------------------------------------------------------ (c) a grayscale scan


def test_grayscale_scan_waits_for_staff_and_nothing_goes_to_the_sender(app, tmp_path):
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC), files={GRAY: scan("basic_form_gray.pdf"), **FOUR})
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    assert application["organization"] == build.APPLICATION["organization"]
    assert application["credit_code"] == build.APPLICATION["credit_code"]
    assert application["stamped"] is None and application["complete"] is False
    assert application["problems"] == []
    assert any("公章" in p for p in application["staff_problems"])
    assert doc["messages"][0]["status"] == "needs_review"
    assert outbox(doc) == []


# ------------------------------------------------------------------------ (d) a phone photo of 附件2


def test_phone_photo_of_the_weekly_form_from_a_registered_city(app, clock, tmp_path):
    clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)
    mail(tmp_path / "in", "a.eml", sender=FOSHAN, subject="佛山市企业职工线上适岗技能提升培训备案情况统计表",
         when=datetime(2020, 2, 24, 9, 0, tzinfo=UTC), files={WEEKLY_PHOTO: scan("weekly_photo.jpg")})
    doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["kind"] == "weekly_report"
    assert doc["applications"] == []
    [report] = doc["weekly_reports"]
    assert report["city"] == "佛山市"
    assert report["week_start"] == "2020-02-17" and report["week_end"] == "2020-02-23"
    assert [(r["enterprise"], r["headcount"], r["platform"]) for r in report["rows"]] == [
        (e, int(n), p) for _, e, n, p in build.WEEKLY_ROWS]
    assert not outbox(doc, "correction")  # a photo is never sent back "to correct"
    if report["status"] == "needs_review":  # a doubtful figure is named for staff, not asked of the city
        assert report["problems"] and all("rows[" in p or "（0." in p for p in report["problems"]), report["problems"]
        assert outbox(doc) == []
    else:  # what this machine reads: every figure sure, the city gets its receipt
        assert report["status"] == "accepted" and report["problems"] == []
        assert [o["to"] for o in outbox(doc)] == [[FOSHAN]] and outbox(doc)[0]["kind"] == "receipt"


# ------------------------------------------------------------------------ (e) a licence of someone else


def test_licence_scan_of_another_organisation_is_a_staff_problem_only(app, tmp_path):
    files = {STAMPED: scan("basic_form_stamped.pdf"), **FOUR}
    files.pop("营业执照.pdf")
    files[OTHER_LICENCE] = other_licence_jpg()
    mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC), files=files)
    doc = ingest(app, tmp_path / "in")
    [application] = doc["applications"]
    assert application["complete"] is True and application["missing"] == []
    problems = application["staff_problems"]
    assert any(OTHER_CODE in p for p in problems), problems
    assert any(OTHER_ORG in p for p in problems), problems
    assert application["problems"] == []
    assert doc["messages"][0]["status"] == "needs_review"
    deliver(app)
    for sent in app.transport.sent:
        body = sent.get_body(("plain",)).get_content()
        assert OTHER_ORG not in body and OTHER_CODE not in body



# ------------------------------------------------------------------------ the OCR worker fails: staff, not the sender


@pytest.mark.parametrize("failure", ["timeout", "crash"])
def test_ocr_worker_timeout_or_crash_goes_to_staff_not_back_to_the_applicant(app, tmp_path, monkeypatch, failure):
    from dataclasses import replace

    import parsers.sandbox as sandbox_module
    from parsers.formats.limits import Limits

    limits = Limits()
    if failure == "timeout":  # the worker cannot even load its models in a tenth of a second
        limits = replace(limits, ocr_wall_timeout_s=0.1)
    else:  # the OCR child dies of a signal mid-page (a native crash in onnxruntime)
        monkeypatch.setattr(sandbox_module, "ocr_task", _segfault_task)
    with Sandbox(limits) as sandbox:
        app.analyzer = sandbox
        mail(tmp_path / "in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
             when=datetime(2020, 2, 26, 3, 0, tzinfo=UTC), files={STAMPED: scan("basic_form_stamped.pdf"), **FOUR})
        doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["status"] == "needs_review"
    assert outbox(doc) == []  # neither "file broken, resend" nor a missing-items notice
    [application] = doc["applications"]
    assert application["problems"] == []
    assert any(STAMPED in p and "识别" in p for p in application["staff_problems"] + message["problems"]), (
        application["staff_problems"], message["problems"])


def _segfault_task(data, filename, mail_date, limits, converter):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def test_ocr_timeout_on_a_citys_weekly_photo_waits_for_staff_without_asking_the_city(app, clock, tmp_path):
    from dataclasses import replace

    from parsers.formats.limits import Limits

    clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)
    with Sandbox(replace(Limits(), ocr_wall_timeout_s=0.1)) as sandbox:
        app.analyzer = sandbox
        mail(tmp_path / "in", "a.eml", sender=FOSHAN, subject="佛山市企业职工线上适岗技能提升培训备案情况统计表",
             when=datetime(2020, 2, 24, 9, 0, tzinfo=UTC), files={WEEKLY_PHOTO: scan("weekly_photo.jpg")})
        doc = ingest(app, tmp_path / "in")
    [message] = doc["messages"]
    assert message["status"] == "needs_review"
    assert any(WEEKLY_PHOTO in p and "OCR" in p for p in message["problems"]), message["problems"]
    assert outbox(doc) == [], outbox(doc)  # the city is not told its photo is broken
