"""The sandbox: limits on the worker, the exact problem for each way a worker can fail, a bounded parent."""

from __future__ import annotations

import io
import os
import resource
import shutil
from pathlib import Path

import pytest

from parsers.analysis import analyze_attachment
from parsers.sandbox import Limits, Sandbox
from tests import attachment_support as support
from tests.attachment_support import ATTACHMENTS, MAIL_DATE, fixture_bytes, load_builder

build = load_builder()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as sb:
        yield sb


def _comparable(analysis):
    """What must be the same in-process and through the sandbox."""
    return (
        analysis.filename,
        analysis.format,
        analysis.problems,
        analysis.text_excerpt,
        analysis.weekly,
        analysis.application,
        analysis.material,
        [_comparable(m) for m in analysis.members],
    )


# the two files that need LibreOffice have tests of their own below
FIXTURE_NAMES = sorted(p.name for p in ATTACHMENTS.iterdir()
                       if p.is_file() and p.name not in ("weekly.doc", "weekly_native.wps"))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sandbox_gives_the_in_process_result(sandbox: Sandbox, name: str) -> None:
    data = fixture_bytes(name)
    assert _comparable(sandbox.analyze(data, name, MAIL_DATE)) == _comparable(
        analyze_attachment(data, name, MAIL_DATE)
    )


def test_worker_is_reused_and_replaced_after_n_tasks() -> None:
    with Sandbox(Limits(tasks_per_worker=2), task=support.task_echo) as sb:
        pids = [sb.analyze(b"abc", f"{i}.txt", MAIL_DATE).problems[0] for i in range(3)]
        assert sb.stats.workers_started == 2
    assert pids[0] == pids[1] != pids[2]
    assert pids[0] != f"pid={os.getpid()}"


def test_worker_over_its_memory_bound_is_retired_after_replying() -> None:
    with Sandbox(Limits(max_worker_rss_mb=1), task=support.task_echo) as sb:  # any worker holds more than 1 MB
        pids = [sb.analyze(b"abc", f"{i}.txt", MAIL_DATE).problems[0] for i in range(2)]
        assert (sb.stats.workers_started, sb.stats.retired) == (2, 2)
        assert sb.last_usage["rss_mb"] > 1 and f"pid={sb.last_usage['pid']}" == pids[1]
    assert pids[0] != pids[1]


def test_reused_worker_killed_while_idle_is_replaced_and_the_file_still_read() -> None:
    import signal

    with Sandbox(task=support.task_echo) as sb:
        first = sb.analyze(b"abc", "1.txt", MAIL_DATE).problems[0]
        os.kill(int(first.removeprefix("pid=")), signal.SIGKILL)
        second = sb.analyze(b"abcd", "2.txt", MAIL_DATE)
        assert (sb.stats.crashes, sb.stats.memory_kills, sb.stats.workers_started) == (0, 0, 2)
    assert second.problems[1] == "len=4" and second.problems[0].startswith("pid=") and second.problems[0] != first


def test_arguments_reach_the_worker() -> None:
    with Sandbox(task=support.task_echo) as sb:
        result = sb.analyze(b"12345", "周报.xlsx", MAIL_DATE)
    assert (result.filename, result.problems[1:]) == ("周报.xlsx", ["len=5", "date=2020-02-24"])


def test_oversized_attachment_is_refused_without_a_worker() -> None:
    with Sandbox(Limits(max_attachment_bytes=1000), task=support.task_echo) as sb:
        result = sb.analyze(b"x" * 1001, "大文件.pdf", MAIL_DATE)
        assert sb.stats.workers_started == 0
    assert result.problems == ["附件“大文件.pdf”文件过大（1 KB，上限 1 KB），未予读取，请精简或拆分后重新发送"]
    assert result.limited == result.problems  # a limit left it unread: the message is held for staff


