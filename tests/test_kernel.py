"""The project-wide kernel (zxjyck/): labels, the GB charset rule, Message-IDs."""

from __future__ import annotations

import pytest

from notify.compose import NOTICE_KINDS, DigestCityRow, normalise_message_id
from notify.outbox import SmtpAccount, TransportSettings, build_transport
from notify.transport import FileTransport, SmtpTransport
from store.models import (
    MATERIAL_KEYS,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    OUTBOX_SUPPRESSED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_CORRECTION,
    REPORT_NEEDS_REVIEW,
)
from zxjyck import labels
from zxjyck.charsets import codec_for
from zxjyck.message_ids import message_id_of, references_of

# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(("table", "codes"), [
    (labels.KIND, MESSAGE_KINDS),
    (labels.MESSAGE_STATUS, MESSAGE_STATUSES),
    (labels.MATERIAL, MATERIAL_KEYS),
    (labels.REPORT_STATUS, (REPORT_ACCEPTED, REPORT_NEEDS_CORRECTION, REPORT_NEEDS_REVIEW, "missing")),
    (labels.OUTBOX_STATUS, (OUTBOX_PENDING, OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_SUPPRESSED)),
    (labels.NOTICE_KIND, NOTICE_KINDS),
])
def test_every_stored_code_has_a_label(table, codes):
    assert [code for code in codes if not table.get(code)] == []


def test_the_bilingual_cli_adds_the_code_to_the_one_label():
    assert labels.with_code(labels.MESSAGE_STATUS, "needs_review") == "待人工核对 needs_review"
    assert labels.with_code(labels.MESSAGE_STATUS, "from_a_newer_version") == "from_a_newer_version"


def test_a_late_report_says_so_unless_it_is_missing():
    assert labels.report_status("needs_correction", late=True) == "待更正（逾期）"
    assert labels.report_status("missing", late=True) == "未报送"
    assert DigestCityRow(city="广州市", status="accepted", late=True).status_label == "已收到（逾期）"


def test_materials_read_as_the_notice_words_them():
    assert labels.MATERIAL["basic_form"] == "附件1 基本情况表"
    assert list(labels.MATERIAL)[:5] == list(MATERIAL_KEYS)


# ---------------------------------------------------------------- charsets


@pytest.mark.parametrize(("label", "codec"), [
    ("gb2312", "gb18030"), ("GBK", "gb18030"), ('"GB_2312-80"', "gb18030"), ("x-gbk", "gb18030"),
    ("cp936", "gb18030"), (b"gb2312", "gb18030"), ("utf8", "utf-8"), ("UTF-8", "utf-8"),
    ("iso-8859-1", "iso8859-1"), ("big5", "big5"), ("no-such-charset", None), ("", None), (None, None),
])
def test_codec_for(label, codec):
    assert codec_for(label) == codec


def test_html_sheet_declared_gb2312_holding_gbk_characters_reads_them():
    from parsers.formats.html_xls import decode_markup

    page = '<meta charset="gb2312"><td>朱镕基 王喆</td>'.encode("gb18030")
    assert "朱镕基 王喆" in decode_markup(page)


# ---------------------------------------------------------------- Message-IDs


@pytest.mark.parametrize(("raw", "stored", "strict"), [
    ("<a@b.org>", "<a@b.org>", "<a@b.org>"),
    ("  a@b.org ", "<a@b.org>", "<a@b.org>"),
    ("<a@b.org> (added by relay)", "<a@b.org>", "<a@b.org>"),
    ("<12345.JavaMail>", "<12345.JavaMail>", None),  # threads inbound, never written into our headers
    ("<a b@c.org>", None, None),
    ('<"x"@c.org>', '<"x"@c.org>', None),
    ("", None, None),
    (None, None, None),
])
def test_message_id_of(raw, stored, strict):
    assert message_id_of(raw) == stored
    assert message_id_of(raw, strict=True) == strict
    assert normalise_message_id(raw) == strict


def test_hostile_message_ids_are_cut():
    assert len(message_id_of("<" + "x" * 5000 + "@y>")) == 998
    assert message_id_of("<" + "x" * 300 + "@y>", strict=True) is None
    refs = references_of(" ".join(f"<m{i}@x>" for i in range(80)))
    assert (len(refs), refs[0], refs[-1]) == (50, "<m30@x>", "<m79@x>")


# ---------------------------------------------------------------- the transport's settings


def test_build_transport_from_its_own_settings(tmp_path):
    files = build_transport(TransportSettings(outbox_dir=tmp_path))
    assert isinstance(files, FileTransport)
    smtp = build_transport(TransportSettings(outbox_dir=tmp_path, smtp=SmtpAccount(
        host="smtp.example.org", port=465, security="tls", username="u", password="p", timeout_seconds=5)))
    assert isinstance(smtp, SmtpTransport)
