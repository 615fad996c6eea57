"""The staff actions (ingest/staff_actions.py) against both stores: what each decision changes, and its audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import delete, select

from ingest.app import open_app
from ingest.outputs.week_status import week_summary
from ingest.workflows import staff as actions
from ingest.workflows.staff import replay
from store.db import session_scope
from store.models import AuditEntry, Message, Outbox, WeeklyReport, WeeklyRow
from tests.web_support import NOW, WEEK, filled_app, message_id_from

FOSHAN_SENDER = "someone@qq.com"  # 04-foshan-weekly-personal-address.eml: 佛山市, 60 people, not registered


@pytest.fixture
def filled(app, clock, tmp_path: Path):
    clock.value = NOW
    return filled_app(app, tmp_path)


def _summary(app):
    from datetime import date
    from zoneinfo import ZoneInfo

    with session_scope(app.engine) as session:
        return week_summary(session, date.fromisoformat(WEEK), ZoneInfo("Asia/Shanghai"))


def _city(summary, name):
    return next(c for c in summary.cities if c.city == name)


def _audit(app, action):
    with session_scope(app.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_confirming_an_unregistered_sender_registers_it_and_counts_the_report(filled) -> None:
    before = _summary(filled)
    assert _city(before, "佛山市").status == "needs_review" and not _city(before, "佛山市").counted
    pk = message_id_from(filled, FOSHAN_SENDER)
    status = actions.confirm_sender(filled, "alice", pk, "佛山市")
    assert status == "processed"
    assert FOSHAN_SENDER in filled.registered_cities()["佛山市"]
    after = _summary(filled)
    assert _city(after, "佛山市").status == "accepted"
    assert after.total_headcount == before.total_headcount + 60
    assert after.held_headcount == before.held_headcount - 60
    assert [a.actor for a in _audit(filled, "city_add")][-1] == "alice"
    assert _audit(filled, "confirm_sender")[0].message_pk == pk
    with session_scope(filled.engine) as session:  # the confirmed report now gets its receipt
        assert session.exec(select(Outbox).where(Outbox.about_message_pk == pk, Outbox.kind == "receipt")).first()


def test_reject_and_not_a_report_count_nowhere_and_survive_replay(filled) -> None:
    pk = message_id_from(filled, FOSHAN_SENDER)
    actions.reject_message(filled, "alice", pk, "冒用地市名义")
    summary = _summary(filled)
    assert _city(summary, "佛山市").status == "missing" and summary.held_headcount == 88  # only 珠海市 待更正 left
    replay(filled, [pk], actor="bob")  # a replay does not undo a person's decision
    with session_scope(filled.engine) as session:
        msg = session.get(Message, pk)
        assert msg.status == "processed" and "冒用地市名义" in msg.problems[0]
        assert not session.exec(select(WeeklyReport).where(WeeklyReport.message_pk == pk)).first()
    actions.mark_not_report(filled, "alice", pk, "咨询邮件")
    with session_scope(filled.engine) as session:
        assert session.get(Message, pk).kind == "other"
    assert [a.detail for a in _audit(filled, "reject")] == ["冒用地市名义"]
    assert _audit(filled, "not_a_report")[0].actor == "alice"


def test_a_city_whose_only_mail_failed_shows_held_not_missing(filled, tmp_path: Path) -> None:
    with session_scope(filled.engine) as session:  # 珠海市's only mail for the week failed to be read
        report = session.exec(select(WeeklyReport).where(WeeklyReport.city == "珠海市")).one()
        msg = session.get(Message, report.message_pk)
        session.exec(delete(WeeklyRow).where(WeeklyRow.report_id == report.id))
        session.delete(report)
        msg.status, msg.problems = "failed", ["附件无法读取"]
        session.add(msg)
    assert _city(_summary(filled), "珠海市").status == "needs_review"
    assert _city(_summary(filled), "珠海市").held_message_pks == [msg.id]


def test_resend_queues_a_failed_notice_again_and_refuses_a_sent_one(filled) -> None:
    with session_scope(filled.engine) as session:
        row = session.exec(select(Outbox).order_by(Outbox.id)).first()
        row.status, row.reason, row.attempts = "failed", "554 内容被拒绝", 8
        session.add(row)
        oid = row.id
    actions.resend_notice(filled, "root", oid)
    with session_scope(filled.engine) as session:
        row = session.get(Outbox, oid)
        assert (row.status, row.attempts) == ("pending", 0)
    with pytest.raises(actions.NotAllowed):
        actions.resend_notice(filled, "root", oid)
    assert _audit(filled, "resend")[0].actor == "root"


def test_review_state_and_note(filled) -> None:
    from store.models import Application, ApplicationReview

    with session_scope(filled.engine) as session:
        aid = session.exec(select(Application.id)).first()
    actions.set_review_state(filled, "alice", aid, "已提交评审", "3月2日送专家组")
    with session_scope(filled.engine) as session:
        review = session.get(ApplicationReview, aid)
        assert (review.state, review.note, review.updated_by) == ("已提交评审", "3月2日送专家组", "alice")
    with pytest.raises(actions.InvalidInput):
        actions.set_review_state(filled, "alice", aid, "随便", "")
    assert "已提交评审" in _audit(filled, "review")[0].detail


def test_city_addresses_seeded_from_config_changed_audited_and_a_removal_sticks(filled, settings, clock) -> None:
    assert filled.registered_cities()["深圳市"] == ("szrsj@example.gov.cn", "sz-backup@example.gov.cn")
    assert {a.actor for a in _audit(filled, "city_add")} == {"config.toml"}
    assert actions.remove_city_address(filled, "alice", "深圳市", "SZ-Backup@example.gov.cn")
    assert actions.add_city_address(filled, "alice", "汕头市", "strsj@example.gov.cn")
    assert not actions.add_city_address(filled, "alice", "汕头市", "STRSJ@example.gov.cn")
    with pytest.raises(actions.InvalidInput):
        actions.add_city_address(filled, "alice", "纽约市", "x@example.org")
    with pytest.raises(actions.InvalidInput):
        actions.add_city_address(filled, "alice", "汕头市", "not an address")
    again = open_app(settings, clock=clock)  # a restart: the config's address that a person removed stays removed
    try:
        assert again.registered_cities()["深圳市"] == ("szrsj@example.gov.cn",)
        assert again.registered_cities()["汕头市"] == ("strsj@example.gov.cn",)
    finally:
        again.close()
    removal = _audit(filled, "city_remove")[0]
    assert (removal.actor, removal.detail) == ("alice", "深圳市 sz-backup@example.gov.cn")


def test_users_passwords_and_disabling(filled) -> None:
    assert [(u.name, u.role) for u in actions.list_users(filled)] == [("boss", "admin"), ("clerk", "staff")]
    assert actions.check_credentials(filled, "clerk", "staple battery horse").role == "staff"
    assert actions.check_credentials(filled, "clerk", "wrong password!") is None
    assert actions.check_credentials(filled, "nobody", "staple battery horse") is None
    with pytest.raises(actions.InvalidInput):
        actions.add_user(filled, "t", "short", "staff", "123")
    with pytest.raises(actions.InvalidInput):
        actions.add_user(filled, "t", "x y", "staff", "long enough password")
    with pytest.raises(actions.NotAllowed):
        actions.add_user(filled, "t", "clerk", "staff", "long enough password")
    actions.disable_user(filled, "boss", "clerk")
    assert actions.check_credentials(filled, "clerk", "staple battery horse") is None
    actions.set_password(filled, "boss", "clerk", "a brand new password")
    assert actions.check_credentials(filled, "clerk", "a brand new password") is not None
    from store.models import User

    with session_scope(filled.engine) as session:
        stored = session.exec(select(User.password_hash).where(User.name == "clerk")).one()
    assert stored.startswith("$argon2") and "brand new" not in stored
    assert [a.action for a in _audit(filled, "user_disable")] == ["user_disable"]


def test_a_held_mail_whose_classification_found_no_city_does_not_mark_its_from_city_held(filled) -> None:
    """A forged From (sender problems) leaves the message without a city: the From address must not give it one."""
    with session_scope(filled.engine) as session:
        report = session.exec(select(WeeklyReport).where(WeeklyReport.city == "珠海市")).one()
        msg = session.get(Message, report.message_pk)
        session.exec(delete(WeeklyRow).where(WeeklyRow.report_id == report.id))
        session.delete(report)
        # what classify() leaves for a registered city's address in a From with two addresses and no city named
        msg.status, msg.kind, msg.city = "needs_review", "weekly_report", None
        session.add(msg)
        pk = msg.id
    assert _city(_summary(filled), "珠海市").status == "missing"
    with session_scope(filled.engine) as session:  # the same mail failing before it was classified is held
        msg = session.get(Message, pk)
        msg.status, msg.kind = "failed", None
        session.add(msg)
    assert _city(_summary(filled), "珠海市").held_message_pks == [pk]


def test_confirming_a_forged_sender_is_refused_and_registers_nothing(app, clock, tmp_path: Path) -> None:
    """"gzrsj@example.gov.cn" <attacker@evil.example>: confirming it would make the attacker's next mail count."""
    from tests.conftest import FIXTURES

    clock.value = NOW
    eml = (FIXTURES / "hostile" / "forged-city-quoted-name.eml").read_bytes()
    filled = filled_app(app, tmp_path, {"99-forged.eml": eml})
    pk = message_id_from(filled, "attacker@evil.example")
    with pytest.raises(actions.NotAllowed, match="发件人不可信"):
        actions.confirm_sender(filled, "alice", pk, "广州市")
    assert "attacker@evil.example" not in filled.registered_cities().get("广州市", ())
    assert not _audit(filled, "confirm_sender")
    with session_scope(filled.engine) as session:
        assert session.get(Message, pk).status == "needs_review"
    from web.queries import pending

    [item] = [i for i in pending(filled) if i.message.id == pk]
    assert not item.unregistered_sender  # the page does not offer to register the attacker's address
