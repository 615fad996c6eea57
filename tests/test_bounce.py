"""Bounce parsing on hand-built RFC 3464 DSNs and on 163 / QQ style 退信."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest

from notify.compose import WeeklyReceiptContext, compose
from parsers.bounce import (
    BounceRecipient,
    bounce_recipients,
    bounce_summary,
    bounced_message_ids,
    html_to_text,
    parse_bounce,
)
from parsers.machine_mail import is_bounce

CST = timezone(timedelta(hours=8))
OUR_ID = "<172.20200224100500.abc@zxjyck.example.org>"


def our_notice_bytes() -> bytes:
    context = WeeklyReceiptContext(
        city="广州市",
        week_start=date(2020, 2, 17),
        week_end=date(2020, 2, 23),
        enterprise_count=1,
        total_headcount=20,
        received_at=datetime(2020, 2, 24, 9, 0, tzinfo=CST),
    )
    msg = compose(
        "receipt",
        context,
        to=["gone@example.gov.cn"],
        sender="zxjyck@163.com",
        in_reply_to="<city-report@example.gov.cn>",
        references=[],
        msgid_domain="zxjyck.example.org",
        now=datetime(2020, 2, 24, 10, 5, tzinfo=CST),
        message_id=OUR_ID,
    )
    return msg.as_bytes(policy=policy.SMTP)


def parse(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def postfix_dsn() -> bytes:
    return (
        b"Return-Path: <>\r\n"
        b"From: MAILER-DAEMON@mx.example.gov.cn (Mail Delivery System)\r\n"
        b"To: zxjyck@163.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <20200224100600.1@mx.example.gov.cn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN.b"\r\n\r\n'
        b"--DSN.b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"This is the mail system at host mx.example.gov.cn.\r\n"
        b"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        b"--DSN.b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.gov.cn\r\n"
        b"Arrival-Date: Mon, 24 Feb 2020 10:05:59 +0800 (CST)\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.gov.cn\r\n"
        b"Original-Recipient: rfc822;gone@example.gov.cn\r\n"
        b"Action: failed\r\n"
        b"Status: 5.1.1\r\n"
        b"Remote-MTA: dns; inner.example.gov.cn\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.gov.cn>: Recipient address\r\n"
        b"    rejected: User unknown in local recipient table\r\n\r\n"
        b"Final-Recipient: rfc822; slow@example.gov.cn\r\n"
        b"Action: delayed\r\n"
        b"Status: 4.4.1\r\n"
        b"Diagnostic-Code: X-Postfix; connect to inner.example.gov.cn: Connection timed out\r\n\r\n"
        b"--DSN.b\r\nContent-Type: message/rfc822\r\n\r\n" + our_notice_bytes() + b"\r\n--DSN.b--\r\n"
    )


def test_rfc3464_dsn_gives_our_message_id_and_the_recipients():
    msg = parse(postfix_dsn())

    assert is_bounce(msg) == "退信：multipart/report; report-type=delivery-status (RFC 3464)"
    assert bounced_message_ids(msg) == [OUR_ID]
    assert bounce_recipients(msg) == [
        BounceRecipient(
            recipient="gone@example.gov.cn",
            action="failed",
            status="5.1.1",
            diagnostic="smtp; 550 5.1.1 <gone@example.gov.cn>: Recipient address rejected: "
            "User unknown in local recipient table",
        ),
        BounceRecipient(
            recipient="slow@example.gov.cn",
            action="delayed",
            status="4.4.1",
            diagnostic="X-Postfix; connect to inner.example.gov.cn: Connection timed out",
        ),
    ]
    recipients = bounce_recipients(msg)
    assert [r.permanent for r in recipients] == [True, False]


def test_dsn_with_only_the_returned_headers():
    raw = (
        b"From: postmaster@example.org\r\nSubject: Delivery Status Notification (Failure)\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; example.org\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: zxjyck@163.com\r\nTo: x@example.org\r\nSubject: =?utf-8?b?5Zue5omn?=\r\n"
        b"Message-Id:\r\n <a1b2@zxjyck.example.org>\r\n\r\n"
        b"--b--\r\n"
    )
    report = parse_bounce(parse(raw))
    assert report.message_ids == ["<a1b2@zxjyck.example.org>"]
    assert report.summary == "x@example.org failed 5.2.2 smtp; 552 5.2.2 mailbox full"


def netease_bounce(html_part: bytes, plain_part: bytes | None = None) -> bytes:
    parts = b""
    if plain_part is not None:
        parts += (
            b"--n\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(plain_part)
            + b"\r\n"
        )
    parts += (
        b"--n\r\nContent-Type: text/html; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html_part)
        + b"\r\n"
    )
    return (
        b"From: Postmaster@163.com\r\n"
        b"To: zxjyck@163.com\r\n"
        b"Subject: =?GBK?B?z7XNs83L0MU=?=\r\n"  # 系统退信
        b"Message-ID: <bounce-1@163.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n' + parts + b"--n--\r\n"
    )


NETEASE_PLAIN = (
    "很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n"
    "被退回的邮件：\n"
    "  主  题：回执：广州市 2020年2月17日—2月23日 周报已收到\n"
    "  时  间：2020-02-24 10:05:00\n"
    "  收件人：gone@example.gov.cn\n"
    "退信原因：\n"
    "  收件人邮箱地址不存在（550 5.1.1 User unknown）\n"
    "----- 原邮件头 -----\n"
    "From: zxjyck@163.com\n"
    f"Message-ID: {OUR_ID}\n"
    "In-Reply-To: <city-report@example.gov.cn>\n"
).encode("gbk")

NETEASE_HTML = (
    "<html><body><p>很抱歉您发送的邮件被退回，以下是该邮件的相关信息：</p>"
    "<table><tr><td>收件人：</td><td>gone@example.gov.cn</td></tr>"
    "<tr><td>退信原因：</td><td>收件人邮箱地址不存在（550 5.1.1 User unknown）</td></tr></table>"
    "<div>原邮件头：<br>From: zxjyck@163.com<br>"
    f"Message-ID: {OUR_ID.replace('<', '&lt;').replace('>', '&gt;')}<br>"
    "References: &lt;other@example.gov.cn&gt;</div></body></html>"
).encode("gbk")


def test_163_style_bounce_with_gbk_plain_and_html():
    msg = parse(netease_bounce(NETEASE_HTML, NETEASE_PLAIN))

    assert is_bounce(msg) == "退信：发件人为 Postmaster@163.com"
    assert is_bounce(msg, "someone@example.org") == "退信：主题“系统退信”为退信通知"
    report = parse_bounce(msg)
    assert report.message_ids == [OUR_ID]
    assert report.recipients == [
        BounceRecipient(
            recipient="gone@example.gov.cn",
            action="failed",
            diagnostic="收件人邮箱地址不存在（550 5.1.1 User unknown）",
        )
    ]
    assert report.summary == "gone@example.gov.cn failed 收件人邮箱地址不存在（550 5.1.1 User unknown）"


def test_163_style_bounce_with_html_only_escaped_ids():
    msg = parse(netease_bounce(NETEASE_HTML))
    assert bounced_message_ids(msg) == [OUR_ID]
    assert [r.recipient for r in bounce_recipients(msg)] == ["gone@example.gov.cn"]


def test_qq_style_bounce_with_the_original_attached_as_eml_file():
    attachment = base64.encodebytes(our_notice_bytes())
    raw = (
        b"From: PostMaster@qq.com\r\nSubject: =?utf-8?b?6YCA5L+h?=\r\n"  # 退信
        b"X-Failed-Recipients: gone@example.gov.cn\r\n"
        b'Content-Type: multipart/mixed; boundary="q"\r\n\r\n'
        b"--q\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "您的邮件未能送达。原因：对方邮箱不存在\r\n".encode()
        + b"--q\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%E5%8E%9F%E9%82%AE%E4%BB%B6.eml\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--q--\r\n"
    )
    report = parse_bounce(parse(raw))
    assert report.message_ids == [OUR_ID]
    assert report.recipients == [
        BounceRecipient(recipient="gone@example.gov.cn", action="failed", diagnostic="对方邮箱不存在")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"> Message-ID: {OUR_ID}\n", [OUR_ID]),
        ("Message-Id: a1@zxjyck.example.org\n", ["<a1@zxjyck.example.org>"]),
        ("message-id：<a2@zxjyck.example.org>\n", ["<a2@zxjyck.example.org>"]),
        ("X-Original-Message-ID: <a3@x.org>\nMessage-ID: <a3@x.org>\n", ["<a3@x.org>"]),
        ("In-Reply-To: <no@x.org>\nReferences: <no2@x.org>\n", []),
        ("the Message-ID: <inline@x.org> mentioned in a sentence\n", []),
        ("Message-ID: <not an id>\n", []),
        ("", []),
    ],
)
def test_message_id_lines_in_a_plain_body(text, expected):
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode()
    assert bounced_message_ids(parse(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (b"", []),
        (b"From: a@example.org\r\n\r\n", []),
        (
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n\r\n--x\r\n'
            b"Content-Type: message/delivery-status\r\n\r\ngarbage without colon\r\n\r\n--x\r\n"
            b"Content-Type: message/rfc822\r\n\r\nnot even headers\r\n--x--\r\n",
            [],
        ),
        (
            b"Content-Type: text/html; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!not base64!!!\r\n",
            [],
        ),
        (
            b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\nMessage-ID: <nb@x.org>\r\n",
            ["<nb@x.org>"],
        ),
        (b"Content-Type: message/rfc822\r\n\r\nMessage-ID: <inner@x.org>\r\n\r\nbody\r\n", ["<inner@x.org>"]),
    ],
)
def test_malformed_bounces_never_raise(raw, ids):
    report = parse_bounce(parse(raw))
    assert report.recipients == []
    assert report.summary == "退信未说明原因"
    assert report.message_ids == ids


def test_unknown_charset_is_still_scanned_for_ids():
    raw = (
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nMessage-ID: <k@x.org>\r\n--x--\r\n"
    )
    assert bounced_message_ids(parse(raw)) == ["<k@x.org>"]


def test_html_to_text_decodes_entities_after_removing_tags():
    assert html_to_text("<p>Message-ID: &lt;a@b.org&gt;</p><script>var x='<b>'</script>").split() == [
        "Message-ID:",
        "<a@b.org>",
    ]


def test_bounce_summary_is_one_bounded_line():
    long_reason = "原因：" + "很长的说明" * 200
    raw = (
        b"From: Postmaster@163.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + long_reason.encode()
    )
    summary = bounce_summary(parse(raw))
    assert len(summary) == 300
    assert summary.endswith("…")
    assert "\n" not in summary
