"""The hostile and careless messages (fixtures/hostile, built by fixtures/build_hostile.py).

Each case is the message as an attacker's script sends it, through the real
pipeline, with the outcome asserted: forged senders held for staff with no
notice to anyone, sender text harmless on the terminal, header bombs bounded,
impossible weekly data sent back, transient failures healed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import event

from fixtures.build_hostile import (
    CITY,
    FORGED_SENDERS,
    TERMINAL_SUBJECT_TEXT,
    WEEKLY_SUBJECT,
    b_word,
    bomb_subject,
    forged_weekly,
    raw_message,
)
from fixtures.build_mail import XLSX, message, weekly_xlsx
from ingest.config import ConfigError, load_settings
from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.pipeline.decode import MAX_ENCODED_WORDS, decode_message
from ingest.pipeline.run import process_pending
from ingest.pipeline.store import IngestReport, _header_fields, _parse_head, store_items
from ingest.runtime.poll import ingest_paths, poll
from ingest.sources.local import TakenElsewhere, iter_paths, maildir_items
from ingest.workflows.dispatch import run_workflows
from notify.compose import WeeklyReceiptContext, compose, make_address
from notify.errors import InvalidAddressError
from notify.transport import MemoryTransport
from parsers.machine_mail import is_bounce
from store.errors import DiskFullError
from tests.conftest import FIXTURES, REPO, write_config

HOSTILE = FIXTURES / "hostile"


@pytest.fixture
def app(app, clock):
    clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)  # the day after the deadline: within the reply window
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    return app


def ingest_raw(app, tmp_path: Path, *mails: tuple[str, bytes]) -> dict:
    folder = tmp_path / f"in-{len(list(tmp_path.glob('in-*')))}"
    folder.mkdir()
    for name, raw in mails:
        (folder / name).write_bytes(raw)
    ingest_paths(app, [folder])
    return export_state(app.engine)


def ingest_fixture(app, tmp_path: Path, name: str) -> dict:
    return ingest_raw(app, tmp_path, (name, (HOSTILE / name).read_bytes()))


# ---------------------------------------------------------------- 1, 2, 5: forged senders, injected recipients


@pytest.mark.parametrize("name", sorted(FORGED_SENDERS))
def test_a_forged_or_ambiguous_sender_is_held_for_staff_and_nobody_is_answered(app, tmp_path: Path, name) -> None:
    doc = ingest_fixture(app, tmp_path, name)
    [msg] = doc["messages"]
    assert msg["status"] == "needs_review"
    assert any(p.startswith("发件人不可信，已暂存待工作人员确认") for p in msg["problems"]), msg["problems"]
    assert doc["outbox"] == [] and app.transport.sent == []  # no receipt to the city, no notice to a victim
    assert not [r for r in doc["weekly_reports"] if r["status"] == "accepted"]
    assert doc["applications"] == []


def test_the_encoded_display_name_never_becomes_the_city_address(app, tmp_path: Path) -> None:
    doc = ingest_fixture(app, tmp_path, "forged-city-encoded-name.eml")
    [msg] = doc["messages"]
    assert msg["from"] == "attacker@evil.example"  # the address the header really carries
    assert any("显示名“gzrsj@example.gov.cn,”中含有邮件地址" in p for p in msg["problems"])
    assert not any("登记的地市邮箱" in r for r in msg["reasons"])


@pytest.mark.parametrize(("name", "reason"), [
    ("injected-bcc-name.eml", "换行或控制字符"),
    ("injected-victim-name.eml", "显示名“Victim <victim@third.example>,”中含有邮件地址"),
    ("reply-victim-first.eml", "含 2 个地址"),
    ("reply-fifty-addresses.eml", "含 50 个地址"),
    ("reply-ip-domain.eml", "applicant@127.0.0.1 的域名是 IP 地址"),
    ("forged-city-two-from-headers.eml", "2 个 From 头"),
])
def test_the_reason_names_the_header_trick(app, tmp_path: Path, name: str, reason: str) -> None:
    [msg] = ingest_fixture(app, tmp_path, name)["messages"]
    assert any(reason in p for p in msg["problems"]), msg["problems"]


def test_a_city_without_a_display_name_as_many_clients_send_it_is_still_accepted(app, tmp_path: Path) -> None:
    form = weekly_xlsx("广州市", [("广州某某机械制造有限公司", 120, "粤技通在线学习平台")], period="2020年2月17日——2月23日")
    raw = message(f'"{CITY}" <{CITY.upper()}>', "广州市周报", datetime(2020, 2, 24, 2, 0, tzinfo=UTC), "见附件",
                  "<plain-city@example.gov.cn>", [("周报.xlsx", form, XLSX)])
    doc = ingest_raw(app, tmp_path, ("1.eml", raw))
    [report] = doc["weekly_reports"]
    assert report["status"] == "accepted"
    assert [o["to"] for o in doc["outbox"]] == [[CITY]]


@pytest.mark.parametrize("header", [
    f"From: {b_word('广州市人社局', 'gbk')} <{CITY}>",  # Chinese webmail
    f"From: 广州市人社局 <{CITY}>".encode().decode("latin-1"),  # raw UTF-8 (RFC 6532)
    f"From: {b_word('张三@广州人社')} <zs@example.com>",  # an @ in a name is not an address
    f'From: "{CITY}" <{CITY}>',  # a client that repeats the address as the name
    f"From: {CITY} ({CITY})",
    "From: =?utf-8?b?55So5oi3?=@=?utf-8?b?5L6L5a2QLuS4reWbvQ==?=",  # Python's own generator, 用户@例子.中国
])
def test_ordinary_senders_are_not_suspected(header: str) -> None:
    raw = header.encode("latin-1") + b"\r\nSubject: x\r\n\r\nbody\r\n"
    decoded = decode_message(raw)
    assert decoded.sender_problems == []
    assert "@" in decoded.from_addr and " " not in decoded.from_addr


def test_an_outgoing_header_cannot_carry_a_line_break() -> None:
    with pytest.raises(InvalidAddressError):
        make_address("applicant@example.com\r\nBcc: victim@third.example")
    context = WeeklyReceiptContext(city="广州市", week_start=datetime(2020, 2, 17).date(),
                                   week_end=datetime(2020, 2, 23).date(), enterprise_count=1, total_headcount=1,
                                   received_at=datetime(2020, 2, 24, tzinfo=UTC))
    msg = compose("receipt", context, to=["applicant@example.com"], sender="zxjyck@163.com",
                  sender_name="广东省职业训练局\r\nBcc: victim@third.example", msgid_domain="163.com",
                  now=datetime(2020, 2, 24, tzinfo=UTC))
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["applicant@example.com"]
    assert [a.addr_spec for a in parsed["From"].addresses] == ["zxjyck@163.com"]


# ---------------------------------------------------------------- 3: the staff CLI and sender text


def zxjyck(*args: str, config: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    run_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(config), *args],
                          capture_output=True, env=run_env, timeout=180)


@pytest.mark.parametrize("force_color", [False, True])
def test_markup_and_terminal_escapes_in_a_subject_never_reach_the_terminal(tmp_path: Path, force_color) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    (tmp_path / "in").mkdir()
    shutil.copy(HOSTILE / "terminal-escapes-subject.eml", tmp_path / "in")
    assert zxjyck("ingest", str(tmp_path / "in"), config=cfg).returncode == 0
    env = {"FORCE_COLOR": "1", "COLUMNS": "200"} if force_color else {"COLUMNS": "200"}
    for args in (("messages",), ("show", "1")):
        run = zxjyck(*args, config=cfg, env=env)
        assert run.returncode == 0, run.stderr.decode()
        out = run.stdout.decode()
        assert "[/]" in out and "[bold red]紧急[/bold red]" in out  # shown literally, not interpreted
        assert "\x00" not in out and "\u202e" not in out
        assert "\x1b[2J" not in out and "\x1b]8" not in out and "evil.example" not in out
        if not force_color:
            assert "\x1b" not in out
        assert "红色" in out


def test_strip_controls_and_for_terminal() -> None:
    from zxjyck.text import for_terminal, strip_controls

    assert strip_controls(TERMINAL_SUBJECT_TEXT) == "[/] 周报 [bold red]紧急[/bold red] 红色 点这里 ab gpj.exe"
    assert strip_controls("a\r\nBcc: x\tb") == "a  Bcc: x b"
    assert strip_controls("line1\nline2\tcol", keep_newlines=True) == "line1\nline2\tcol"
    assert strip_controls("8-bit CSI \x9b2J and OSC \x9d8;;http://x\x9cend \x85next") == "8-bit CSI  and OSC end  next"
    assert strip_controls("\x1b]0;title") == ""  # an unterminated OSC string swallows the rest
    assert for_terminal("[/]") == "\\[/]"


def test_log_lines_strip_sender_text_and_keep_tracebacks_for_debug() -> None:
    import logging

    from zxjyck.text import SafeLogFormatter

    try:
        raise ValueError("boom\x1b[2J")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "subject %s", ("a\nFAKE\x1b[31m",), exc_info)
    line = SafeLogFormatter("%(levelname)s %(message)s").format(record)
    assert line == "ERROR subject a FAKE (ValueError: boom)"
    debug = SafeLogFormatter("%(message)s", debug=True).format(record)
    assert "Traceback" in debug


def test_a_processing_failure_is_one_line_without_debug(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    (tmp_path / "in").mkdir()
    shutil.copy(FIXTURES / "mail" / "08-question.eml", tmp_path / "in")
    script = ("import sys, ingest.pipeline.process as p\n"
              "def boom(*a, **k):\n    raise RuntimeError('classifier bug')\n"
              "p.classify = boom\nfrom ingest.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = subprocess.run([sys.executable, "-c", script, "--config", str(cfg), "ingest", str(tmp_path / "in")],
                           capture_output=True, text=True, env=env, timeout=180)
    assert quiet.returncode == 0
    assert "Traceback" not in quiet.stderr
    [line] = [x for x in quiet.stderr.splitlines() if x.strip()]
    assert "processing message id=1 failed (RuntimeError: classifier bug)" in line
    replay = subprocess.run([sys.executable, "-c", script, "--config", str(cfg), "--debug", "replay", "1"],
                            capture_output=True, text=True, env=env, timeout=180)
    assert "Traceback" in replay.stderr and "RuntimeError: classifier bug" in replay.stderr


# ---------------------------------------------------------------- 4: the encoded-word bomb


def test_an_encoded_word_bomb_is_decoded_in_bounded_linear_time(app, tmp_path: Path) -> None:
    raw = raw_message([f"From: {CITY}"], bomb_subject(100_000), "正文", "<bomb@example.gov.cn>")
    assert raw.count(b"=?utf-8?B?") == 100_000 and len(raw) > 1_700_000
    started = time.process_time()  # this process's CPU: other load on the machine does not count
    decoded = decode_message(raw)
    _header_fields(_parse_head(raw))
    is_bounce(decoded.message, decoded.from_addr, decoded.subject)
    assert time.process_time() - started < 2.0
    assert decoded.subject.startswith("周" * MAX_ENCODED_WORDS)
    assert any("only the first" in d and "the rest kept raw" in d for d in decoded.defects)
    # an attachment-only message (its body text is read by mail-parser) and 5,000 header fields of 200 words
    only_attachment = raw_message([f"From: {CITY}"], bomb_subject(100_000), "", "<bomb2@example.gov.cn>",
                                  [("a.bin", b"\0" * 10, "application/octet-stream")])
    only_attachment = only_attachment.replace(b"Content-Type: text/plain", b"Content-Type: application/x-empty")
    fields = "".join(f"X-Field-{n}: {' '.join([b_word('周')] * 200)}\r\n" for n in range(5_000))
    many_fields = raw_message([f"From: {CITY}", fields.rstrip()], "x", "正文", "<bomb3@example.gov.cn>")
    for hostile in (only_attachment, many_fields):
        started = time.process_time()
        decoded = decode_message(hostile)
        assert time.process_time() - started < 2.0
    assert decoded.header("X-Field-4999").startswith("=?utf-8?B?")  # kept, undecoded, still found by name
    started = time.process_time()
    doc = ingest_raw(app, tmp_path, ("bomb.eml", raw))  # the whole run: store, decode, classify, write
    assert time.process_time() - started < 5.0
    [msg] = doc["messages"]
    assert msg["status"] in ("processed", "needs_review") and msg["subject"].startswith("周周周")


# ---------------------------------------------------------------- 6: impossible weekly data


def weekly_mail(period: str, rows, when: datetime, msgid: str) -> bytes:
    form = weekly_xlsx("广州市", rows, period=period)
    return raw_message([f"From: 广州市人社局 <{CITY}>"], WEEKLY_SUBJECT, "见附件。", msgid,
                       [("广州市备案情况统计表.xlsx", form, XLSX)], when=when)


ONE_ROW = [("广州某某机械制造有限公司", 120, "粤技通在线学习平台")]
MAIL_DAY = datetime(2020, 2, 24, 2, 0, tzinfo=UTC)


def test_a_week_that_has_not_ended_is_sent_back(app, tmp_path: Path) -> None:
    doc = ingest_raw(app, tmp_path, ("f.eml", weekly_mail("2030年3月4日-3月10日", ONE_ROW, MAIL_DAY, "<f@x>")))
    [report] = doc["weekly_reports"]
    assert report["status"] == "needs_correction" and report["week_start"] == "2030-03-04"
    assert any("尚未结束" in p for p in report["problems"])
    assert [o["kind"] for o in doc["outbox"]] == ["correction_request"]


def test_a_week_older_than_the_horizon_is_sent_back(app, tmp_path: Path) -> None:
    doc = ingest_raw(app, tmp_path, ("o.eml", weekly_mail("2019年2月18日-2月24日", ONE_ROW, MAIL_DAY, "<o@x>")))
    [report] = doc["weekly_reports"]
    assert (report["status"], report["week_start"]) == ("needs_correction", "2019-02-18")
    assert any("超过8周" in p for p in report["problems"])


def test_the_horizon_is_configurable(tmp_path: Path, store_url: str, make_app) -> None:
    cfg = write_config(tmp_path, store_url, extra="[reports]\nmax_age_weeks = 60\n")
    app = make_app(load_settings(cfg, environ={}))
    app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
    app.clock.value = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)
    doc = ingest_raw(app, tmp_path, ("o.eml", weekly_mail("2019年2月18日-2月24日", ONE_ROW, MAIL_DAY, "<o@x>")))
    assert doc["weekly_reports"][0]["status"] == "accepted"


@pytest.mark.parametrize("value", ["0", "\"8\"", "-1"])
def test_the_horizon_is_validated(tmp_path: Path, value: str) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=f"[reports]\nmax_age_weeks = {value}\n")
    with pytest.raises(ConfigError, match="reports.max_age_weeks"):
        load_settings(cfg, environ={})


def test_an_enterprise_listed_three_times_is_a_row_problem_and_counted_once(app, tmp_path: Path) -> None:
    rows = [("广州某某机械制造有限公司", 120, "粤技通"), ("广州某某物流有限公司", 85, "南粤职培云"),
            ("广州某某机械制造有限公司", 120, "粤技通"), ("广州某某 机械制造有限公司 ", 120, "粤技通")]
    doc = ingest_raw(app, tmp_path, ("d.eml", weekly_mail("2020年2月17日——2月23日", rows, MAIL_DAY, "<d@x>")))
    [report] = doc["weekly_reports"]
    assert report["status"] == "needs_correction"
    assert report["total_headcount"] == 205  # 120 + 85, the repeats not summed
    assert [r["headcount"] for r in report["rows"]] == [120, 85, 120, 120]  # what the city wrote, kept
    repeated = [p for p in report["problems"] if "重复" in p]
    assert repeated == ["第6行企业“广州某某机械制造有限公司”与第4行重复，未计入合计，请删除重复行",
                        "第7行企业“广州某某 机械制造有限公司”与第4行重复，未计入合计，请删除重复行"]
    [notice] = [o for o in doc["outbox"] if o["kind"] == "correction_request"]
    assert notice["to"] == [CITY]


# ---------------------------------------------------------------- 7: failures that heal


def test_a_full_disk_stops_processing_and_the_next_run_finishes_the_message(app, tmp_path: Path, clock) -> None:
    """SQLite: the database file may not grow (max_page_count), as on a full disk: the run stops naming where the
    database lives and leaves the message as it was, for the next run. PostgreSQL: a lock timeout is a
    transient fault of the message's, retried after its backoff."""
    (tmp_path / "in").mkdir()
    shutil.copy(FIXTURES / "mail" / "01-guangzhou-weekly.eml", tmp_path / "in")
    report = IngestReport()
    store_items(app, iter_paths([tmp_path / "in"]), report)
    holder = None
    sqlite = app.engine.dialect.name == "sqlite"
    if sqlite:
        with app.engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")  # no free pages left for the writes to reuse: they must grow the file
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        listener = lambda dbapi, _rec: dbapi.execute(f"PRAGMA max_page_count={pages}")  # noqa: E731
    else:
        holder = app.engine.connect()  # another process (say, maintenance) holds a table processing writes
        holder.exec_driver_sql("LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE")
        listener = lambda dbapi, _rec: dbapi.execute("SET lock_timeout = '300ms'")  # noqa: E731
    app.engine.dispose()
    event.listen(app.engine, "connect", listener)
    try:
        if sqlite:
            with pytest.raises(DiskFullError, match="磁盘已满") as stopped:
                process_pending(app, workflows=run_workflows)
            assert stopped.value.where == str((tmp_path / "var").resolve())
        else:
            assert process_pending(app, workflows=run_workflows).processed == {"received": 1}
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
    [msg] = export_state(app.engine)["messages"]
    assert msg["status"] == "received"
    if sqlite:
        assert msg["problems"] == []  # nothing of the message's: the next run takes it as it was
    else:
        assert any(p.startswith("暂时性错误") and "1 分钟后重试" in p for p in msg["problems"]), msg["problems"]
    event.remove(app.engine, "connect", listener)
    app.engine.dispose()  # space is back / the lock is gone
    if not sqlite:
        assert process_pending(app, workflows=run_workflows).processed == {}  # not before its backoff
        clock.advance(minutes=1)
    assert process_pending(app, workflows=run_workflows).processed == {"processed": 1}
    doc = export_state(app.engine)
    [msg] = doc["messages"]
    assert msg["status"] == "processed" and not any(p.startswith("暂时性错误") for p in msg["problems"])
    assert doc["weekly_reports"][0]["status"] == "accepted"


