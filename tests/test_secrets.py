"""Passwords from *_FILE variables and systemd credentials; a readable config file with a password is
warned about; the children that read untrusted files start with no secret in their environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli.check import run_checks
from ingest.config import ConfigError, load_settings
from tests.conftest import REPO, write_config

IMAP = '\n[imap]\nhost = "imap.163.com"\nusername = "zxjyck@163.com"\n'
SMTP = '\n[smtp]\nhost = "smtp.163.com"\nusername = "zxjyck@163.com"\nsender = "zxjyck@163.com"\n'


def _mailboxes(*entries: str) -> str:
    return "".join(f'\n[[mailboxes]]\nhost = "imap.example.org"\nusername = "box{i}"\n{entry}\n'
                   for i, entry in enumerate(entries))


def test_file_variables_fill_imap_smtp_and_the_store(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=IMAP + SMTP)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "imap").write_text("imap-授权码\n", encoding="utf-8")  # one trailing newline is dropped
    (secrets / "smtp").write_text("smtp pass  ", encoding="utf-8")  # spaces inside a password stay
    (secrets / "url").write_text(f"sqlite:///{tmp_path}/elsewhere.db\n", encoding="utf-8")
    settings = load_settings(cfg, environ={"ZXJYCK_IMAP_PASSWORD_FILE": str(secrets / "imap"),
                                           "ZXJYCK_SMTP_PASSWORD_FILE": str(secrets / "smtp"),
                                           "ZXJYCK_STORE_URL_FILE": str(secrets / "url")})
    assert settings.imap.password.get_secret_value() == "imap-授权码"
    assert settings.smtp.password.get_secret_value() == "smtp pass  "
    assert settings.store_url == f"sqlite:///{tmp_path}/elsewhere.db"
    # the variable itself still wins over its _FILE form
    settings = load_settings(cfg, environ={"ZXJYCK_IMAP_PASSWORD": "direct",
                                           "ZXJYCK_IMAP_PASSWORD_FILE": str(secrets / "imap")})
    assert settings.imap.password.get_secret_value() == "direct"


def test_systemd_credentials_for_every_mailbox(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    for name, value in (("imap_password", "main-box"), ("smtp_password", "sender"),
                        ("store_url", "postgresql+psycopg://zxjyck:pw@db.internal/zxjyck"),
                        ("city_box", "second-box")):
        (creds / name).write_text(value + "\n", encoding="utf-8")
    (tmp_path / "third.pw").write_text("third-box", encoding="utf-8")
    extra = IMAP + SMTP + _mailboxes('password_credential = "city_box"', f'password_file = "{tmp_path}/third.pw"',
                                     'password = "in-the-file"')
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=extra)
    settings = load_settings(cfg, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert [m.password.get_secret_value() for m in settings.imap_accounts()] == [
        "main-box", "second-box", "third-box", "in-the-file"]
    assert settings.smtp.password.get_secret_value() == "sender"
    assert settings.store_url == "postgresql+psycopg://zxjyck:pw@db.internal/zxjyck"
    # without the credentials directory the default names are simply absent, the configured value stays
    bare = load_settings(write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=IMAP + _mailboxes(
        'password = "x"')), environ={})
    assert bare.imap.password.get_secret_value() == "" and bare.mailboxes[0].password.get_secret_value() == "x"


@pytest.mark.parametrize(("entry", "environ", "said"), [
    ('password_credential = "missing"', "creds", "no systemd credential 'missing'"),
    ('password_credential = "../etc/shadow"', "creds", "not a credential name"),
    (f'password_file = "{"/nonexistent/pw"}"', "none", "cannot read /nonexistent/pw"),
])
def test_a_named_secret_that_cannot_be_read_is_a_configuration_error(tmp_path: Path, entry: str, environ: str,
                                                                       said: str) -> None:
    (tmp_path / "credentials").mkdir()
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "credentials")} if environ == "creds" else {}
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=IMAP + _mailboxes(entry))
    with pytest.raises(ConfigError, match=said) as caught:
        load_settings(cfg, environ=env)
    assert caught.value.exit_code == 78


def test_a_missing_file_variable_exits_78_through_the_cli(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=IMAP)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ZXJYCK_IMAP_PASSWORD_FILE": str(tmp_path / "absent")}
    run = subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "status"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 78, run.stderr
    assert "ZXJYCK_IMAP_PASSWORD_FILE" in run.stderr and run.stderr.strip().count("\n") == 0


def test_check_warns_about_a_password_in_a_file_others_can_read(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=SMTP.replace(
        'sender =', 'password = "secret"\nsender ='))
    cfg.chmod(0o644)
    [warning] = [r for r in run_checks(str(cfg), environ={}) if r.name.startswith("配置文件权限")]
    assert not warning.ok and not warning.required and "0644" in warning.detail and "chmod 600" in warning.detail
    cfg.chmod(0o600)
    assert not [r for r in run_checks(str(cfg), environ={}) if r.name.startswith("配置文件权限")]
    # a readable file without a password is fine; so is one whose store URL has no password
    cfg = write_config(tmp_path, "postgresql+psycopg://zxjyck@127.0.0.1:1/none", extra=SMTP)
    cfg.chmod(0o644)
    assert load_settings(cfg, environ={}).config_warnings == ()
    cfg = write_config(tmp_path, "postgresql+psycopg://zxjyck:pw@127.0.0.1:1/none")
    cfg.chmod(0o640)
    assert load_settings(cfg, environ={}).config_warnings != ()


def test_run_logs_the_warning(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra=SMTP.replace(
        'sender =', 'password = "secret"\nsender ='))
    cfg.chmod(0o604)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "run"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(60)
    assert "readable by group or others (mode 0604)" in line and "WARNING" in line


CHILDREN = r"""
import datetime, json, os, sys, time
from pathlib import Path
import multiprocessing.forkserver as forkserver
from parsers.sandbox import Sandbox
from zxjyck.childenv import forkserver_context

def environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)

seen = {"parent": dict(os.environ)}
with Sandbox() as sandbox:
    sandbox.analyze(Path(sys.argv[1]).read_bytes(), "licence_scan.jpg", datetime.date(2020, 2, 24))
    seen["parse worker"] = environ(sandbox.worker_pid)
    seen["ocr worker"] = environ(sandbox._ocr_sandbox.worker_pid)
    seen["forkserver"] = environ(forkserver._forkserver._forkserver_pid)
    child = forkserver_context().Process(target=time.sleep, args=(60,))  # as ingest.pipeline.large starts one
    child.start()
    seen["large-message child"] = environ(child.pid)
    child.kill()
    child.join()
print(json.dumps(seen))
"""


def test_parse_and_ocr_workers_start_without_the_secrets(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x", encoding="utf-8")
    secrets = {"ZXJYCK_IMAP_PASSWORD": "imap-secret", "ZXJYCK_SMTP_PASSWORD": "smtp-secret",
               "ZXJYCK_IMAP_PASSWORD_FILE": str(tmp_path / "pw"), "ZXJYCK_STORE_URL": "postgresql://u:pw@h/db",
               "ZXJYCK_STORE_URL_FILE": str(tmp_path / "pw"), "CREDENTIALS_DIRECTORY": str(tmp_path),
               "PGPASSWORD": "pg-secret"}
    env = {**os.environ, "PYTHONPATH": str(REPO), **secrets}
    scan = REPO / "fixtures" / "attachments" / "scans" / "licence_scan.jpg"
    run = subprocess.run([sys.executable, "-c", CHILDREN, str(scan)], env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.splitlines()[-1])
    assert secrets.items() <= seen.pop("parent").items()  # the service itself still has them
    assert set(seen) == {"parse worker", "ocr worker", "forkserver", "large-message child"}
    for who, environ in seen.items():
        assert not set(secrets) & set(environ), who
        assert not {"imap-secret", "smtp-secret", "pg-secret"} & set(environ.values()), who
        assert environ.get("PATH"), who  # the rest of the environment is there
