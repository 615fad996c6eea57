"""The staff console over HTTP (Starlette's TestClient): access, CSRF, roles, escaping, downloads, throttling."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from fixtures.build_mail import message, weekly_xlsx
from store.db import session_scope
from store.models import Message, Outbox, User
from tests.web_support import ADMIN, NOW, STAFF, WEEK, csrf_of, filled_app, message_id_from, sign_in
from web.app import create_app

HOSTILE_FROM = "evil@example.org"
HOSTILE_SUBJECT = "<script>alert(1)</script> 汕头市周报 \"引号\" 'q' \r\nBcc: victim@example.org [/]"
HOSTILE_FILE = '汕头"周报<script>\'x.xlsx'
HOSTILE_CELL = "<img src=x onerror=alert(2)>有限公司"
CST = timezone(timedelta(hours=8))

PAGES = ["/", f"/week/{WEEK}", "/pending", "/messages", "/messages/1", "/messages/1/attachments/0", "/applications",
         "/outbox", "/exports", f"/exports/week/{WEEK}.xlsx", "/exports/applications.xlsx", "/health",
         "/admin/users", "/admin/cities"]
POSTS = ["/logout", "/messages/1/confirm", "/messages/1/reject", "/messages/1/not-report", "/messages/1/replay",
         "/applications/1/review", "/outbox/1/resend", "/outbox/1/dismiss", "/admin/users/add", "/admin/users/disable",
         "/admin/users/passwd", "/admin/cities/add", "/admin/cities/remove"]


@pytest.fixture
def store_url() -> str:
    return "sqlite:///var/zxjyck.db"  # HTTP behaviour does not depend on the backend (the actions run on both)


def hostile_mail() -> bytes:
    form = weekly_xlsx("汕头市", [(HOSTILE_CELL, 12, '"]]></td><script>x</script>')])
    return message(f'"<script>alert(3)</script>" <{HOSTILE_FROM}>', HOSTILE_SUBJECT,
                   datetime(2020, 2, 24, 11, 0, tzinfo=CST), "见附件 <b>周报</b>\r\n\x1b[31m", "<evil-1@example.org>",
                   [(HOSTILE_FILE, form, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")])


@pytest.fixture
def filled(app, clock, tmp_path: Path):
    clock.value = NOW
    return filled_app(app, tmp_path, {"90-hostile.eml": hostile_mail()})


@pytest.fixture
def client(filled):
    with TestClient(create_app(filled), base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_a_session_redirects_to_login(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_login_page_and_security_headers(client) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text and 'name="csrf_token"' in page.text
    headers = page.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # no script is allowed at all
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page.text and "http://" not in page.text.replace("http://www.w3.org", "")


def test_session_cookie_flags_logout_and_expiry(client, clock) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1],
                                           "csrf_token": csrf_of(page.text), "next": "/pending"})
    assert response.status_code == 303 and response.headers["location"] == "/pending"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "zxjyck_session" in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP on the loopback: a Secure cookie would never come back
    token = client.cookies.get("zxjyck_session")
    assert client.get("/pending").status_code == 200
    csrf = csrf_of(client.get("/pending").text)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    client.cookies.set("zxjyck_session", token)  # the old cookie replayed after logout
    assert client.get("/pending").status_code == 303
    sign_in(client, ADMIN)
    clock.advance(hours=13)  # [web] session_hours defaults to 12
    assert client.get("/pending").status_code == 303


def test_secure_cookie_over_tls(filled) -> None:
    with TestClient(create_app(filled), base_url="https://testserver", follow_redirects=False) as c:
        page = c.get("/login")
        response = c.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": csrf_of(page.text)})
        assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("path", POSTS)
def test_every_post_without_a_valid_csrf_token_is_refused(client, filled, path: str) -> None:
    sign_in(client, ADMIN)
    form = {"name": "mallory", "role": "admin", "password": "long enough password", "city": "汕头市",
            "address": "x@example.org", "state": "入选", "note": "n"}
    assert client.post(path, data=form).status_code == 403
    assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.get("/pending").status_code == 200  # still signed in: nothing happened, not even logout
    with session_scope(filled.engine) as session:
        assert session.exec(select(User).where(User.name == "mallory")).first() is None
        assert session.get(Message, 1).status == "processed"


def test_login_without_the_form_token_is_refused(client) -> None:
    response = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 403 and "zxjyck_session" not in response.headers.get("set-cookie", "")


def test_login_goes_back_only_to_a_page_of_the_console_and_big_forms_are_refused(client) -> None:
    for target, expected in (("/pending", "/pending"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
                             ("/\\evil.example", "/")):
        client.cookies.clear()
        page = client.get("/login")
        response = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "next": target,
                                               "csrf_token": csrf_of(page.text)})
        assert response.headers["location"] == expected, target
    response = client.post("/login", content=b"username=" + b"a" * 300_000,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_staff_cannot_do_admin_actions(client, filled) -> None:
    sign_in(client, STAFF)
    csrf = csrf_of(client.get("/pending").text)
    with session_scope(filled.engine) as session:
        oid = session.exec(select(Outbox.id)).first()
    for path, form in [("/messages/1/replay", {}), (f"/outbox/{oid}/resend", {}),
                       ("/admin/users/add", {"name": "mallory", "role": "admin", "password": "long enough password"}),
                       ("/admin/users/passwd", {"name": ADMIN[0], "password": "long enough password"}),
                       ("/admin/users/disable", {"name": ADMIN[0]}),
                       ("/admin/cities/add", {"city": "汕头市", "address": HOSTILE_FROM}),
                       ("/admin/cities/remove", {"city": "广州市", "address": "gzrsj@example.gov.cn"})]:
        assert client.post(path, data={**form, "csrf_token": csrf}).status_code == 403, path
    for path in ("/admin/users", "/admin/cities"):
        assert client.get(path).status_code == 403
    page = client.get("/pending").text
    assert f'<form method="post" action="/messages/{message_id_from(filled, HOSTILE_FROM)}/confirm">' in page
    assert "/replay" not in page and "/admin/" not in page  # and the buttons are not offered
    assert "gzrsj@example.gov.cn" in filled.registered_cities()["广州市"]
    from ingest.workflows.staff import check_credentials

    assert check_credentials(filled, *ADMIN) is not None
    # what staff may do: decide on a held report
    pk = message_id_from(filled, HOSTILE_FROM)
    response = client.post(f"/messages/{pk}/reject", data={"csrf_token": csrf, "note": "冒名"})
    assert response.status_code == 200 and "不计入" in response.text


def test_hostile_sender_text_is_escaped_everywhere(client, filled) -> None:
    sign_in(client, ADMIN)
    pk = message_id_from(filled, HOSTILE_FROM)
    pages = {p: client.get(p).text for p in (f"/week/{WEEK}", "/pending", "/messages", f"/messages/{pk}",
                                             "/messages?q=%3Cscript%3E", "/applications", "/outbox")}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["/pending"]
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[f"/messages/{pk}"]
    assert "见附件 &lt;b&gt;周报&lt;/b&gt;" in pages[f"/messages/{pk}"]  # the body, as text
    assert pk and f"/messages/{pk}" in pages[f"/week/{WEEK}"]  # 汕头市 held: linked from the week
    for path, html in pages.items():
        assert "<script" not in html.lower(), path
        assert "<img" not in html.lower(), path
        assert "\x1b" not in html and "\r" not in html, path
        assert "Bcc: victim" not in html.split("\n")[0], path
        assert not re.search(r"\n\s*Bcc: victim", html), path  # the CR/LF did not start a new line
    row = next(line for line in pages[f"/messages/{pk}"].splitlines() if "Bcc: victim" in line)
    assert "&#34;引号&#34;" in row or "&quot;引号&quot;" in row


def test_attachment_download_has_a_safe_name_and_cannot_escape_the_archive(client, filled) -> None:
    sign_in(client, ADMIN)
    pk = message_id_from(filled, HOSTILE_FROM)
    response = client.get(f"/messages/{pk}/attachments/0")
    assert response.status_code == 200 and response.content.startswith(b"PK")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    ascii_part = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert all(ch not in ascii_part for ch in "\"'<>\\/\r\n;")
    assert "filename*=UTF-8''" in disposition and "%22" not in disposition and "%3C" not in disposition
    assert response.headers["content-type"] == "application/octet-stream"
    for path in (f"/messages/{pk}/attachments/9", f"/messages/{pk}/attachments/-1",
                 f"/messages/{pk}/attachments/..%2F..%2Fconfig.toml", "/messages/..%2F..%2Fetc%2Fpasswd/attachments/0",
                 "/messages/999999/attachments/0", "/static/..%2F..%2Fconfig.toml", "/static/../app.py"):
        bad = client.get(path)
        assert bad.status_code in (404, 400), path
        assert b"[store]" not in bad.content and b"root:" not in bad.content
    with session_scope(filled.engine) as session:  # a row tampered to point outside the archive
        row = session.get(Message, pk)
        row.sha256 = "../../config.toml"
        session.add(row)
    bad = client.get(f"/messages/{pk}/attachments/0")
    assert bad.status_code == 404 and b"[store]" not in bad.content


def test_login_is_throttled_per_user_and_per_address(client, clock) -> None:
    def attempt(user: str, password: str):
        page = client.get("/login")
        return client.post("/login", data={"username": user, "password": password, "csrf_token": csrf_of(page.text)})

    for _ in range(5):
        assert attempt(ADMIN[0], "wrong password").status_code == 401
    refused = attempt(*ADMIN)  # the right password, but too soon: not even checked
    assert refused.status_code == 429 and "秒后再试" in refused.text
    clock.advance(seconds=31)
    assert attempt(*ADMIN).status_code == 303
    client.cookies.clear()
    for n in range(5):  # many names from one address
        assert attempt(f"guess{n}", "wrong password").status_code == 401
    assert attempt(*STAFF).status_code == 429


def test_week_page_counts_accepted_reports_only(client, filled) -> None:
    sign_in(client, STAFF)
    html = client.get(f"/week/{WEEK}").text
    total = int(re.search(r'id="total-headcount">(\d+)<', html).group(1))
    held = int(re.search(r'id="held-headcount">(\d+)<', html).group(1))
    assert (total, held) == (695, 88 + 60 + 12)  # 珠海 待更正, 佛山 and 汕头 待人工核对 beside the total
    assert client.get("/week/2020-02-19").headers["location"] == f"/week/{WEEK}"
    assert client.get("/week/not-a-date").status_code == 404


def test_the_cli_and_the_console_share_users_and_addresses(filled, config_path, monkeypatch, capsys) -> None:
    import io

    from ingest.cli.main import main

    monkeypatch.setattr("sys.stdin", io.StringIO("a password from a pipe\n"))
    assert main(["--config", str(config_path), "user", "add", "carol", "--role", "staff"]) == 0
    assert main(["--config", str(config_path), "user", "list"]) == 0
    assert "carol" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["--config", str(config_path), "user", "passwd", "carol"]) == 1
    assert "至少 10 个字符" in capsys.readouterr().err
    assert main(["--config", str(config_path), "city", "add", "汕头市", HOSTILE_FROM]) == 0
    assert main(["--config", str(config_path), "city", "list"]) == 0
    assert HOSTILE_FROM in capsys.readouterr().out
    assert main(["--config", str(config_path), "city", "remove", "汕头市", "nobody@example.org"]) == 1
    assert main(["--config", str(config_path), "user", "disable", "carol"]) == 0
    with TestClient(create_app(filled), follow_redirects=False) as c:
        page = c.get("/login")
        refused = c.post("/login", data={"username": "carol", "password": "a password from a pipe",
                                         "csrf_token": csrf_of(page.text)})
        assert refused.status_code == 401
        sign_in(c, ADMIN)
        assert HOSTILE_FROM in c.get("/admin/cities").text


def test_zxjyck_web_serves_the_console_on_the_bind_address(config_path, tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.console_server import free_port

    exe = shutil.which("zxjyck")
    cmd = ([exe] if exe else [sys.executable, "-m", "ingest.cli"]) + ["--config", str(config_path), "web"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    bad = subprocess.run(cmd + ["--bind", "localhost"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and "HOST:PORT" in bad.stderr and "Traceback" not in bad.stderr
    port = free_port()
    proc = subprocess.Popen(cmd + ["--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert answer is not None and answer.status == 200, proc.stderr.read1().decode() if proc.poll() else ""
        assert 'name="password"' in answer.read().decode()
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _listed(html: str) -> set[str]:
    return set(re.findall(r'href="/messages/(\d+)"', html))


def test_the_messages_search_box_filters_by_subject_sender_and_name(client) -> None:
    sign_in(client, STAFF)
    found = client.get("/messages", params={"q": "someone@QQ.com"}).text  # the personal address of 04's 佛山市 mail
    assert len(_listed(found)) == 1 and "someone@qq.com" in found
    everything = _listed(client.get("/messages").text)
    assert len(everything) >= 8
    assert _listed(client.get("/messages", params={"q": "%"}).text) == everything  # a typed % is no wildcard
    assert _listed(client.get("/messages", params={"q": "no such words anywhere"}).text) == set()


def test_city_list_prints_an_address_with_brackets_as_it_is(filled, config_path, capsys) -> None:
    """An address staff confirmed came from a stranger's From: rich markup in it is text, not a style or a crash."""
    from ingest.cli.main import main

    odd = "x[/]y[bold]z@evil.example"
    assert main(["--config", str(config_path), "city", "add", "汕头市", odd]) == 0
    capsys.readouterr()
    assert main(["--config", str(config_path), "city", "list"]) == 0
    assert odd in capsys.readouterr().out


