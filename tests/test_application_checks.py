"""Unit tests of the seal, licence, OCR and recommender rules, and of the [applications] settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ingest.config import ConfigError, load_settings
from ingest.workflows.application_checks import (
    copy_address,
    licence_check,
    licence_problems,
    merge_stamped,
    ocr_reading,
    recommended_by,
    seal_seen,
    stamp_decision,
    values_source,
)
from parsers.analysis import AttachmentAnalysis
from parsers.application import ApplicationData
from parsers.materials import MaterialGuess

CODE = "91440106MA5D3K7P2L"


@dataclass
class Licence:
    kind: str = "营业执照"
    name: str = "广东南粤工匠职业培训有限公司"
    credit_code: str = CODE
    credit_code_valid: bool = True
    confidence: float = 0.9


def form(name: str, **ocr) -> AttachmentAnalysis:
    return AttachmentAnalysis(filename=name, format="pdf", application=ApplicationData(platform_name="x"), **ocr)


def test_seal_seen_from_copies():
    docx = form("a.docx")
    stamped = form("scan.pdf", scanned=True, stamped=True)
    unstamped_scan = form("scan.pdf", scanned=True, stamped=False)
    gray = form("gray.jpg", scanned=True, stamped=None)
    assert seal_seen([docx]) is False
    assert seal_seen([docx, unstamped_scan]) is False
    assert seal_seen([docx, gray]) is None
    assert seal_seen([gray, stamped]) is True
    named_only = AttachmentAnalysis(filename="基本情况表（盖章）.jpg", format="jpeg", stamped=True,
                                    material=MaterialGuess("basic_form", "文件名含“基本情况表”", 0.95))
    assert seal_seen([named_only]) is True


@pytest.mark.parametrize(("previous", "had", "now", "has", "expected"), [
    (None, False, False, True, False),  # first form, editable only
    (False, True, True, True, True),  # the stamped copy follows
    (True, True, False, True, True),  # a later editable copy does not unstamp it
    (False, True, None, True, None),  # a grayscale scan after an editable copy: staff decide
    (None, True, False, True, None),  # ... and stays undecided when another editable copy comes
    (False, True, False, False, False),  # a mail without any form changes nothing
])
def test_merge_stamped(previous, had, now, has, expected):
    assert merge_stamped(previous, had, now, has) is expected


def test_stamp_decision():
    assert stamp_decision(True, True, False).missing_item is True
    gray = stamp_decision(True, True, None)
    assert gray.missing_item is False and "公章" in gray.staff_problem
    assert stamp_decision(True, True, True) == stamp_decision(False, True, False) == stamp_decision(True, False, False)
    assert not stamp_decision(False, True, None).staff_problem


def test_values_come_from_the_editable_copy_before_the_scan():
    scan, docx = form("scan.pdf", scanned=True, stamped=True), form("a.docx")
    assert values_source([scan, docx]) is docx
    assert values_source([scan]) is scan
    assert values_source([]) is None


def test_ocr_reading_only_for_scans():
    assert ocr_reading(form("a.docx", ocr_fields={"organization": 0.4})).low == []
    reading = ocr_reading(form("s.jpg", scanned=True, ocr_fields={"credit_code": 0.41},
                               low_confidence_fields=["credit_code"]))
    assert reading.low == ["credit_code"] and "统一社会信用代码（0.41）" in reading.staff_problem()


def test_licence_cross_check():
    ok = AttachmentAnalysis(filename="营业执照.jpg", format="jpeg",
                            licence=Licence(name="广东南粤工匠职业培训有限公司 "))
    other_code = AttachmentAnalysis(filename="营业执照.jpg", format="jpeg", licence=Licence(credit_code="9144" + "0" * 14))
    other_name = AttachmentAnalysis(filename="执照.png", format="png", licence=Licence(name="广东别家公司"))
    org = "广东南粤工匠职业培训有限公司"
    assert licence_problems([ok], CODE, org) == [] and licence_check([ok], CODE, org) == "一致"
    [problem] = licence_problems([other_code], CODE, org)
    assert "914400000000000000" in problem and CODE in problem
    [problem] = licence_problems([other_name], CODE, org)
    assert "广东别家公司" in problem
    assert licence_check([other_name], CODE, org) == "不一致"
    assert licence_check([form("a.docx")], CODE, org) == ""  # no licence read: nothing to say


def test_recommended_by():
    assert recommended_by("广州市", "gzrsj@example.gov.cn", "人社局", "申报", "a@b.cn") == "广州市（人社局 <gzrsj@example.gov.cn>）"
    assert recommended_by(None, "gdpxxh@163.com", "广东省职业培训协会", "现推荐该平台", "chen@x.cn") \
        == "广东省职业培训协会 <gdpxxh@163.com>"
    assert recommended_by(None, "chen@x.cn", "", "我司推荐的平台", "chen@x.cn") is None  # its own address
    assert recommended_by(None, "lisi@163.com", "", "申报材料", "chen@x.cn") is None  # no word of recommending


def test_copy_address():
    ours = {"zxjyck@163.com"}
    assert copy_address("chen@x.cn", "apply@x.cn", ours) == "chen@x.cn"
    assert copy_address("Chen@X.cn", "chen@x.cn", ours) is None
    assert copy_address("zxjyck@163.com", "a@b.cn", ours) is None
    assert copy_address("not an address", "a@b.cn", ours) is None
    assert copy_address("a@b.cn\r\nBcc: x@y.cn", "c@d.cn", ours) is None


def config(tmp_path: Path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return load_settings(path, environ={})


def test_applications_settings_defaults_and_batches(tmp_path):
    default = config(tmp_path, "").applications
    assert default.require_stamped_form is True
    assert [(b.name, b.closes) for b in default.batches] == [("首批", date(2020, 2, 28)), ("常态征集", None)]
    assert default.batch_on(date(2020, 2, 28)) == "首批" and default.batch_on(date(2020, 2, 29)) == "常态征集"
    custom = config(tmp_path, '[applications]\nrequire_stamped_form = false\nbatches = [{name = "首批", closes = '
                              '2020-02-28}, {name = "第二批", closes = "2020-03-31"}]\n').applications
    assert custom.require_stamped_form is False
    assert custom.batch_on(date(2020, 3, 31)) == "第二批" and custom.batch_on(date(2020, 4, 1)) is None


@pytest.mark.parametrize(("body", "says"), [
    ('batches = [{name = "常态征集"}, {name = "首批", closes = 2020-02-28}]', "only the last batch"),
    ('batches = [{name = "a", closes = 2020-03-01}, {name = "b", closes = 2020-02-01}]', "increasing"),
    ('batches = [{name = "a", closes = "2020-13-01"}]', "YYYY-MM-DD"),
    ("batches = []", "at least one"),
    ('require_stamped_form = "yes"', "require_stamped_form"),
    ("bogus = 1", "applications.bogus"),
])
def test_applications_settings_refused(tmp_path, body, says):
    with pytest.raises(ConfigError, match=says):
        config(tmp_path, f"[applications]\n{body}\n")
