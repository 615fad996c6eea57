"""Byte-level fixtures for every decoding repair real Chinese mail needs."""

from __future__ import annotations

import base64
import codecs
import subprocess
import sys
from urllib.parse import quote

import pytest

from ingest.pipeline.charsets import codec_for, decode_bytes
from ingest.pipeline.decode import decode_message, nfkc

GBK_ONLY = "朱镕基 喆 堃"  # 镕 喆 堃 are in GBK but not in GB2312


def b64(text: str, codec: str) -> str:
    return base64.b64encode(text.encode(codec)).decode()


def mail(headers: bytes, body: bytes = b"body\r\n") -> bytes:
    return b"From: a@example.org\r\nTo: zxjyck@163.com\r\nMessage-ID: <m1@example.org>\r\n" + headers + b"\r\n" + body


def with_attachment(disposition: bytes, ctype: bytes = b"application/octet-stream") -> bytes:
    return mail(
        b"Subject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n",
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--XX\r\nContent-Type: " + ctype
        + b"\r\nContent-Transfer-Encoding: base64\r\n" + disposition + b"\r\n\r\n"
        + base64.b64encode(b"data") + b"\r\n--XX--\r\n",
    )


@pytest.mark.parametrize("label", ["gb2312", "GB2312", "gbk", "cp936", "euc-cn", "x-gbk"])
def test_gb_family_subject_decodes_as_gb18030(label: str) -> None:
    raw = mail(f"Subject: =?{label}?B?{b64(GBK_ONLY, 'gbk')}?=\r\n".encode())
    decoded = decode_message(raw)
    assert decoded.subject == GBK_ONLY


@pytest.mark.parametrize("label", ["gb2312", "gbk", "cp936", "euc-cn"])
def test_gb_family_body_decodes_as_gb18030(label: str) -> None:
    raw = mail(f"Subject: x\r\nContent-Type: text/plain; charset={label}\r\n".encode(),
               "广州市周报 朱镕基\r\n".encode("gbk"))
    assert decode_message(raw).text.strip() == "广州市周报 朱镕基"


def test_codec_aliases_installed_globally() -> None:
    decode_message(mail(b"Subject: x\r\n"))  # the first decode installs the repair (conftest did already)
    assert codecs.lookup("gb2312").name == "gb18030"
    assert "镕".encode("gbk").decode("gb2312") == "镕"