def test_signing_in_again_ends_the_session_the_browser_had(client, filled) -> None:
    """A session cookie planted before login (session fixation) or left from the last one stops working."""
    from web import security

    sign_in(client, STAFF)
    before = client.cookies.get(security.SESSION_COOKIE)
    page = client.get("/login").text  # signed in, the page's header also has a form (log out) with its own token
    login_form = page[page.index('action="/login"'):]
    again = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": csrf_of(login_form),
                                        "next": "/"}, follow_redirects=False)
    assert again.status_code == 303, again.text
    after = client.cookies.get(security.SESSION_COOKIE)
    assert before and after and before != after
    assert security.current_login(filled, before) is None
    assert security.current_login(filled, after).name == ADMIN[0]


@pytest.mark.parametrize("path", ["/week/0001-01-01", "/week/0001-01-07", "/week/9999-12-27", "/week/9999-12-31",
                                  "/exports/week/0001-01-01.xlsx", "/exports/week/9999-12-27.xlsx",
                                  "/week/1969-12-29", "/week/3000-01-06"])
def test_extreme_but_valid_dates_are_a_clear_404_with_the_security_headers(client, path: str) -> None:
    sign_in(client, STAFF)
    response = client.get(path)
    assert response.status_code == 404, response.text[:300]
    assert "超出范围" in response.text and "Traceback" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_an_internal_error_page_carries_the_security_headers(filled) -> None:
    """A fault the console did not foresee (here the store's messages table gone) answers 500 with one line, no
    traceback, and the same security headers as every other page."""
    from sqlalchemy import text

    with TestClient(create_app(filled), base_url="http://testserver", follow_redirects=False,
                    raise_server_exceptions=False) as c:
        sign_in(c, STAFF)
        with filled.engine.begin() as conn:
            conn.execute(text("ALTER TABLE messages RENAME TO messages_gone"))
        response = c.get("/messages")
    assert response.status_code == 500
    assert "内部错误" in response.text and "Traceback" not in response.text and "no such table" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
