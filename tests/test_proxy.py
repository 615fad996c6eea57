"""The console behind real nginx (deploy/nginx-zxjyck.conf): TLS ends at nginx, the console believes
X-Forwarded-For/-Proto from [web] trusted_proxies only, sets Secure cookies on https and throttles logins
per real client address.

Every address is a loopback one: clients connect from 127.0.0.3, 127.0.0.4... (Linux routes all of
127.0.0.0/8 to lo), nginx connects to the console from 127.0.0.2 (proxy_bind), the one trusted proxy; a
client talking to the console directly comes from 127.0.0.1, which is not trusted here.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, write_config
from tests.console_server import free_port
from tests.smtp_server import make_certificate

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_ADDRESS = "127.0.0.2"
PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed "
                                "(scripts/install.sh --dev installs it)")


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path | None = None) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text(errors="replace") if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {detail[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def nginx_config(folder: Path, https_port: int, http_port: int, upstream_port: int, cert: Path, key: Path) -> Path:
    """deploy/nginx-zxjyck.conf with test ports and paths, inside a main config of its own (no daemon,
    everything under ``folder``)."""
    site = (REPO / "deploy" / "nginx-zxjyck.conf").read_text(encoding="utf-8")
    for old, new in (("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
                     ("/etc/nginx/tls/zxjyck.crt", str(cert)), ("/etc/nginx/tls/zxjyck.key", str(key)),
                     ("proxy_pass http://127.0.0.1:8080;",
                      f"proxy_pass http://127.0.0.1:{upstream_port};\n        proxy_bind {PROXY_ADDRESS};")):
        assert old in site, old
        site = site.replace(old, new)
    (folder / "zxjyck.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    main = folder / "nginx.conf"
    main.write_text(f"""daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
{temp}
    include {folder}/zxjyck.conf;
}}
""", encoding="utf-8")
    return main


@pytest.fixture(scope="module")
def nginx_stack(tmp_path_factory) -> Iterator[dict]:
    """A store with one staff account, `zxjyck web` on a free port, real nginx in front of it over TLS."""
    root = tmp_path_factory.mktemp("proxy")
    cfg = write_config(root, "sqlite:///var/zxjyck.db", extra=f'[web]\ntrusted_proxies = ["{PROXY_ADDRESS}"]\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "ingest.cli", "--config", str(cfg)]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([*cli, "user", "add", "alice", "--role", "staff"], input=PASSWORD + "\n", text=True, env=env,
                   check=True, capture_output=True, timeout=120)
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    web = subprocess.Popen([*cli, "web", "--bind", f"127.0.0.1:{web_port}"], env=env,
                           stdout=subprocess.DEVNULL, stderr=(root / "web.log").open("wb"))
    nginx_dir = root / "nginx"
    nginx_dir.mkdir()
    cert = make_certificate(root)
    conf = nginx_config(nginx_dir, https_port, http_port, web_port, cert.cert_file, cert.key_file)
    nginx = subprocess.Popen([NGINX, "-p", str(nginx_dir), "-c", str(conf), "-e", str(nginx_dir / "error.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(web_port, web, "zxjyck web", root / "web.log")
        _wait_for_port(https_port, nginx, "nginx", nginx_dir / "error.log")
        yield {"https": f"https://127.0.0.1:{https_port}", "http": f"http://127.0.0.1:{http_port}",
               "direct": f"http://127.0.0.1:{web_port}", "ca": str(cert.cert_file), "log": root / "web.log"}
    finally:
        for proc in (nginx, web):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def client(stack: dict, source: str, base: str = "https") -> httpx.Client:
    """A client whose connections come from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source, verify=ssl.create_default_context(cafile=stack["ca"]))
    return httpx.Client(base_url=stack[base], transport=transport, follow_redirects=False, timeout=30)


def login(c: httpx.Client, name: str, password: str, headers: dict | None = None) -> httpx.Response:
    page = c.get("/login", headers=headers)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post("/login", data={"csrf_token": token, "next": "/", "username": name, "password": password},
                  headers=headers)


def cookie_header(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


def test_login_through_nginx_sets_secure_cookies(nginx_stack) -> None:
    with client(nginx_stack, "127.0.0.3") as c:
        page = c.get("/login")
        assert "Secure" in cookie_header(page, "zxjyck_login_csrf")
        done = login(c, "alice", PASSWORD)
        assert done.status_code == 303, done.text
        session = cookie_header(done, "zxjyck_session")
        assert "Secure" in session and "HttpOnly" in session and "SameSite=strict" in session
        week = c.get("/")
        assert week.status_code == 303 and week.headers["location"].startswith("/week/")
        assert c.get(week.headers["location"]).status_code == 200  # signed in, through the proxy
    with client(nginx_stack, "127.0.0.3", base="http") as plain:  # nginx sends plain http to https
        assert plain.get("/login").status_code == 301


def _lock_out(c: httpx.Client, tag: str, headers: dict | None = None) -> None:
    """Five wrong logins (each under another user name, so only the address key counts), then the wait."""
    for i in range(5):
        assert login(c, f"{tag}-{i}", "wrong", headers).status_code == 401
    assert login(c, f"{tag}-5", "wrong", headers).status_code == 429


def test_the_login_throttle_keys_on_the_address_nginx_saw(nginx_stack) -> None:
    with client(nginx_stack, "127.0.0.4") as guesser:
        _lock_out(guesser, "guess")
        assert login(guesser, "alice", PASSWORD).status_code == 429  # even the right password waits
    with client(nginx_stack, "127.0.0.5") as colleague:  # another client address: its own bucket
        assert login(colleague, "alice", PASSWORD).status_code == 303
    # the guesser naming a colleague's address in X-Forwarded-For gains nothing: nginx replaces the header
    with client(nginx_stack, "127.0.0.4") as forger:
        assert login(forger, "alice", PASSWORD, {"X-Forwarded-For": "127.0.0.6"}).status_code == 429
    assert "from 127.0.0.4" in nginx_stack["log"].read_text(errors="replace")  # the log names the real client


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(nginx_stack) -> None:
    forged = {"X-Forwarded-For": "127.0.0.7", "X-Forwarded-Proto": "https"}
    with client(nginx_stack, "127.0.0.1", base="direct") as direct:  # 127.0.0.1 is not in trusted_proxies here
        page = direct.get("/login", headers=forged)
        assert "Secure" not in cookie_header(page, "zxjyck_login_csrf")  # the scheme stayed http
        _lock_out(direct, "direct", forged)  # counted against 127.0.0.1, not the forged 127.0.0.7
    with client(nginx_stack, "127.0.0.7") as real:  # the address the forger named is not locked out
        assert login(real, "alice", PASSWORD).status_code == 303
