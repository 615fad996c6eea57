"""RFC 3834 loop rules and abuse limits, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from notify.rules import reply_block_reason, role_sender_reason
from parsers.machine_mail import CaseInsensitiveHeaders, is_auto_reply, is_bounce, split_address

CST = timezone(timedelta(hours=8))
NOW = datetime(2020, 2, 24, 12, 0, tzinfo=CST)
OURS = {"zxjyck@163.com", "Notices@zxjyck.example.org"}
CITY = "广州市人社局 <gzrsj@example.gov.cn>"


def decide(**overrides):
    values = dict(
        from_addr=CITY,
        headers={"Subject": "广州市2月17日-23日周报", "From": CITY},
        kind="weekly_report",
        received_at=NOW - timedelta(hours=2),
        now=NOW,
        window_days=7,
        our_addresses=OURS,
        sent_today_to_sender=0,
        max_per_sender_per_day=5,
    )
    values.update(overrides)
    return reply_block_reason(**values)


@pytest.mark.parametrize("kind", ["weekly_report", "application"])
def test_an_ordinary_report_or_application_may_be_answered(kind):
    assert decide(kind=kind) is None


def test_auto_submitted_no_is_an_ordinary_message():
    assert decide(headers={"auto-submitted": "no"}) is None


def test_x_auto_response_suppress_alone_does_not_block_a_receipt():
    assert decide(headers={"X-Auto-Response-Suppress": "All", "Subject": "周报"}) is None


@pytest.mark.parametrize(
    ("overrides", "expected_part"),
    [
        # kinds that never get an answer
        ({"kind": "other"}, "邮件类别为 other"),
        ({"kind": "bounce"}, "邮件类别为 bounce（退信）"),
        ({"kind": "auto_reply"}, "邮件类别为 auto_reply（自动回复）"),
        ({"kind": "something_new"}, "邮件类别为 something_new（未知类别）"),
        # senders
        ({"from_addr": ""}, "发件人地址为空或无效“（空）”"),
        ({"from_addr": "not an address"}, "发件人地址为空或无效“not an address”"),
        ({"from_addr": "a@b"}, "发件人地址为空或无效"),
        ({"from_addr": "x@example.org\r\nBcc: victim@example.org"}, "发件人地址为空或无效"),
        (
            {"from_addr": "MAILER-DAEMON@mx.example.gov.cn"},
            "MAILER-DAEMON@mx.example.gov.cn 为系统或不接收回复的地址",
        ),
        (
            {"from_addr": "Mail Delivery System <Postmaster@163.com>"},
            "Postmaster@163.com 为系统或不接收回复的地址",
        ),
        ({"from_addr": "noreply@example.org"}, "noreply@example.org 为系统"),
        ({"from_addr": "no-reply@example.org"}, "no-reply@example.org 为系统"),
        ({"from_addr": "No_Reply@example.org"}, "No_Reply@example.org 为系统"),
        ({"from_addr": "do-not-reply@example.org"}, "do-not-reply@example.org 为系统"),
        ({"from_addr": "DoNotReply@example.org"}, "DoNotReply@example.org 为系统"),
        ({"from_addr": "system-noreply@example.org"}, "system-noreply@example.org 为系统"),
        ({"from_addr": "owner-list@example.org"}, "owner-list@example.org 为系统"),
        ({"from_addr": "list-request@example.org"}, "list-request@example.org 为系统"),
        ({"from_addr": "zxjyck@163.com"}, "zxjyck@163.com 是本系统自己的地址"),
        ({"from_addr": "ZXJYCK@163.COM"}, "ZXJYCK@163.COM 是本系统自己的地址"),
        ({"from_addr": "局 <notices@zxjyck.example.org>"}, "是本系统自己的地址"),
        # RFC 3834 headers
        ({"headers": {"Auto-Submitted": "auto-replied"}}, "Auto-Submitted: auto-replied"),
        ({"headers": {"AUTO-SUBMITTED": "Auto-Generated (daily report)"}}, "Auto-Submitted: Auto-Generated"),
        ({"headers": {"auto-submitted": "auto-notified; owner-email=x@y"}}, "Auto-Submitted: auto-notified"),
        ({"headers": {"X-Autoreply": "yes"}}, "来信是自动回复（邮件带有 X-Autoreply 头）"),
        ({"headers": {"x-autorespond": "vacation"}}, "X-Autorespond"),
        ({"headers": {"Precedence": "bulk"}}, "Precedence: bulk"),
        ({"headers": {"precedence": "Junk"}}, "Precedence: junk"),
        ({"headers": {"Precedence": "list"}}, "Precedence: list"),
        ({"headers": {"Precedence": "auto_reply"}}, "Precedence: auto_reply"),
        ({"headers": {"List-Id": "<city.example.org>"}}, "List-Id 头（邮件列表）"),
        ({"headers": {"list-unsubscribe": "<mailto:u@example.org>"}}, "List-Unsubscribe 头"),
        ({"headers": {"Return-Path": "<>"}}, "Return-Path 为空"),
        ({"headers": {"X-Loop": "zxjyck@163.com"}}, "X-Loop 头含本系统地址"),
        ({"headers": {"X-Failed-Recipients": "a@example.org"}}, "X-Failed-Recipients"),
        (
            {"headers": {"Content-Type": 'multipart/report; report-type="delivery-status"; boundary=x'}},
            "report-type=delivery-status",
        ),
        (
            {"headers": {"Content-Type": "multipart/report; report-type=disposition-notification"}},
            "已读回执",
        ),
        # subjects
        ({"headers": {"Subject": "自动回复：广州市周报"}}, "主题“自动回复：广州市周报”为自动回复"),
        ({"headers": {"Subject": "【自动答复】收到"}}, "为自动回复"),
        ({"headers": {"Subject": "Automatic reply: 周报"}}, "为自动回复"),
        ({"headers": {"Subject": "Out of Office: weekly report"}}, "为自动回复"),
        ({"headers": {"Subject": "Auto Reply"}}, "为自动回复"),
        ({"headers": {"Subject": "休假中"}}, "为自动回复"),
        ({"headers": {"Subject": "系统退信"}}, "主题“系统退信”为退信通知"),
        ({"headers": {"Subject": "Undeliverable: 回执"}}, "为退信通知"),
        ({"headers": {"Subject": "Delivery Status Notification (Failure)"}}, "为退信通知"),
        ({"headers": {"Subject": "Mail delivery failed: returning message to sender"}}, "为退信通知"),
        ({"headers": {"Subject": "Returned mail: see transcript for details"}}, "为退信通知"),
        # time window and rate limit
        ({"received_at": NOW - timedelta(days=7, minutes=1)}, "已超过 7 天的自动回复期限"),
        ({"received_at": datetime(2019, 12, 1, 9, 0), "window_days": 30}, "邮件收于 2019-12-01 09:00 +0000"),
        ({"sent_today_to_sender": 5}, "今天已向 gzrsj@example.gov.cn 自动发送 5 封，达到每日上限 5 封"),
        ({"sent_today_to_sender": 1, "max_per_sender_per_day": 1}, "达到每日上限 1 封"),
    ],
)
def test_reply_is_blocked_with_a_specific_reason(overrides, expected_part):
    reason = decide(**overrides)
    assert reason is not None
    assert reason.startswith("不自动回复：")
    assert expected_part in reason


@pytest.mark.parametrize(
    ("overrides", "allowed"),
    [
        ({"received_at": NOW - timedelta(days=6, hours=23)}, True),
        ({"received_at": NOW - timedelta(days=7)}, True),  # exactly at the edge still answered
        ({"received_at": NOW - timedelta(days=7, seconds=1)}, False),
        ({"received_at": NOW + timedelta(minutes=3)}, True),  # clock skew of the sender's server
        ({"sent_today_to_sender": 4}, True),
        ({"sent_today_to_sender": 5}, False),
        ({"received_at": datetime(2020, 2, 24, 3, 0)}, True),  # naive taken as UTC: 11:00 CST
    ],
)
def test_window_and_limit_edges(overrides, allowed):
    assert (decide(**overrides) is None) is allowed


def test_the_first_matching_rule_decides_in_a_fixed_order():
    reason = decide(kind="other", from_addr="MAILER-DAEMON@x.org", headers={"Precedence": "bulk"})
    assert "邮件类别为 other" in reason
    reason = decide(from_addr="MAILER-DAEMON@x.org", headers={"Precedence": "bulk"})
    assert "MAILER-DAEMON@x.org" in reason


def test_headers_may_be_the_message_itself():
    raw = (
        b"From: =?utf-8?b?5bm/5bee?= <gzrsj@example.gov.cn>\r\n"
        b"Subject: =?utf-8?b?6Ieq5Yqo5Zue5aSN77ya5ZGo5oql?=\r\n"  # 自动回复：周报
        b"Message-ID: <1@example.gov.cn>\r\n\r\nbody\r\n"
    )
    msg = message_from_bytes(raw, policy=policy.default)
    reason = decide(headers=msg)
    assert reason == "不自动回复：来信是自动回复（主题“自动回复：周报”为自动回复）"


def test_case_insensitive_headers_keep_the_first_value_and_decode_words():
    msg = EmailMessage()
    msg["Subject"] = "休假通知"
    msg["X-Test"] = "one"
    msg["x-test"] = "two"
    headers = CaseInsensitiveHeaders(msg)
    assert headers.get("SUBJECT") == "休假通知"
    assert headers.get("X-TEST") == "one"
    assert "x-Test" in headers
    assert headers.get("missing") is None


@pytest.mark.parametrize(
    ("headers", "subject", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, None, "自动回复：Auto-Submitted: auto-replied (RFC 3834)"),
        ({"Auto-Submitted": "auto-generated"}, "周报", None),  # processed, only not answered
        ({"Auto-Submitted": "no"}, "周报", None),
        ({"X-Autoreply": "yes"}, None, "自动回复：邮件带有 X-Autoreply 头"),
        ({"X-Autorespond": "x"}, None, "自动回复：邮件带有 X-Autorespond 头"),
        ({"X-Autoreply": "no"}, "周报", None),
        ({}, "自动回复: 关于周报", "自动回复：主题“自动回复: 关于周报”为自动回复"),
        ({}, "Automatic reply: 周报", "自动回复：主题“Automatic reply: 周报”为自动回复"),
        ({}, "AUTO-REPLY: x", "自动回复：主题“AUTO-REPLY: x”为自动回复"),
        ({}, "[Out of Office] x", "自动回复：主题“[Out of Office] x”为自动回复"),
        ({}, "休假自动回复", "自动回复：主题“休假自动回复”为自动回复"),
        ({}, "广州市周报（春节休假后第一周）", None),  # 休假 inside a real subject is not an auto reply
        ({}, "休假期间周报补报", None),
        ({}, "外出培训周报", None),
        ({}, "休假通知", "自动回复：主题“休假通知”为自动回复"),
        ({}, "Re: 关于自动回复的问题", None),
        ({"Subject": "Auto Reply"}, None, "自动回复：主题“Auto Reply”为自动回复"),
        ({}, "", None),
    ],
)
def test_is_auto_reply(headers, subject, expected):
    assert is_auto_reply(headers, subject) == expected


DSN_HEAD = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.gov.cn>\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.gov.cn\r\n\r\nFinal-Recipient: rfc822; x@example.gov.cn\r\n"
    b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
)


def _msg(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize(
    ("raw", "from_addr", "subject", "expected"),
    [
        (DSN_HEAD, None, None, "退信：multipart/report; report-type=delivery-status (RFC 3464)"),
        (
            b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.org\r\n\r\n--b--\r\n",
            None,
            None,
            "退信：邮件含 message/delivery-status 部分 (RFC 3464)",
        ),
        (
            b"From: a@example.org\r\nX-Failed-Recipients: x@y.org\r\n\r\nx",
            None,
            None,
            "退信：邮件带有 X-Failed-Recipients 头",
        ),
        (b"From: x@y.org\r\n\r\nx", "Postmaster@163.com", "hello", "退信：发件人为 Postmaster@163.com"),
        (b"From: MAILER-DAEMON@qq.com\r\n\r\nx", None, "whatever", "退信：发件人为 MAILER-DAEMON@qq.com"),
        (b"From: x@y.org\r\n\r\nx", "x@y.org", "系统退信", "退信：主题“系统退信”为退信通知"),
        (b"From: x@y.org\r\n\r\nx", "x@y.org", "退信：回执", "退信：主题“退信：回执”为退信通知"),
        (
            b"From: x@y.org\r\n\r\nx",
            "x@y.org",
            "Undeliverable: 回执",
            "退信：主题“Undeliverable: 回执”为退信通知",
        ),
        (
            b"From: x@y.org\r\n\r\nx",
            "x@y.org",
            "Delivery Status Notification (Failure)",
            "退信：主题“Delivery Status Notification (Failure)”为退信通知",
        ),
        (
            b"From: x@y.org\r\n\r\nx",
            "x@y.org",
            "Mail delivery failed",
            "退信：主题“Mail delivery failed”为退信通知",
        ),
        (
            b"From: x@y.org\r\n\r\nx",
            "x@y.org",
            "Returned mail: User unknown",
            "退信：主题“Returned mail: User unknown”为退信通知",
        ),
        (b"From: x@y.org\r\n\r\nx", "x@y.org", "广州市周报", None),
        (b"From: x@y.org\r\n\r\nx", "x@y.org", "发送失败重发：广州市周报", None),
        (b"From: x@y.org\r\n\r\nx", "x@y.org", "关于退信的说明", None),
        (
            b'From: x@y.org\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary="b"\r\n\r\n',
            None,
            None,
            None,  # a read receipt is an auto reply, not a bounce
        ),
        (b"\r\n", None, None, None),  # no headers at all
    ],
)
def test_is_bounce(raw, from_addr, subject, expected):
    assert is_bounce(_msg(raw), from_addr, subject) == expected


def test_is_bounce_reads_the_subject_header_when_no_subject_is_given():
    assert is_bounce(_msg(b"From: x@y.org\r\nSubject: =?utf-8?b?57O757uf6YCA5L+h?=\r\n\r\n")) == (
        "退信：主题“系统退信”为退信通知"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三 <zhang@example.org>", "zhang@example.org"),
        ("zhang@example.org", "zhang@example.org"),
        ("<zhang@example.org>", "zhang@example.org"),
        ("", None),
        ("zhang", None),
        ("zhang@localhost", None),
        ("a@b.c\nd", None),
    ],
)
def test_split_address(raw, expected):
    assert split_address(raw) == expected


@pytest.mark.parametrize(
    ("addr", "blocked"),
    [
        ("reply@example.org", False),
        ("zhang.noreplyx@example.org", True),  # contains "noreply": a robot
        ("bounce@example.org", True),
        ("bounces+123@example.org", True),
        ("postmaster-cn@example.org", True),
        ("postmasterzhang@example.org", False),
        ("gzrsj@example.gov.cn", False),
    ],
)
def test_role_sender_reason(addr, blocked):
    assert (role_sender_reason(addr) is not None) is blocked


def test_reply_block_reason_accepts_aware_times_in_any_zone():
    received = datetime(2020, 2, 17, 4, 0, tzinfo=UTC)  # 12:00 CST, exactly 7 days before NOW
    assert decide(received_at=received) is None
    assert decide(received_at=received - timedelta(seconds=1)) is not None