def test_a_full_disk_while_reading_an_attachment_stops_the_run_and_is_not_the_senders_fault(
        app, tmp_path: Path, clock, monkeypatch) -> None:
    import errno

    import parsers.analysis

    real = parsers.analysis.read_document

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tmp" / "x.part"))

    monkeypatch.setattr(parsers.analysis, "read_document", disk_full)
    raw = (FIXTURES / "mail" / "01-guangzhou-weekly.eml").read_bytes()
    folder = tmp_path / "in-0"
    folder.mkdir()
    (folder / "1.eml").write_bytes(raw)
    with pytest.raises(DiskFullError) as stopped:
        ingest_paths(app, [folder])
    assert stopped.value.where == str(tmp_path / "tmp")
    doc = export_state(app.engine)
    [msg] = doc["messages"]
    assert msg["status"] == "received" and doc["outbox"] == [] and doc["weekly_reports"] == []
    monkeypatch.setattr(parsers.analysis, "read_document", real)
    assert process_pending(app, workflows=run_workflows).processed == {"processed": 1}  # at once, no backoff
    assert export_state(app.engine)["weekly_reports"][0]["status"] == "accepted"


def test_two_pollers_never_take_the_same_maildir_file(tmp_path: Path) -> None:
    box = tmp_path / "mailbox"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1.host").write_bytes(b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")
    first = next(maildir_items(box, subdirs=("new",), mark_seen=True))
    second = next(maildir_items(box, subdirs=("new",), mark_seen=True))
    assert first.load().startswith(b"From:")
    with pytest.raises(TakenElsewhere):  # claimed by the first poller
        second.load()
    first.after_commit()
    first.release()
    with pytest.raises(TakenElsewhere):  # moved to cur/ by the first poller
        second.load()
    second.release()
    assert [p.name for p in (box / "cur").iterdir()] == ["1.host:2,S"]


