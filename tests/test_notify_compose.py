"""Templates and message composing: exact subjects, the Chinese wording, headers, escaping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email import message_from_bytes, policy

import jinja2
import pytest

from notify.compose import (
    ApplicationReceiptContext,
    CorrectionRequestContext,
    DigestApplicationRow,
    DigestCityRow,
    DigestContext,
    DigestHealth,
    DigestOutboxRow,
    DigestReviewRow,
    FileProblem,
    LateReminderContext,
    MissingItemsContext,
    WeeklyReceiptContext,
    build_references,
    cn_week_range,
    compose,
    normalise_message_id,
    render,
    reply_subject,
    template_environment,
)
from notify.errors import InvalidAddressError, TemplateContextError, UnknownNoticeKindError

CST = timezone(timedelta(hours=8))
NOW = datetime(2020, 2, 24, 10, 5, 30, tzinfo=CST)
CONTACT = "联系电话：020-12345678；邮箱：zxjyck@163.com"
WEEK = {"week_start": date(2020, 2, 17), "week_end": date(2020, 2, 23)}


def weekly_receipt(**overrides) -> WeeklyReceiptContext:
    values = dict(
        city="广州市",
        enterprise_count=12,
        total_headcount=3456,
        received_at=datetime(2020, 2, 24, 1, 30, tzinfo=UTC),  # 09:30 in Guangzhou
        contact_line=CONTACT,
        **WEEK,
    )
    values.update(overrides)
    return WeeklyReceiptContext(**values)


def application_receipt(**overrides) -> ApplicationReceiptContext:
    values = dict(platform_name="粤学网", organization="广州粤学科技有限公司", received_at=NOW)
    values.update(overrides)
    return ApplicationReceiptContext(**values)


def missing_items(**overrides) -> MissingItemsContext:
    values = dict(
        platform_name="粤学网",
        organization="广州粤学科技有限公司",
        materials_missing=["construction", "content"],
        materials_received=["basic_form", "credentials", "operation"],
        field_problems=["统一社会信用代码“91440101MA5CXXXX1”第18位校验码应为“3”"],
    )
    values.update(overrides)
    return MissingItemsContext(**values)


def correction(**overrides) -> CorrectionRequestContext:
    values = dict(
        city="深圳市",
        problems=[
            FileProblem(filename="深圳周报.xlsx", sheet="Sheet1", row=5, reason="“备案人数”为空"),
            FileProblem(filename="说明.doc", reason="文件已损坏，无法打开"),
            FileProblem(reason="邮件中没有找到周报附件"),
        ],
        **WEEK,
    )
    values.update(overrides)
    return CorrectionRequestContext(**values)


def late_reminder(**overrides) -> LateReminderContext:
    values = dict(
        city="珠海市",
        deadline=datetime(2020, 2, 24, 8, 0, tzinfo=UTC),  # 16:00 CST
        submit_address="zxjyck@163.com",
        **WEEK,
    )
    values.update(overrides)
    return LateReminderContext(**values)


def digest(**overrides) -> DigestContext:
    values = dict(
        day=date(2020, 2, 24),
        cities=[
            DigestCityRow(
                city="广州市", status="accepted", received_at=NOW, enterprise_count=12, total_headcount=3456
            ),
            DigestCityRow(
                city="深圳市",
                status="needs_correction",
                received_at=NOW,
                enterprise_count=3,
                total_headcount=None,
            ),
            DigestCityRow(
                city="佛山市", status="accepted", late=True, enterprise_count=2, total_headcount=44
            ),
            DigestCityRow(city="珠海市", status="missing"),
        ],
        applications=[
            DigestApplicationRow(platform_name="粤学网", organization="粤学公司", complete=True),
            DigestApplicationRow(
                platform_name="<b>技能网</b>", organization="某公司", missing=["content"], problem_count=2
            ),
        ],
        review_items=[
            DigestReviewRow(reason="无法判断是周报还是申报", message_ref="42", sender="x@example.org")
        ],
        outbox_problems=[
            DigestOutboxRow(
                to=["gone@example.gov.cn"], subject="回执", status="bounced", detail="550 用户不存在"
            )
        ],
        health=DigestHealth(last_poll=NOW, backlog=2, failed_messages=1, outbox_pending=3, outbox_failed=1),
        messages_received=9,
        **WEEK,
    )
    values.update(overrides)
    return DigestContext(**values)


# ---------------------------------------------------------------- subjects


@pytest.mark.parametrize(
    ("kind", "context", "subject"),
    [
        ("receipt", weekly_receipt(), "回执：广州市 2020年2月17日—2月23日 周报已收到"),
        ("receipt", application_receipt(), "回执：“粤学网”线上培训平台申报材料已收到"),
        ("missing_items", missing_items(), "补充材料通知：“粤学网”线上培训平台申报材料尚需补充"),
        (
            "missing_items",
            missing_items(platform_name=""),
            "补充材料通知：“广州粤学科技有限公司”线上培训平台申报材料尚需补充",
        ),
        (
            "missing_items",
            missing_items(platform_name="", organization=""),
            "补充材料通知：线上培训平台申报材料尚需补充",
        ),
        ("correction_request", correction(), "更正通知：深圳市 2020年2月17日—2月23日 周报需更正后重新报送"),
        (
            "correction_request",
            correction(week_start=None, week_end=None),
            "更正通知：深圳市 周报需更正后重新报送",
        ),
        (
            "correction_request",
            correction(city=None, week_start=None, week_end=None),
            "更正通知：来件附件无法使用，请更正后重新发送",
        ),
        ("late_reminder", late_reminder(), "催报提醒：珠海市 2020年2月17日—2月23日 周报尚未收到"),
        ("digest", digest(), "每日汇总：2020年2月24日 线上培训报送情况"),
        (
            "receipt",
            application_receipt(platform_name="平台\r\nBcc: x@y.org"),
            "回执：“平台 Bcc: x@y.org”线上培训平台申报材料已收到",
        ),
        (
            "receipt",
            application_receipt(platform_name="长" * 100),
            f"回执：“{'长' * 39}…”线上培训平台申报材料已收到",
        ),
    ],
)
def test_subjects(kind, context, subject):
    assert render(kind, context, today=date(2020, 2, 24))[0] == subject


def test_week_range_repeats_the_year_only_across_new_year():
    assert cn_week_range(date(2020, 2, 17), date(2020, 2, 23)) == "2020年2月17日—2月23日"
    assert cn_week_range(date(2020, 12, 28), date(2021, 1, 3)) == "2020年12月28日—2021年1月3日"


# ---------------------------------------------------------------- bodies


def test_weekly_receipt_text_in_official_style():
    _subject, text, html = render("receipt", weekly_receipt(), today=date(2020, 2, 24))
    lines = text.splitlines()
    assert lines[0] == "广州市人力资源社会保障局："
    assert (
        "　　你单位报送的2020年2月17日—2月23日《附件2 企业职工线上适岗技能提升培训备案情况统计表》"
        "已于2020年2月24日 09:30收到。本周共报送企业12家，备案人数合计3,456人。"
    ) in lines
    assert "晚于截止时间" not in text
    signature = lines.index("广东省职业训练局")
    assert lines[signature + 1] == "2020年2月24日"
    assert CONTACT in lines
    assert "3,456人" in html and "<td" in html


def test_late_weekly_receipt_names_the_deadline():
    context = weekly_receipt(late=True, deadline=datetime(2020, 2, 24, 16, 0, tzinfo=CST))
    _subject, text, html = render("receipt", context, today=date(2020, 2, 24))
    assert "　　本次报送晚于截止时间（2020年2月24日16:00），请今后按时报送。" in text.splitlines()
    assert "本次报送晚于截止时间（2020年2月24日16:00）" in html


def test_application_receipt_lists_the_materials():
    _subject, text, _html = render("receipt", application_receipt(), today=date(2020, 2, 24))
    assert text.splitlines()[0] == "广州粤学科技有限公司："
    listed = [line.strip("　") for line in text.splitlines() if re.match(r"^　　\d\. ", line)]
    assert listed == [
        "1. 附件1 基本情况表",
        "2. 机构资信类材料",
        "3. 平台建设材料",
        "4. 平台运行材料",
        "5. 平台培训内容材料",
    ]


def test_missing_items_lists_exactly_what_is_missing_and_how_to_supplement():
    _subject, text, html = render("missing_items", missing_items(), today=date(2020, 2, 24))
    lines = text.splitlines()
    assert "　　一、缺少以下材料：" in lines
    assert "　　1. 平台建设材料" in lines
    assert "　　2. 平台培训内容材料" in lines
    assert "　　二、附件1 基本情况表中以下内容需更正：" in lines
    assert "　　1. 统一社会信用代码“91440101MA5CXXXX1”第18位校验码应为“3”" in lines
    assert "　　已收到的材料：附件1 基本情况表、机构资信类材料、平台运行材料。" in lines
    assert "请直接回复本邮件，将缺少的材料和更正后的附件1 基本情况表作为附件发送" in text
    assert "<strong>直接回复本邮件</strong>" in html


def test_missing_items_with_only_form_problems_numbers_its_one_section():
    context = missing_items(materials_missing=[], materials_received=list(missing_items().materials_received))
    _subject, text, _html = render("missing_items", context, today=date(2020, 2, 24))
    assert "　　一、附件1 基本情况表中以下内容需更正：" in text.splitlines()
    assert "缺少以下材料" not in text
    assert "将更正后的附件1 基本情况表作为附件发送" in text


def test_correction_request_names_each_file_row_and_reason():
    context = correction(original_subject="深圳市周报2.17-2.23")
    _subject, text, html = render("correction_request", context, today=date(2020, 2, 24))
    lines = text.splitlines()
    assert lines[0] == "深圳市人力资源社会保障局："
    assert lines[2].startswith("　　深圳市2020年2月17日—2月23日报送的《附件2")
    assert "邮件主题“深圳市周报2.17-2.23”" in lines[2]
    assert "　　1. 附件“深圳周报.xlsx”（工作表“Sheet1”）第5行：“备案人数”为空" in lines
    assert "　　2. 附件“说明.doc”：文件已损坏，无法打开" in lines
    assert "　　3. 邮件中没有找到周报附件" in lines
    assert "请在邮件主题注明“更正”" in text
    assert "第5行" in html and "请在邮件主题注明“更正”" in html


def test_correction_request_without_city_speaks_of_the_attachment():
    context = correction(city=None, week_start=None, week_end=None)
    _subject, text, _html = render("correction_request", context, today=date(2020, 2, 24))
    assert text.splitlines()[0] == "报送单位："
    assert text.splitlines()[2].startswith("　　报送的邮件附件，经系统核对存在以下问题")


def test_late_reminder_says_what_where_and_by_when():
    _subject, text, html = render("late_reminder", late_reminder(), today=date(2020, 2, 24))
    assert (
        "　　截至2020年2月24日 16:00，我局尚未收到你单位2020年2月17日—2月23日的"
        "《附件2 企业职工线上适岗技能提升培训备案情况统计表》。该表报送截止时间为2020年2月24日16:00。"
    ) in text.splitlines()
    assert "作为附件发送至 zxjyck@163.com" in text
    assert "zxjyck@163.com" in html


def test_digest_grid_totals_and_sections():
    _subject, text, html = render("digest", digest(), today=date(2020, 2, 24))
    lines = text.splitlines()
    # the totals count accepted reports only; 深圳市 (待更正, 3 enterprises, no total) is shown beside them
    assert ("　　已报送 3/4 个市，其中已确认 2 个；已确认的企业合计 14 家，备案人数合计 3,500 人；"
            "另有 1 个市待核对或待更正（企业 3 家，0 人），未计入合计。") in lines
    assert "　　广州市：已收到，2020年2月24日 10:05收到，企业12家，3,456人" in lines
    assert "　　深圳市：待更正，2020年2月24日 10:05收到，企业3家" in lines
    assert "　　佛山市：已收到（逾期），企业2家，44人" in lines
    assert "　　未报送（1个市）：珠海市" in lines
    grid = [line for line in lines if line.startswith("　　") and "市：" in line]
    assert [line.strip()[:3] for line in grid] == ["深圳市", "佛山市", "广州市"]  # attention first
    assert "　　1. “粤学网”（粤学公司）：材料齐全" in lines
    assert "　　2. “<b>技能网</b>”（某公司）：缺平台培训内容材料；基本情况表2处需更正" in lines
    assert "　　1. [42] x@example.org：无法判断是周报还是申报" in lines
    assert "　　1. 被退信：gone@example.gov.cn《回执》，550 用户不存在" in lines
    assert (
        "　　近24小时收到邮件 9 封；最近一次收取：2020年2月24日 10:05；待处理 2 封；处理失败 1 封；"
        "待发送 3 封；发送失败 1 封。"
    ) in lines
    assert "&lt;b&gt;技能网&lt;/b&gt;" in html
    assert "<b>技能网" not in html
    # the grid: header, 2 group rows (需关注, 已收到), 3 cities, totals, the held row beside the total;
    # then one card row per item
    assert html.count("<tr>") == (1 + 2 + 3 + 1 + 1) + 2 + 1 + 1
    assert "<style" not in html and "class=" not in html  # mail clients strip <style>: inline styles only
    assert "待核对/待更正" in html and "未计入合计" in html


def test_empty_digest_says_none_in_each_section():
    _subject, text, _html = render("digest", digest(applications=[], review_items=[], outbox_problems=[]))
    assert text.count("　　无\n") == 3


# ---------------------------------------------------------------- escaping and strictness


def test_html_autoescapes_a_hostile_platform_name_and_text_keeps_it_verbatim():
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _subject, text, html = render(
        "receipt", application_receipt(platform_name=hostile, organization="A&B公司")
    )
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "A&amp;B公司" in html
    assert hostile in text
    assert "&lt;" not in text and "&amp;" not in text


def test_templates_are_strict_about_undefined_values():
    with pytest.raises(jinja2.UndefinedError):
        template_environment().from_string("{{ nothing_here }}").render()


@pytest.mark.parametrize(
    ("kind", "context", "error"),
    [
        ("thank_you", weekly_receipt(), UnknownNoticeKindError),
        ("receipt", late_reminder(), TemplateContextError),
        ("digest", weekly_receipt(), TemplateContextError),
        ("missing_items", missing_items(materials_missing=[], field_problems=[]), TemplateContextError),
        ("correction_request", correction(problems=[]), TemplateContextError),
    ],
)
def test_render_rejects_wrong_kinds_and_empty_notices(kind, context, error):
    with pytest.raises(error):
        render(kind, context)


# ---------------------------------------------------------------- compose


def composed(kind="receipt", context=None, **overrides):
    values = dict(
        to=["gzrsj@example.gov.cn"],
        sender="zxjyck@163.com",
        in_reply_to="<report-7@example.gov.cn>",
        references=["<root@example.gov.cn>", "<report-6@example.gov.cn>"],
        msgid_domain="zxjyck.example.org",
        now=NOW,
    )
    values.update(overrides)
    return compose(kind, context or weekly_receipt(), **values)


def reparsed(msg):
    return message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_compose_builds_a_threaded_multipart_alternative_reply():
    msg = reparsed(composed())
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in msg.iter_parts()] == ["utf-8", "utf-8"]
    assert msg["Subject"] == "回执：广州市 2020年2月17日—2月23日 周报已收到"
    assert msg["From"].addresses[0].display_name == "广东省职业训练局"
    assert str(msg["To"]) == "gzrsj@example.gov.cn"
    assert msg["Date"] == "Mon, 24 Feb 2020 10:05:30 +0800"
    assert re.fullmatch(r"<[^<>@\s]+@zxjyck\.example\.org>", msg["Message-ID"])
    assert msg["In-Reply-To"] == "<report-7@example.gov.cn>"
    # long enough to be folded onto a continuation line; the ids and their order are what counts
    assert msg["References"].split() == [
        "<root@example.gov.cn>",
        "<report-6@example.gov.cn>",
        "<report-7@example.gov.cn>",
    ]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] is None
    assert msg["Content-Language"] == "zh-CN"
    text = msg.get_body(("plain",)).get_content()
    assert "备案人数合计3,456人" in text
    assert text.rstrip().endswith("Automated notice from the submission mailbox.")
    assert "广东省职业训练局" in msg.get_body(("html",)).get_content()


def test_compose_encodes_chinese_headers_per_rfc2047():
    raw = composed().as_bytes(policy=policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(raw) < 128
    assert re.search(rb"^Subject: =\?utf-8\?", head, re.M)
    assert re.search(rb"^From: =\?utf-8\?[bq]\?[^\r\n]+\?= <zxjyck@163\.com>", head, re.M)
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        ("receipt", weekly_receipt(), "auto-replied"),
        ("missing_items", missing_items(), "auto-replied"),
        ("correction_request", correction(), "auto-replied"),
        ("late_reminder", late_reminder(), "auto-generated"),
        ("digest", digest(), "auto-generated"),
    ],
)
def test_auto_submitted_follows_the_kind(kind, context, expected):
    msg = composed(kind, context, in_reply_to=None, references=[])
    assert msg["Auto-Submitted"] == expected
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None


def test_repeated_recipients_are_written_once():
    msg = composed(to=["a@example.org", "A@Example.org", "b@example.org"])
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@example.org", "b@example.org"]


def test_explicit_auto_submitted_and_reused_message_id():
    msg = composed(auto_submitted="auto-generated", message_id="outbox-17@zxjyck.example.org")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<outbox-17@zxjyck.example.org>"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"auto_submitted": "yes"}, ValueError),
        ({"now": datetime(2020, 2, 24, 10, 5)}, ValueError),
        ({"message_id": "no at sign"}, ValueError),
        ({"subject_style": "fancy"}, ValueError),
        ({"to": []}, InvalidAddressError),
        ({"to": ["not-an-address"]}, InvalidAddressError),
        ({"to": ["a b@example.org"]}, InvalidAddressError),
        ({"to": ["x@example.org\r\nBcc: victim@example.org"]}, InvalidAddressError),
        ({"sender": "@163.com"}, InvalidAddressError),
    ],
)
def test_compose_rejects_bad_arguments(overrides, error):
    with pytest.raises(error):
        composed(**overrides)


def test_reply_subject_style_threads_on_the_original_subject():
    context = weekly_receipt(original_subject="回复：RE: Re:  广州市周报\r\n（2.17-2.23）")
    msg = reparsed(composed(context=context, subject_style="reply"))
    assert msg["Subject"] == "Re: 广州市周报 （2.17-2.23）"
    without_original = reparsed(composed(subject_style="reply"))
    assert without_original["Subject"] == "回执：广州市 2020年2月17日—2月23日 周报已收到"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("周报", "Re: 周报"),
        ("Re: 周报", "Re: 周报"),
        ("答复: 回复：AW: re[2]: 周报", "Re: 周报"),
        ("Fwd: 周报", "Re: Fwd: 周报"),
        ("Reply 周报", "Re: Reply 周报"),
    ],
)
def test_reply_subject(original, expected):
    assert reply_subject(original) == expected


def test_references_are_normalised_deduplicated_and_capped():
    many = [f"<m{i}@example.org>" for i in range(30)]
    refs = build_references(
        ["<root@x.org> <m0@example.org>", "garbage", "bare@x.org", *many], "<m29@example.org>"
    )
    assert refs[0] == "<root@x.org>"
    assert len(refs) == 20
    assert refs[-1] == "<m29@example.org>"
    assert len(set(refs)) == 20
    assert "<bare@x.org>" not in refs  # dropped by the cap, kept the newest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<a@b.org>", "<a@b.org>"),
        ("  a@b.org ", "<a@b.org>"),
        ("<a@b.org> (added by relay)", "<a@b.org>"),
        ("", None),
        (None, None),
        ("no-at-sign", None),
        ("<a b@c.org>", None),
    ],
)
def test_normalise_message_id(raw, expected):
    assert normalise_message_id(raw) == expected


def test_letter_date_comes_from_now_in_guangzhou():
    late_evening_utc = datetime(2020, 2, 24, 17, 0, tzinfo=UTC)  # already 25 February in Guangzhou
    msg = composed(now=late_evening_utc)
    assert "2020年2月25日" in msg.get_body(("plain",)).get_content()
    explicit = composed(context=weekly_receipt(letter_date=date(2020, 3, 1)))
    assert "2020年3月1日" in explicit.get_body(("plain",)).get_content()


def test_correction_request_never_repeats_the_row_the_reason_already_names():
    """The weekly parser writes reasons that name their row; the notice must not say it twice."""
    problems = [FileProblem(reason="第5行“备案人数”无法识别：“约100”", filename="周报.xlsx", row=5),
                FileProblem(reason="工作表“二月”第7行“企业名称”为空", filename="周报.xlsx", sheet="二月", row=7)]
    context = correction(problems=problems)
    _subject, text, html = render("correction_request", context, today=date(2020, 2, 24))
    lines = text.splitlines()
    assert "　　1. 附件“周报.xlsx”：第5行“备案人数”无法识别：“约100”" in lines
    assert "　　2. 附件“周报.xlsx”：工作表“二月”第7行“企业名称”为空" in lines
    assert "第5行：第5行" not in text and text.count("第5行") == 1
    assert html.count("第5行") == 1 and html.count("第7行") == 1
    assert "“备案人数”无法识别" in html


def test_a_reason_that_names_its_file_is_not_prefixed_with_it_again():
    """A password-protected workbook: the parser's reason names the file and says what to do about it."""
    problems = [FileProblem(reason="附件“广州市周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送",
                            filename="广州市周报.xlsx")]
    _subject, text, _html = render("correction_request", correction(problems=problems), today=date(2020, 2, 24))
    assert "　　1. 附件“广州市周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送" in text.splitlines()
    assert text.count("广州市周报.xlsx") == 1


@pytest.mark.parametrize(("stored", "shown"), [
    ("发件人 a@qq.com 不是佛山市登记的报送邮箱，已暂存待工作人员确认 / sender is not a registered address of 佛山市",
     "发件人 a@qq.com 不是佛山市登记的报送邮箱，已暂存待工作人员确认"),
    ("发送失败 / delivery failed: 554 内容被拒绝", "发送失败：554 内容被拒绝"),
    ("第3次发送失败，将重试 / attempt 3 failed, will retry: 421 try later", "第3次发送失败，将重试：421 try later"),
    ("分类把握不足（0.41），需人工确认 / low classification confidence", "分类把握不足（0.41），需人工确认"),
    ("550 5.1.1 user unknown", "550 5.1.1 user unknown"),  # nothing Chinese: kept whole
    ("附件“a / b.xlsx”无法打开", "附件“a / b.xlsx”无法打开"),  # a slash that is no language split
])
def test_staff_text_keeps_the_chinese_and_what_the_english_quotes(stored: str, shown: str) -> None:
    from notify.compose import staff_text

    assert staff_text(stored) == shown
