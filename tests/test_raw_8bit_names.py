"""Raw 8-bit file names and subjects (no MIME encoding at all) end as text, never as a failed message."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlmodel import Session, select

from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.pipeline.decode import decode_message
from ingest.runtime.poll import ingest_paths
from store.models import Attachment, Message, WeeklyReport

WRITERS = Path(__file__).resolve().parent.parent / "fixtures" / "attachments" / "writers"


def mail(subject: bytes, disposition: bytes, content_type: bytes = b"application/octet-stream",
         attachment: bytes = b"abc", sender: bytes = b"gzrsj@example.gov.cn") -> bytes:
    """As some webmail and scripts send it: header bytes straight from the sender's locale, no encoded-words."""
    return (b"From: " + sender + b"\r\nTo: zxjyck@163.com\r\nSubject: " + subject +
            b"\r\nDate: Mon, 24 Feb 2020 10:02:15 +0800\r\nMessage-ID: <" + base64.b16encode(disposition[-12:]) +
            b"@example.gov.cn>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
            b"--B\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
            b"--B\r\nContent-Type: " + content_type + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; " + disposition + b"\r\n\r\n" +
            base64.encodebytes(attachment) + b"\r\n--B--\r\n")


NAME = "广州市周报.xlsx"


@pytest.mark.parametrize(("disposition", "filename", "raw_filename"), [
    (b'filename="' + NAME.encode("utf-8") + b'"', NAME, NAME),
    (b'filename="' + NAME.encode("gbk") + b'"', NAME, "\\xb9\\xe3\\xd6\\xdd\\xca\\xd0\\xd6\\xdc\\xb1\\xa8.xlsx"),
    (b"filename=" + NAME.encode("gbk"), NAME, "\\xb9\\xe3\\xd6\\xdd\\xca\\xd0\\xd6\\xdc\\xb1\\xa8.xlsx"),
    (b"filename*=" + NAME.encode("utf-8"), NAME, NAME),  # RFC 2231 star, but the bytes left raw
    (b"filename*=utf-8''" + NAME.encode("utf-8"), NAME, NAME),
    (b"filename*=gbk''" + NAME.encode("gbk"), NAME, "\\xb9\\xe3\\xd6\\xdd\\xca\\xd0\\xd6\\xdc\\xb1\\xa8.xlsx"),
])
def test_raw_8bit_file_names_are_repaired(disposition: bytes, filename: str, raw_filename: str) -> None:
    decoded = decode_message(mail(NAME.encode("utf-8"), disposition))
    [att] = decoded.attachments
    assert (att.filename, att.raw_filename) == (filename, raw_filename)
    assert "filename: raw 8-bit bytes in parameter" in att.defects
    assert "attachment 1 filename: raw 8-bit bytes in parameter" in decoded.defects


@pytest.mark.parametrize(("subject", "expected"), [
    ("广州市周报".encode(), "广州市周报"),
    ("广州市周报".encode("gbk"), "广州市周报"),
    (b"\xff\xfe\x80 " + "周报".encode(), "\ufffd\ufffd\ufffd 周报"),  # damaged UTF-8: the damage shows
    ("广州市周报".encode("gbk")[:-1], "广州市周\ufffd"),  # GBK cut in the middle of a character
])
def test_raw_8bit_subjects_end_as_text(subject: bytes, expected: str) -> None:
    decoded = decode_message(mail(subject, b'filename="a.xlsx"'))
    assert decoded.subject == expected
    assert "subject: raw 8-bit bytes in header" in decoded.defects
    if "\ufffd" in expected:
        assert "subject: bytes in no known charset replaced by U+FFFD" in decoded.defects


def test_bytes_in_no_charset_become_replacement_characters_with_a_note() -> None:
    decoded = decode_message(mail(b"report", b'filename="\xff\xff\xffabc.xlsx"'))
    [att] = decoded.attachments
    assert att.filename == "\ufffd\ufffd\ufffdabc.xlsx"
    assert att.raw_filename == "\\xff\\xff\\xffabc.xlsx"
    assert "filename: bytes in no known charset replaced by U+FFFD" in att.defects
    for text in (att.filename, att.raw_filename, decoded.subject):
        text.encode("utf-8")  # storable: no lone surrogates


@pytest.fixture
def app(app):
    app.analyzer = InProcessAnalyzer()
    return app


@pytest.mark.parametrize("charset", ["utf-8", "gbk"])
def test_raw_8bit_names_go_through_to_an_accepted_report(app, tmp_path: Path, charset: str) -> None:
    """Both stores: the raw name once reached the database as surrogates and failed the whole message."""
    workbook = (WRITERS / "weekly_xlsxwriter.xlsx").read_bytes()
    raw = mail("广州市周报".encode(charset), b'filename="' + NAME.encode(charset) + b'"',
               content_type=b'application/vnd.ms-excel; name="' + NAME.encode(charset) + b'"', attachment=workbook)
    (tmp_path / "m.eml").write_bytes(raw)
    report = ingest_paths(app, [tmp_path / "m.eml"])
    assert report.processed == {"processed": 1}
    with Session(app.engine) as s:
        [message] = s.exec(select(Message)).all()
        [att] = s.exec(select(Attachment)).all()
        [weekly] = s.exec(select(WeeklyReport)).all()
    assert (message.status, message.subject, message.problems) == ("processed", "广州市周报", [])
    assert att.filename == NAME
    assert (weekly.city, weekly.status, weekly.total_headcount) == ("广州市", "accepted", 245)
