"""The notice's own forms (附件1, 附件2) as senders fill them in Word, Excel and print to PDF.

The fixtures come from fixtures/build_notice_forms.py: the notice's layout with its
spaced labels (网 址, 注册登记 机 构, 统一社会 信用代码, 职 务), labels and headers
wrapped inside cells, section headings and the hint under 二、平台简介. Every
field must come out exactly as it was typed.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from ingest.pipeline.classify import WEEKLY_WORDS
from parsers.analysis import analyze_attachment
from parsers.application import LABELS, validate_application
from parsers.labels import label_key
from parsers.weekly import WEEKLY_FORM_NAMES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOTICE = FIXTURES / "attachments" / "notice"
sys.path.insert(0, str(FIXTURES))

import build_notice_forms as notice  # noqa: E402 - the fixtures folder is not a package

MAIL_DAY = dt.date(2020, 3, 2)
FORM_FILES = ["附件1_基本情况表.docx", "附件1_基本情况表.xlsx", "附件1_基本情况表.pdf"]
WEEKLY_FILES = [f"附件2_名称{n}.{ext}" for n in (1, 2, 3) for ext in ("xlsx", "docx", "pdf")]


@pytest.mark.parametrize(("label", "key"), [
    ("平台名称", "platform_name"), ("网 址", "website"), ("注册登记 机 构", "organization"),
    ("注册登记\n机 构", "organization"), ("统一社会 信用代码", "credit_code"), ("统一社会\n信用代码", "credit_code"),
    ("联系人", "contact"), ("职 务", "contact_title"), ("联系电话", "phone"), ("电子邮箱", "email"),
    ("通讯地址", "address"), ("二、平台简介", "intro"), ("四、备注", ""),
])
def test_every_label_of_the_notice_form_is_known(label, key):
    assert LABELS.key_of_cell(label) == key


def test_section_numbers_are_not_part_of_a_label():
    assert label_key("二、平台简介") == "平台简介"
    assert label_key("（二）平台简介") == "平台简介"
    assert label_key("2020年") == "2020年"  # a number that is not a section number stays


@pytest.mark.parametrize("name", FORM_FILES)
def test_notice_basic_form_every_field_exact(name):
    analysis = analyze_attachment((NOTICE / name).read_bytes(), name, MAIL_DAY)
    assert analysis.problems == []
    app = analysis.application
    assert app is not None, f"{name}: not recognised as 附件1"
    for key, value in notice.VALUES.items():
        assert getattr(app, key) == value, f"{name}: {key}"
    got = [{"name": p.name, "occupation": p.occupation, "format": p.format, "hours": p.hours,
            "assessment": p.assessment, "source": p.source, "fee": p.fee} for p in app.projects]
    assert got == notice.PROJECT_VALUES
    assert app.problems == []
    assert validate_application(app) == []  # a complete, correct form: nothing to ask the sender


def test_intro_left_as_the_hint_only_counts_as_not_filled():
    from parsers.application import parse_application
    from tests.form_builders import doc, table

    grid, _merges = notice.basic_form_grid()
    grid[-1] = [notice.INTRO_HINT, "", "", ""]
    app = parse_application(doc(table(grid)))
    assert app.intro == ""
    assert any(p.field == "intro" for p in validate_application(app))


@pytest.mark.parametrize("name", WEEKLY_FILES)
def test_notice_weekly_form_under_each_of_its_three_names(name):
    analysis = analyze_attachment((NOTICE / name).read_bytes(), name, MAIL_DAY)
    weekly = analysis.weekly
    assert weekly is not None, name
    assert analysis.application is None
    assert weekly.city == notice.WEEKLY_CITY
    assert (weekly.week_start, weekly.week_end) == (dt.date(2020, 2, 24), dt.date(2020, 3, 1))
    assert weekly.filled_by == notice.WEEKLY_FILLED_BY
    assert weekly.phone == notice.WEEKLY_PHONE
    assert [(r.enterprise, r.headcount, r.platform) for r in weekly.rows] == notice.WEEKLY_ROWS
    assert weekly.problems == []


def test_the_three_names_are_the_ones_the_notice_prints():
    assert set(WEEKLY_FORM_NAMES) == set(notice.WEEKLY_NAMES)
    for name in WEEKLY_FORM_NAMES:  # a subject naming the form by any of them reads as a weekly report
        assert any(w in name for w in WEEKLY_WORDS)
