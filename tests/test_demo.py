"""`bash scripts/demo.sh` tells its story, and the README shows what it really prints.

Its last lines open the staff console with a demo account: the account exists and signs in.

The demo runs on a copy of the repository's files (its own ./var and ./mailbox),
the real `zxjyck` console script on this checkout. Its closing part (the digest,
the notices it wrote, the next commands) must equal the README's example once
the day-dependent parts are put aside: dates, times, outbox file names, and
（逾期）, which depends on the weekday the demo runs (reports that came on Monday
before 16:00 are on time).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

MARK = "==== 今日汇总"


def _copy_repository(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        if not name or name.startswith("fixtures/peer-mail/"):
            continue
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("demo")
    _copy_repository(root)
    env = {**os.environ, "ZXJYCK_DEMO_SKIP_INSTALL": "1", "PYTHONPATH": str(root)}
    env.pop("ZXJYCK_CONFIG", None)
    run = subprocess.run(["bash", "scripts/demo.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return root, run.stdout


def normalise(text: str) -> list[str]:
    text = re.sub(r"(\d{4}年)?\d{1,2}月\d{1,2}日", "DATE", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", text)
    text = re.sub(r"\b\d{1,2}:\d{2}\b", "HH:MM", text)
    text = re.sub(r"var/outbox/\S+\.eml", "var/outbox/FILE.eml", text)
    text = re.sub(r"最近一次收取：[^；]*", "最近一次收取：…", text)  # a poll before 08:30 shows there
    text = text.replace("（逾期）", "")
    return sorted(line.rstrip() for line in text.splitlines() if line.strip())  # attention-first order varies


def readme_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- demo-output:", 1)[1].split("<!-- /demo-output -->", 1)[0]
    return block.split("```text\n", 1)[1].rsplit("```", 1)[0]


def test_readme_example_is_what_the_demo_prints(demo: tuple[Path, str]) -> None:
    _root, stdout = demo
    assert MARK in stdout
    assert normalise(stdout[stdout.index(MARK):]) == normalise(readme_example())


def test_the_digest_shows_what_the_demo_did(demo: tuple[Path, str]) -> None:
    _root, stdout = demo
    digest = stdout[stdout.index(MARK):stdout.index("==== 本次写出的通知")]
    grid = digest.split("一、")[1].split("二、")[0]
    assert "已报送 4/21 个市" in grid
    for city, status in (("广州市", "已收到"), ("深圳市", "已收到"), ("珠海市", "待更正"), ("佛山市", "待人工核对")):
        assert re.search(rf"{city}：{status}(（逾期）)?，", grid), city
    assert "未报送（17个市）：汕头市" in grid
    assert "二、新收到的平台申报（2件）" in digest and "粤技通在线学习平台" in digest and "南粤职培云" in digest
    # the sample form is an editable copy: the stamped-form rule keeps it open, and the digest says why
    assert "“粤技通在线学习平台”（广东粤技通教育科技有限公司）：缺加盖公章的基本情况表（扫描件或照片）" in digest
    # the console's totals rule: accepted reports only, the held ones beside the total
    assert "已确认的企业合计 5 家，备案人数合计 695 人" in grid and "未计入合计" in grid
    assert "\n\n\n" not in digest.replace("\r", "")
    assert "三、待人工处理（1件）" in digest and "《佛山市周报》" in digest
    assert "近24小时收到邮件 8 封" in digest


def test_every_notice_it_wrote_is_named_and_exists(demo: tuple[Path, str]) -> None:
    root, stdout = demo
    listed = re.findall(r"^(var/outbox/\S+\.eml)  (.+)$", stdout, flags=re.M)
    assert len(listed) == 5
    assert sorted(p.name for p in (root / "var" / "outbox").glob("*.eml")) == sorted(Path(p).name for p, _s in listed)
    subjects = [s for _p, s in listed]
    assert any(s.startswith("回执：广州市") for s in subjects) and any(s.startswith("更正通知：珠海市") for s in subjects)
    held = re.search(r"zxjyck show (\d+)", stdout)
    assert held is not None
    shown = subprocess.run(["zxjyck", "--config", "config.toml", "show", held.group(1)], cwd=root, text=True,
                           capture_output=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert shown.returncode == 0 and "佛山市周报" in shown.stdout  # the next command it suggests works


def test_the_console_it_points_to_opens_with_the_demo_account(demo: tuple[Path, str]) -> None:
    import httpx

    from tests.console_server import free_port
    from tests.web_support import csrf_of

    root, stdout = demo
    console = stdout[stdout.index("==== 工作人员控制台"):]
    assert "  zxjyck web " in console and "http://127.0.0.1:8080/" in console
    account = re.search(r"账号 user: (\S+)    密码 password: (\S+)", console)
    assert account is not None
    env = {**os.environ, "PYTHONPATH": str(root)}
    listed = subprocess.run(["zxjyck", "--config", "config.toml", "user", "list"], cwd=root, env=env, text=True,
                            capture_output=True, timeout=120)
    assert re.search(rf"{account.group(1)}\s.*staff", listed.stdout)
    port = free_port()  # the line the demo prints, on a free port instead of 8080
    web = subprocess.Popen(["zxjyck", "--config", "config.toml", "web", "--bind", f"127.0.0.1:{port}"], cwd=root,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, follow_redirects=True) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    assert web.poll() is None and time.monotonic() < deadline, "the console did not start"
                    time.sleep(0.1)
            signed_in = client.post("/login", data={"username": account.group(1), "password": account.group(2),
                                                    "csrf_token": csrf_of(page.text), "next": "/"})
            assert signed_in.status_code == 200 and "本周报送" in signed_in.text
            assert "广州市" in signed_in.text and "已收到" in signed_in.text
    finally:
        web.terminate()
        web.wait(timeout=30)
