"""`zxjyck check`: the city table, and a whole configuration proved against Dovecot (through the
NetEase-like front) and aiosmtpd with implicit TLS; failures are one line, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from ingest.cli.check import GUANGDONG_CITIES, all_required_pass, check_city_table, run_checks
from tests.conftest import write_config
from tests.netease_front import NetEaseFront
from tests.smtp_server import NETEASE_AUTH_FAILED, certificate, running_smtp_server  # noqa: F401 (fixture)
from tests.test_daemon import zxjyck_cmd

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, CODE = "zxjyck@163.com", "ABCDEFGHIJKLMNOP"
FULL = {city: [f"rsj{n:02d}@example.gov.cn"] for n, city in enumerate(GUANGDONG_CITIES)}


def cities_toml(table: dict[str, list[str]]) -> str:
    rows = "\n".join(f'"{city}" = [{", ".join(repr(a).replace(chr(39), chr(34)) for a in addrs)}]'
                     for city, addrs in table.items())
    return "[cities]\n" + rows + "\n"


# --------------------------------------------------------------------------- the city table


def test_the_21_cities_each_with_an_address_pass():
    assert len(GUANGDONG_CITIES) == 21 and len(set(GUANGDONG_CITIES)) == 21
    assert check_city_table(FULL) == []


def test_a_missing_city_an_unknown_name_and_a_shared_address_are_each_named():
    table = {k: v for k, v in FULL.items() if k not in ("潮州市", "广州市")}
    table["广州"] = ["gz@example.gov.cn"]  # without 市
    table["云浮市"] = []
    table["揭阳市"] = ["rsj00@example.gov.cn", "RSJ01@example.gov.cn"]  # 深圳市's address, other case
    table["香港"] = ["hk@example.org"]
    table["汕尾市"] = ["not an address"]
    problems = check_city_table(table)
    text = "\n".join(problems)
    assert "3 个城市没有登记邮箱：广州市、潮州市、云浮市" in text
    assert "未知城市名“广州”" in text and "广州市" in text and "未知城市名“香港”" in text
    assert "rsj01@example.gov.cn 同时登记在 深圳市、揭阳市" in text
    assert "格式不正确" in text
    assert len(problems) == 5, problems


def test_the_city_check_takes_any_mapping_not_only_the_config():
    class FromStore(dict):  # what the store will hand it later
        pass

    assert check_city_table(FromStore(FULL)) == []


def test_a_check_line_never_carries_a_terminal_escape():
    """A server's answer or an address shown in the table: ESC sequences and other controls go, text stays."""
    from ingest.cli.check import one_line

    line = one_line("NO [ALERT] \x1b]0;owned\x07 \x1b[2J\rLOGIN\nfailed \u202eevil")
    assert line == "NO [ALERT] LOGIN failed evil"


# --------------------------------------------------------------------------- the whole configuration


def _config(tmp_path: Path, imap_port: int, account, smtp, certificate, *, imap_password=None,  # noqa: F811
            smtp_password=CODE, cities=FULL) -> Path:
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {imap_port}\nsecurity = "none"\n'
             f'username = "{account.username}"\npassword = "{imap_password or account.password}"\n'
             f'timeout_seconds = 5\nprocessed_folder = "已处理"\nsent_folder = "已发送"\n'
             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "tls"\nsender = "{USER}"\n'
             f'username = "{USER}"\npassword = "{smtp_password}"\nca_file = "{certificate.cert_file}"\n'
             f"timeout_seconds = 5\n")
    return _initialised(write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra, cities=cities_toml(cities)))


def _initialised(cfg: Path) -> Path:
    """The configuration with its store created (`zxjyck init`): check creates nothing itself."""
    from ingest.cli.lifecycle import init

    init(str(cfg))
    return cfg


def _by_name(results) -> dict[str, object]:
    return {r.name: r for r in results}


