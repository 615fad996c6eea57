"""A weekly form saved by LibreOffice and one in Excel's layout go through `zxjyck ingest` to accepted reports."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config

WRITERS = Path(__file__).resolve().parent.parent / "fixtures" / "attachments" / "writers"
ROWS = [
    {"enterprise": "广州市越秀科技有限公司", "headcount": 120, "platform": "粤培通线上学习平台"},
    {"enterprise": "广州珠江制造有限公司", "headcount": 85, "platform": "学习强国"},
    {"enterprise": "广州白云物流有限公司", "headcount": 40, "platform": "腾讯课堂"},
]


def zxjyck(config: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("zxjyck")
    cmd = [exe] if exe else [sys.executable, "-m", "ingest.cli"]
    return subprocess.run([*cmd, "--config", str(config), *args], capture_output=True, text=True, timeout=300)


def foxmail_message(attachment: bytes, filename: str, message_id: str) -> bytes:
    """As Foxmail sends it: GBK subject in B-encoding, the file name in RFC 2231 and as an encoded word."""
    subject = "=?GBK?B?" + base64.b64encode("广州市2月17日-2月23日周报".encode("gbk")).decode() + "?="
    encoded_name = "=?GBK?B?" + base64.b64encode(filename.encode("gbk")).decode() + "?="
    rfc2231 = "".join(f"%{b:02X}" for b in filename.encode("utf-8"))
    body = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    text = base64.encodebytes("您好，附件是本周统计表，请查收。".encode("gbk")).decode().replace("\n", "\r\n")
    return (
        "Date: Mon, 24 Feb 2020 10:02:15 +0800\r\n"
        "From: \"=?GBK?B?" + base64.b64encode("广州市人社局".encode("gbk")).decode() + "?=\" <gzrsj@example.gov.cn>\r\n"
        "To: \"zxjyck\" <zxjyck@163.com>\r\n"
        f"Subject: {subject}\r\n"
        "X-Mailer: Foxmail 7.2.20.273[cn]\r\n"
        "Mime-Version: 1.0\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Content-Type: multipart/mixed;\r\n\tboundary=\"----=_001_NextPart572182624333_=----\"\r\n\r\n"
        "This is a multi-part message in MIME format.\r\n\r\n"
        "------=_001_NextPart572182624333_=----\r\n"
        "Content-Type: text/plain;\r\n\tcharset=\"GB2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{text}\r\n"
        "------=_001_NextPart572182624333_=----\r\n"
        f"Content-Type: application/octet-stream;\r\n\tname=\"{encoded_name}\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;\r\n\tfilename*=UTF-8''{rfc2231}\r\n\r\n"
        f"{body}\r\n"
        "------=_001_NextPart572182624333_=------\r\n\r\n"
    ).encode("ascii")


@pytest.mark.parametrize("writer", ["libreoffice.xlsx", "xlsxwriter.xlsx", "wps_handmade.xlsx",
                                    "excel_handmade.xlsx", "libreoffice.xls"])
def test_real_writer_workbook_is_accepted_with_exact_rows(tmp_path: Path, writer: str) -> None:
    config = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    inbox = tmp_path / "in"
    inbox.mkdir()
    name = "附件2：备案情况统计表" + Path(writer).suffix
    (inbox / "weekly.eml").write_bytes(
        foxmail_message((WRITERS / f"weekly_{writer}").read_bytes(), name, f"w-{writer}@example.gov.cn"))
    run = zxjyck(config, "ingest", str(inbox))
    assert run.returncode == 0, run.stderr
    doc = json.loads(zxjyck(config, "export", "--format", "json").stdout)
    [message] = doc["messages"]
    assert message["problems"] == []
    assert (message["kind"], message["status"]) == ("weekly_report", "processed")
    assert [a["filename"] for a in message["attachments"]] == [name]
    [report] = doc["weekly_reports"]
    assert (report["city"], report["week_start"], report["week_end"], report["status"], report["late"]) == (
        "广州市", "2020-02-17", "2020-02-23", "accepted", False)
    assert (report["filled_by"], report["phone"], report["total_headcount"]) == ("张三", "020-12345678", 245)
    assert report["rows"] == ROWS
    [notice] = doc["outbox"]
    assert (notice["kind"], notice["to"]) == ("receipt", ["gzrsj@example.gov.cn"])
