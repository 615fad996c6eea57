"""What makes a mail a status query, and what the answer may say (no store: decode, classify, decide)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from ingest.config import load_settings
from ingest.pipeline.classify import classify
from ingest.pipeline.decode import decode_message
from ingest.workflows.decisions import MessageFacts
from ingest.workflows.status_query import ApplicationSnapshot, decide, status_line
from notify.compose import render
from store.models import Message
from tests.conftest import write_config


def raw(subject: str, sender: str = "apply@example.cn") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "zxjyck@163.com", subject
    msg["Date"], msg["Message-ID"] = "Sat, 21 Mar 2020 09:00:00 +0800", "<q1@example.cn>"
    msg.set_content("您好，请问进展如何？")
    return bytes(msg)


@pytest.fixture
def settings(tmp_path):
    return load_settings(write_config(tmp_path, "sqlite:///var/x.db"), environ={})


@pytest.mark.parametrize("subject", ["查询申报进度", "平台申报状态？", "关于我单位线上培训平台的进度查询", "Re: 申报进度"])
def test_a_subject_asking_for_the_state_of_an_application_is_a_status_query(settings, subject):
    decoded = decode_message(raw(subject))
    result = classify(settings, Message(sha256="x", size=1), decoded, [])
    assert (result.kind, result.needs_review) == ("status_query", False)


@pytest.mark.parametrize("subject", ["查询", "申报材料", "进度", "平台名单", "周报状态"])
def test_other_subjects_are_not(settings, subject):
    decoded = decode_message(raw(subject))
    assert classify(settings, Message(sha256="x", size=1), decoded, []).kind != "status_query"


def test_a_query_from_a_doubtful_sender_waits_for_staff(settings):
    decoded = decode_message(raw("查询申报进度", '"apply01@yueji-mail.example.cn" <someone@evil.example>'))
    result = classify(settings, Message(sha256="x", size=1), decoded, [])
    assert result.kind == "status_query" and result.needs_review


def snapshot(**changes) -> ApplicationSnapshot:
    values = dict(platform_name="粤技云课堂", organization="粤技公司", first_received_at=datetime(2020, 2, 26, tzinfo=UTC),
                  complete=False, batch=None, present=frozenset({"basic_form", "credentials"}), form_problems=False,
                  stamped=True)
    return ApplicationSnapshot(**(values | changes))


def test_the_state_told_to_the_sender():
    line = status_line(snapshot(), require_stamped_form=True)
    assert line.state == "已收到，材料尚需补充或更正" and line.missing == ["construction", "operation", "content"]
    line = status_line(snapshot(present=frozenset({"basic_form", "credentials", "construction", "operation",
                                                   "content"}), stamped=False), require_stamped_form=True)
    assert line.missing == ["stamped_form"]
    held = status_line(snapshot(present=frozenset({"basic_form", "credentials", "construction", "operation",
                                                   "content"})), require_stamped_form=True)
    assert held.state == "已收到，正在核对材料" and held.missing == []  # waiting for staff: nothing said why
    done = status_line(snapshot(complete=True, batch="首批", published_result="入选",
                                published_on=datetime(2020, 3, 20).date()), require_stamped_form=True)
    assert (done.state, done.batch, done.result) == ("评审已完成，名单已公布", "首批", "入选")


def test_an_unknown_sender_is_told_nothing_was_found_from_its_address(settings):
    facts = MessageFacts(sha256="abc", from_addr="nobody@example.org")
    reply = decide(facts, [], settings)
    assert reply.dedupe_key == "status_reply:abc"
    _subject, text, html = render("status_reply", reply.fresh_context(), today=datetime(2020, 3, 21).date())
    assert "未查到从您的邮箱（nobody@example.org）报送的线上培训平台申报" in text
    assert "件" not in text.split("。")[0] and "nobody@example.org" in html