def test_importing_patches_nothing_and_the_first_decode_installs_the_repair() -> None:
    # no side effect at import; the decoding entry point installs the repair on first use
    code = (
        "import email.charset, encodings.aliases\n"
        "import ingest, ingest.app, ingest.cli.main, ingest.pipeline.decode, ingest.pipeline.store\n"
        "print(encodings.aliases.aliases.get('gb2312'), email.charset.CODEC_MAP.get('gb2312'))\n"
        "ingest.pipeline.decode.decode_message(b'From: a@example.org\\r\\nSubject: x\\r\\n\\r\\nbody\\r\\n')\n"
        "print(encodings.aliases.aliases.get('gb2312'), email.charset.CODEC_MAP.get('gb2312'))\n"
        "print('\u9555'.encode('gbk').decode('gb2312'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:3] == ["None eucgb2312_cn", "gb18030 gb18030", "\u9555"]


def test_codec_for_does_not_depend_on_the_codec_cache() -> None:
    # A fresh interpreter that looks gb2312 up (and caches it) before zxjyck is imported.
    code = (
        "import codecs; codecs.lookup('gb2312'); b'\\xe9F'.decode('gbk', 'replace')\n"
        "from ingest.pipeline.charsets import decode_bytes, codec_for\n"
        "print(codec_for('gb2312'), decode_bytes('镕'.encode('gbk'), 'gb2312'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["gb18030", "镕"]


def test_rfc2047_inside_quoted_filename() -> None:
    name = "广州市周报（2月17日-23日）.xlsx"
    raw = with_attachment(f'Content-Disposition: attachment; filename="=?GBK?B?{b64(name, "gbk")}?="'.encode())
    [att] = decode_message(raw).attachments
    assert att.filename == name
    assert att.raw_filename.startswith("=?GBK?B?")


def test_rfc2047_inside_quoted_name_param_without_disposition() -> None:
    name = "附件1 基本情况表.docx"
    raw = with_attachment(b"Content-Disposition: attachment",
                          f'application/msword; name="=?utf-8?B?{b64(name, "utf-8")}?="'.encode())
    [att] = decode_message(raw).attachments
    assert att.filename == name


def test_rfc2231_with_continuations_and_charset() -> None:
    name = "深圳市企业职工线上适岗技能提升培训备案情况统计表.xlsx"
    tokens = [quote(bytes([b])) for b in name.encode("utf-8")]  # split between %XX escapes, as clients do
    parts = ["".join(tokens[i:i + 15]) for i in range(0, len(tokens), 15)]
    params = "".join(
        f";\r\n filename*{i}*={'UTF-8' + chr(39) * 2 if i == 0 else ''}{p}" for i, p in enumerate(parts)
    )
    raw = with_attachment(f"Content-Disposition: attachment{params}".encode())
    [att] = decode_message(raw).attachments
    assert att.filename == name


def test_rfc2231_gbk_charset() -> None:
    name = "营业执照.pdf"
    raw = with_attachment(f"Content-Disposition: attachment; filename*=gbk''{quote(name.encode('gbk'))}".encode())
    [att] = decode_message(raw).attachments
    assert att.filename == name


@pytest.mark.parametrize("codec", ["utf-8", "gbk"])
def test_raw_8bit_filename_recovered_from_header_bytes(codec: str) -> None:
    name = "珠海市周报 朱镕基.xls"
    raw = with_attachment(b'Content-Disposition: attachment; filename="' + name.encode(codec) + b'"')
    decoded = decode_message(raw)
    [att] = decoded.attachments
    assert att.filename == name
    assert "filename: raw 8-bit bytes in parameter" in att.defects


def test_raw_8bit_subject_uses_the_declared_body_charset() -> None:
    raw = mail(b"Subject: Die Hasen und die Fr\xf6sche\r\nContent-Type: text/plain; charset=iso-8859-1\r\n")
    decoded = decode_message(raw)
    assert decoded.subject == "Die Hasen und die Frösche"
    assert "subject: raw 8-bit bytes in header" in decoded.defects


def test_raw_8bit_gbk_subject() -> None:
    raw = mail(b"Subject: " + "广州市周报".encode("gbk") + b"\r\nContent-Type: text/plain; charset=gb2312\r\n")
    assert decode_message(raw).subject == "广州市周报"


def test_nfkc_only_for_matching_never_on_the_stored_original() -> None:
    name = "周报（第１周）．xlsx"
    raw = with_attachment(f'Content-Disposition: attachment; filename="=?utf-8?B?{b64(name, "utf-8")}?="'.encode())
    [att] = decode_message(raw).attachments
    assert att.filename == name
    assert nfkc(att.filename) == "周报(第1周).xlsx"


def test_path_parts_stripped_from_hostile_filename() -> None:
    raw = with_attachment(b'Content-Disposition: attachment; filename="../../etc/passwd"')
    [att] = decode_message(raw).attachments
    assert att.filename == "passwd"
    assert "filename: path or control characters removed" in att.defects


def test_undeclared_charset_defect_is_noted() -> None:
    decoded = decode_message(mail(b"Subject: x\r\n", "正文".encode("gbk")))
    assert decoded.text.strip() == "正文"
    assert "body: no charset declared, decoded as gb18030" in decoded.defects


def test_wrong_declared_charset_falls_back_and_notes_it() -> None:
    raw = mail(b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n", "广州".encode("gbk"))
    decoded = decode_message(raw)
    assert decoded.text.strip() == "广州"
    assert "body: declared charset 'utf-8' does not fit, decoded as gb18030" in decoded.defects


def test_unknown_charset_is_noted() -> None:
    raw = mail(b"Subject: =?x-unknown-cs?Q?abc?=\r\n")
    decoded = decode_message(raw)
    assert decoded.subject == "abc"
    assert "subject: unknown charset 'x-unknown-cs'" in decoded.defects


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty file"),
        (b"   \r\n\r\n", "empty file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "not an e-mail message: an Outlook .msg / OLE2 file"),
        (b"%PDF-1.4\n...", "not an e-mail message: a PDF file"),
        (b"just some words\nwithout headers", "not an e-mail message: no header block"),
    ],
)
def test_bytes_that_are_not_mail(raw: bytes, reason: str) -> None:
    decoded = decode_message(raw)
    assert decoded.is_mail is False
    assert decoded.defects[0].startswith(reason)


def test_decode_bytes_fallback_order() -> None:
    sink: list[str] = []
    assert decode_bytes("广州".encode(), "gb2312", sink, "x") == "广州"
    assert sink == ["x: declared charset 'gb2312' does not fit, decoded as utf-8"]
    assert codec_for("GB_2312-80") == "gb18030"
    assert codec_for("nonsense-charset") is None