def test_concurrent_polls_of_one_maildir_store_each_file_once(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    box = tmp_path / "mailbox"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for n in range(60):
        (box / "new" / f"{n}.host").write_bytes(
            f"From: someone{n}@example.com\r\nSubject: {b_word(f'咨询 {n}')}\r\nMessage-ID: <m{n}@x>\r\n\r\n正文 {n}\r\n"
            .encode())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "poll"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    for r in runs:
        r.stdout.close()
        r.stderr.close()
    assert [code for code, _ in results] == [0, 0], results
    assert all("Traceback" not in err and "FileNotFoundError" not in err for _, err in results)
    assert list((box / "new").iterdir()) == [] and len(list((box / "cur").iterdir())) == 60
    settings = load_settings(cfg, environ={})
    from ingest.app import open_app

    app = open_app(settings)
    try:
        doc = export_state(app.engine)
    finally:
        app.close()
    assert len(doc["messages"]) == 60
    assert all(m["status"] != "failed" for m in doc["messages"])


def test_poll_skips_a_file_another_poller_holds(app, tmp_path: Path) -> None:
    import fcntl

    box = app.settings.maildir
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    held = box / "new" / "held.host"
    held.write_bytes(b"From: a@example.com\r\nSubject: held\r\n\r\nbody\r\n")
    (box / "new" / "free.host").write_bytes(b"From: b@example.com\r\nSubject: free\r\n\r\nbody\r\n")
    with held.open("rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        report = poll(app)
    assert report.new == 1 and report.unreadable == []
    assert held.exists()  # left for its owner (or the next cycle)
    assert [m["subject"] for m in export_state(app.engine)["messages"]] == ["free"]


def test_fixtures_are_built_by_the_script() -> None:
    from fixtures.build_hostile import build

    assert set(build()) == {p.name for p in HOSTILE.glob("*.eml")}
    forged = decode_message((HOSTILE / "forged-city-encoded-name.eml").read_bytes())
    assert forged.from_addr == "attacker@evil.example" and forged.from_name == f"{CITY},"
    assert forged_weekly()[0][0].endswith(".xlsx")


@pytest.mark.parametrize("debug", [False, True])
def test_the_sandbox_child_logs_one_line_unless_debugging(tmp_path: Path, debug: bool) -> None:
    script = ("import logging, sys, datetime\n"
              f"logging.basicConfig(level=logging.{'DEBUG' if debug else 'WARNING'})\n"
              "from parsers.sandbox import Sandbox\nfrom tests import attachment_support as support\n"
              "with Sandbox(task=support.task_raise, convert=False) as sb:\n"
              "    result = sb.analyze(b'x', 'a\\x1b[2J.xlsx', datetime.date(2020, 2, 24))\n"
              "print(result.problems)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    child = [line for line in run.stderr.splitlines() if "sandbox task failed" in line]
    assert len(child) == 1 and "\x1b" not in child[0]
    assert ("Traceback" in run.stderr) is debug


# ---------------------------------------------------------------- an application whose free text sounds weekly


def _application_docx_saying(intro: str) -> bytes:
    import io

    import docx

    from fixtures.build_attachments import application_grid

    grid, _merges = application_grid()
    for row in grid:
        if row[0] == "平台简介":
            row[2] = intro
    document = docx.Document()
    document.add_paragraph("附件1")
    table = document.add_table(rows=len(grid), cols=len(grid[0]))
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            table.cell(r, c).text = str(value)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_a_basic_form_whose_intro_speaks_of_the_weekly_campaign_is_an_application(app, tmp_path: Path) -> None:
    """附件1 with its labels is an application, whatever its free text says (here the very words of 附件2)."""
    from fixtures.build_mail import DOCX

    intro = "本平台专注企业职工线上适岗技能培训，配合适岗技能提升培训备案情况统计表报送，每周报送学习数据。"
    raw = message("李四 <lisi@yuejitong.example.cn>", "线上培训平台申报：粤技通在线学习平台",
                  datetime(2020, 2, 24, 1, 0, tzinfo=UTC), f"您好，附件为平台基本情况表。{intro}", "<apply-intro@x>",
                  [("附件1 基本情况表.docx", _application_docx_saying(intro), DOCX)])
    doc = ingest_raw(app, tmp_path, ("1.eml", raw))
    [msg] = doc["messages"]
    assert msg["kind"] == "application", msg
    assert not any("looks like both" in p for p in msg["problems"]), msg["problems"]
    [application] = doc["applications"]
    assert application["intro"] == intro


# ---------------------------------------------------------------- a workbook with a password to open


def test_a_password_protected_weekly_workbook_is_sent_back_saying_so(app, tmp_path: Path) -> None:
    """An OLE2 package with EncryptionInfo and EncryptedPackage (written by msoffcrypto-tool's encryption, as
    Excel and WPS write 'password to open'): no report figures, and the correction request says the file has
    a password and to send it without one."""
    encrypted = (FIXTURES / "attachments" / "writers" / "weekly_encrypted.xlsx").read_bytes()
    assert encrypted.startswith(bytes.fromhex("d0cf11e0a1b11ae1"))  # OLE2, not a zip: really encrypted
    raw = message("广州市人社局 <gzrsj@example.gov.cn>", "广州市周报（2月17日-2月23日）",
                  datetime(2020, 2, 24, 2, 0, tzinfo=UTC), "附件为本周周报。", "<encrypted-1@x>",
                  [("广州市周报.xlsx", encrypted, XLSX)])
    doc = ingest_raw(app, tmp_path, ("1.eml", raw))
    [report] = doc["weekly_reports"]
    assert report["status"] == "needs_correction" and report["rows"] == []
    [notice] = [o for o in doc["outbox"] if o["kind"] == "correction_request"]
    assert notice["to"] == ["gzrsj@example.gov.cn"]
    from ingest.workflows.reminders import deliver

    deliver(app)
    [sent] = [m for m in app.transport.sent if m["To"] == "gzrsj@example.gov.cn"]
    text = sent.get_body(("plain",)).get_content()
    assert "附件“广州市周报.xlsx”设置了密码（已加密），无法读取，请去掉密码后重新发送" in text
    assert text.count("广州市周报.xlsx") == 1