@pytest.mark.parametrize(
    ("task", "limits", "problem", "stat"),
    [
        (support.task_sleep, Limits(wall_timeout_s=1),
         "附件“x.xlsx”解析超时（超过 1 秒），请检查文件是否损坏，或精简、拆分后重新发送", "timeouts"),
        (support.task_burn_cpu, Limits(cpu_seconds=1, wall_timeout_s=60),
         "附件“x.xlsx”解析超时（超过 1 秒），请检查文件是否损坏，或精简、拆分后重新发送", "timeouts"),
        (support.task_hog_memory, Limits(address_space_mb=512),
         "附件“x.xlsx”解析超出内存限制（512 MB），请检查文件是否损坏，或精简、拆分后重新发送", "memory_kills"),
        (support.task_abort, Limits(),
         "附件“x.xlsx”无法解析（解析进程异常终止：信号 SIGSEGV），请检查文件是否损坏后重新发送", "crashes"),
        (support.task_raise, Limits(), "附件“x.xlsx”无法解析（内部错误：RuntimeError）", "crashes"),
        (support.task_forbidden_result, Limits(), "附件“x.xlsx”无法解析（内部错误：UnpicklingError）", None),
        (support.task_huge_result, Limits(), "附件“x.xlsx”无法解析（内部错误：OSError）", "crashes"),
    ],
)
def test_each_failure_becomes_its_problem_and_a_fresh_worker(task, limits: Limits, problem: str, stat) -> None:
    with Sandbox(limits, task=task) as sb:
        result = sb.analyze(fixture_bytes("weekly.xlsx"), "x.xlsx", MAIL_DATE)
        assert result.problems == [problem]
        assert result.limited == ([problem] if stat in ("timeouts", "memory_kills") else [])
        assert result.format == "xlsx"
        if stat:
            assert getattr(sb.stats, stat) == 1
        # the next attachment gets a new worker
        sb.task = support.task_echo
        assert sb.analyze(b"a", "next.txt", MAIL_DATE).problems[0].startswith("pid=")
        assert sb.stats.workers_started == 2


def test_worker_cannot_write_files(tmp_path: Path) -> None:
    target = tmp_path / "written-by-worker.bin"
    with Sandbox(task=support.task_write_file) as sb:
        result = sb.analyze(str(target).encode(), "w.txt", MAIL_DATE)
    assert result.problems == ["errno=27"]  # EFBIG: RLIMIT_FSIZE is 0
    assert target.exists() is False or target.stat().st_size == 0


def _hostile_files() -> dict[str, tuple[bytes, str]]:
    return {
        "bomb.zip": (build.make_zip_bomb(300),
                     "附件“bomb.zip”压缩比异常（疑似压缩炸弹）（成员压缩比 1029:1，上限 100:1），未予读取，请精简或拆分后重新发送"),
        "many.zip": (build.make_many_members_zip(1500),
                     "附件“many.zip”压缩包内文件数量过多（共 1500 个文件，上限 1000 个），未予读取，请精简或拆分后重新发送"),
        "nested.zip": (build.make_nested_zip(5),
                       "附件“nested.zip”压缩包嵌套层数过多（“level2.zip”“level3.zip”“level4.zip”超过 3 层），"
                       "未予读取，请精简或拆分后重新发送"),
        "huge.pdf": (build.make_pdf_huge_stream(1200),
                     "附件“huge.pdf”PDF 内容解压后过大（疑似压缩炸弹）（数据流解压后超过 64 MB 的上限），未予读取，请精简或拆分后重新发送"),
        "laughs.xlsx": (fixture_bytes("hostile_billion_laughs.xlsx"),
                        "附件“laughs.xlsx”含有不安全的内容（XML 实体定义），已拒绝读取，请用 Excel/WPS 重新保存后发送"),
    }


def test_hostile_files_become_problems_and_the_parent_stays_small() -> None:
    files = _hostile_files()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with Sandbox() as sb:
        results = {name: sb.analyze(data, name, MAIL_DATE) for name, (data, _problem) in files.items()}
        # every one is refused before it grows: one worker reads them all
        assert (sb.stats.workers_started, sb.stats.memory_kills) == (1, 0)
        after_ok = sb.analyze(fixture_bytes("weekly.xlsx"), "weekly.xlsx", MAIL_DATE)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert {name: r.problems for name, r in results.items()} == {name: [p] for name, (_d, p) in files.items()}
    assert after_ok.problems == []
    assert grown_mb < 200


def _peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of a live process's resident memory (VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def test_parse_workers_are_capped_at_512_mb_and_ocr_workers_keep_their_own_cap() -> None:
    limits = Limits()
    assert limits.address_space_mb == 512
    assert limits.ocr_address_space_mb > limits.address_space_mb  # the OCR worker's own cap (parsers/ocr)
    with Sandbox(task=support.task_hog_memory) as sb:
        result = sb.analyze(b"x", "x.xlsx", MAIL_DATE)
    assert result.problems == ["附件“x.xlsx”解析超出内存限制（512 MB），请检查文件是否损坏，或精简、拆分后重新发送"]