def test_a_good_configuration_passes_through_the_netease_front(tmp_path, dovecot, imap_account, certificate):  # noqa: F811
    imap_account.create_folder("已发送")
    with NetEaseFront(dovecot.port, {"IDLE", "MOVE"}) as front, running_smtp_server(
            implicit_tls=certificate.server_context(), auth=(USER, CODE)) as smtp:
        cfg = _config(tmp_path, front.port, imap_account, smtp, certificate)
        out = subprocess.run(zxjyck_cmd(cfg, "check"), capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "250"})
        assert smtp.handler.received == []  # no mail without --send-test
        assert smtp.authenticator.attempts == [USER]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    for expected in ("配置 Config", "数据库 Store", "归档目录", "发件目录", "ID", "“INBOX”", "“已发送”",
                     "“已处理”", "COPY+UID EXPUNGE to 已处理", "NOOP every", "SMTP 127.0.0.1", "LibreOffice",
                     "21 个地级市均已登记", "全部必需检查通过"):
        assert expected in out.stdout, (expected, out.stdout)
    assert "Unsafe Login" not in out.stdout


def test_send_test_sends_exactly_one_mail(tmp_path, dovecot, imap_account, certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE)) as smtp:
        cfg = _config(tmp_path, dovecot.port, imap_account, smtp, certificate)
        results = run_checks(str(cfg), send_test="staff@example.org", environ={})
        [got] = smtp.handler.received
    assert all_required_pass(results), [(r.name, r.detail) for r in results if not r.ok]
    assert got.rcpt_tos == ["staff@example.org"] and "zxjyck" in str(got.message["Subject"])


def test_a_wrong_imap_password_is_one_line_naming_the_authorization_code(tmp_path, dovecot, imap_account,
                                                                         certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE)) as smtp:
        cfg = _config(tmp_path, dovecot.port, imap_account, smtp, certificate, imap_password="web-password")
        results = run_checks(str(cfg), environ={})
    [failed] = [r for r in results if not r.ok and r.required]
    assert "login refused" in failed.detail and "授权码" in failed.detail and "\n" not in failed.detail
    assert "web-password" not in failed.detail
    assert not all_required_pass(results)


def test_a_wrong_smtp_code_is_one_line_naming_the_authorization_code(tmp_path, dovecot, imap_account,
                                                                     certificate):  # noqa: F811
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE),
                             auth_failure_reply=NETEASE_AUTH_FAILED) as smtp:
        cfg = _config(tmp_path, dovecot.port, imap_account, smtp, certificate, smtp_password="wrong")
        out = subprocess.run(zxjyck_cmd(cfg, "check"), capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "400"})
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    [line] = [ln for ln in out.stdout.splitlines() if "535" in ln]
    assert "授权码" in line and "失败 FAIL" in line


def test_an_unreachable_host_and_a_bad_city_table_fail_without_a_traceback(tmp_path, imap_account, certificate):  # noqa: F811
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with running_smtp_server(implicit_tls=certificate.server_context(), auth=(USER, CODE)) as smtp:
        cities = {k: v for k, v in FULL.items() if k != "东莞市"}
        cfg = _config(tmp_path, closed, imap_account, smtp, certificate, cities=cities)
        out = subprocess.run(zxjyck_cmd(cfg, "check"), capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "400"})
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert "unreachable" in out.stdout and "1 个城市没有登记邮箱：东莞市" in out.stdout


def test_a_broken_config_is_one_failed_check(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[imap]\nhost = "x"\nusername = "u"\nbogus = 1\n', encoding="utf-8")
    out = subprocess.run(zxjyck_cmd(cfg, "check"), capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COLUMNS": "400"})
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert "imap.bogus" in out.stdout


def test_an_untrusted_imap_certificate_is_one_failed_line(tmp_path, dovecot, imap_account):
    extra = (f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.tls_port}\nsecurity = "tls"\n'
             f'username = "{imap_account.username}"\npassword = "{imap_account.password}"\ntimeout_seconds = 5\n')
    cfg = _initialised(write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra, cities=cities_toml(FULL)))
    results = run_checks(str(cfg), environ={})
    [failed] = [r for r in results if not r.ok and r.required]
    assert "TLS" in failed.name and "certificate" in failed.detail and "\n" not in failed.detail
    trusted = cfg.read_text().replace('timeout_seconds = 5', f'timeout_seconds = 5\nca_file = "{dovecot.ca_path}"')
    cfg.write_text(trusted)
    assert all_required_pass(run_checks(str(cfg), environ={}))