def test_pdf_bomb_is_refused_before_the_worker_grows() -> None:
    bomb = build.make_pdf_huge_stream(600)  # 600 MB of spaces in 600 KB: over the cap, read unchecked
    with Sandbox(ocr=False) as sb:
        result = sb.analyze(bomb, "周报.pdf", MAIL_DATE)
        pid = sb.worker_pid
        assert pid is not None  # the same worker, alive: a refusal is not a crash
        peak_mb = _peak_rss_mb(pid)
        assert (sb.stats.workers_started, sb.stats.memory_kills, sb.stats.crashes) == (1, 0, 0)
    problem = "附件“周报.pdf”PDF 内容解压后过大（疑似压缩炸弹）（数据流解压后超过 64 MB 的上限），未予读取，请精简或拆分后重新发送"
    assert (result.format, result.problems, result.limited) == ("pdf", [problem], [problem])
    assert peak_mb < 512 / 4  # a worker at rest holds about 50 MB


def _scan_like_pdf(pages: int) -> bytes:
    """Pages of noise photographed at A4 300 dpi (JPEG does not compress noise: about 3.5 MB a page)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    jpegs = []
    for _ in range(pages):
        noise = Image.fromarray(rng.integers(0, 256, size=(877, 620, 3), dtype=np.uint8)).resize((2480, 3508))
        photo = io.BytesIO()
        noise.save(photo, "JPEG", quality=85)
        jpegs.append((photo.getvalue(), 2480, 3508))
    return build.make_pdf_of_jpegs(jpegs)


def test_large_legitimate_files_are_read_under_the_cap() -> None:
    grid = [["企业职工线上适岗技能提升培训备案情况统计表"], ["地市名称：广州市  时间：2月17日——2月23日"],
            ["序号", "企业名称", "备案人数", "培训平台名称"]]
    grid += [[n, f"广州市第{n}号科技有限公司", 10 + n % 90, f"平台{n % 7}"] for n in range(1, 5001)]
    big_form = build._xlsx_bytes(grid, [(0, 0, 0, 3), (1, 0, 1, 3)])
    scan = _scan_like_pdf(10)  # about the largest attachment a 50 MB message can carry
    assert len(scan) > 30 * 2**20
    with Sandbox(ocr=False) as sb:
        form = sb.analyze(big_form, "周报.xlsx", MAIL_DATE)
        scanned = sb.analyze(scan, "营业执照.pdf", MAIL_DATE)
        peak_mb = _peak_rss_mb(sb.worker_pid)
        assert (sb.stats.workers_started, sb.stats.memory_kills) == (1, 0)
    assert form.problems == [] and len(form.weekly.rows) == 5000
    assert (scanned.format, scanned.problems) == ("pdf", [])
    assert peak_mb < 512 / 2


@pytest.mark.skipif(shutil.which("soffice") is None, reason="branch for machines with LibreOffice")
def test_conversion_happens_in_the_parent_for_the_worker() -> None:
    with Sandbox() as sb:
        result = sb.analyze(fixture_bytes("weekly.doc"), "weekly.doc", MAIL_DATE)
        assert sb.stats.conversions == 1
    assert (result.format, result.problems) == ("doc", [])
    assert result.weekly is not None


@pytest.mark.skipif(shutil.which("soffice") is None, reason="branch for machines with LibreOffice")
def test_conversion_failure_in_the_parent_reaches_the_worker_as_a_problem() -> None:
    with Sandbox(Limits(conversion_timeout_s=0.01)) as sb:
        result = sb.analyze(fixture_bytes("weekly.doc"), "周报.doc", MAIL_DATE)
        assert (sb.stats.conversions, sb.stats.workers_started) == (1, 1)
    assert (result.format, result.problems) == ("doc", ["附件“周报.doc”（.doc）转换失败，请另存为 xlsx/docx/pdf 后重新发送"])


def test_legacy_format_refused_in_the_sandbox_without_libreoffice(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without soffice, whatever this one has
    with Sandbox() as sb:
        result = sb.analyze(fixture_bytes("weekly.doc"), "weekly.doc", MAIL_DATE)
    assert result.problems == [
        "附件“weekly.doc”：不支持的文件格式（.doc），请另存为 xlsx/docx/pdf 后重新发送 / unsupported format, please resend as xlsx/docx/pdf"
    ]


def test_conversion_can_be_switched_off() -> None:
    with Sandbox(convert=False) as sb:
        result = sb.analyze(fixture_bytes("weekly_native.wps"), "周报.wps", MAIL_DATE)
        assert sb.stats.conversions == 0
    assert result.problems == [
        "附件“周报.wps”：不支持的文件格式（.wps），请另存为 xlsx/docx/pdf 后重新发送 / unsupported format, please resend as xlsx/docx/pdf"
    ]
