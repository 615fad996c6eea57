"""Peak RSS of the daemon (`zxjyck run`) and of its child processes, over a backlog and over hostile attachments.

    python bench/bench_memory.py [--messages 1000] [--bomb-mb 300] [--pdf-stream-mb 512] [--interval 0.05]
    python bench/bench_memory.py --workers-only          # the parse-worker table alone (no Dovecot)

Two runs, each a fresh daemon process on a fresh Dovecot user and a fresh SQLite store (outbox
as .eml files), the messages APPENDed before the daemon starts so its first cycle takes them all:
  backlog   --messages of the realistic mix of bench/common.py;
  hostile   one weekly-report mail per hostile attachment: fixtures/attachments/hostile_* (billion
            laughs xlsx, empty, random bytes, truncated xlsx/docx/pdf), a zip bomb (one member of
            --bomb-mb MB of zeros), a PDF whose content stream inflates to --pdf-stream-mb MB, a zip of
            1,500 members, zips nested 12 deep, and a plain 20 MB attachment.
The daemon runs until every message has left the status "received" (or --timeout passes).
Peaks: the daemon's VmHWM from /proc/<pid>/status read just before SIGTERM (exact); every
descendant (the sandbox's forkserver and workers, LibreOffice) sampled every --interval seconds
(VmHWM of each, so a short-lived child's peak is caught if it lived across one sample), and the
largest sampled sum of RSS of the whole process tree. Compared with the 200 MB target side by
side, and with the RSS of a bare `python -c "import ingest.cli.main"` as the floor.

Then one parse worker per file (``parsers.sandbox.Sandbox`` with the default limits, OCR off),
for the largest legitimate attachments (5,000-row forms in xlsx and PDF, a scanned PDF and a zip
of photos near the largest a 50 MB message carries) and the bombs (the PDF content stream, the
zip bomb): the worker's VmHWM (peak RSS) and VmPeak (address space, what RLIMIT_AS counts), each
next to the 512 MB cap (``Limits.address_space_mb``), read from /proc every 10 ms and once more
after the result. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ATTACHMENTS,
    CST,
    ROOT,
    XLSX,
    MailItem,
    append_items,
    build_attachments_module,
    build_mail_module,
    build_mix,
    child_pids,
    city_address,
    parent_pid,
    print_machine,
    print_table,
    proc_cmdline,
    proc_pss_kb,
    proc_status,
    sqlite_url,
    write_config,
    zxjyck_command,
)
from tests.dovecot import DovecotServer, ImapAccount  # noqa: E402

TARGET_MB = 200.0
MAIL_DATE_WORKERS = (2020, 2, 24)


@dataclass
class ProcPeak:
    label: str
    hwm_kb: int = 0
    rss_kb: int = 0


@dataclass
class Sampler:
    """Samples a process tree's memory from /proc in a thread."""

    pid: int
    interval: float
    children: dict[int, ProcPeak] = field(default_factory=dict)
    tree_rss_peak_kb: int = 0
    tree_pss_peak_kb: int = 0
    daemon_rss_peak_kb: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = 0
        own = proc_status(self.pid)
        total += own.get("VmRSS", 0)
        pss = proc_pss_kb(self.pid)
        self.daemon_rss_peak_kb = max(self.daemon_rss_peak_kb, own.get("VmRSS", 0))
        for child in child_pids(self.pid):
            status = proc_status(child)
            if not status:
                continue
            peak = self.children.get(child)
            if peak is None:
                peak = self.children[child] = ProcPeak(label=self.label(child))
            peak.hwm_kb = max(peak.hwm_kb, status.get("VmHWM", 0))
            peak.rss_kb = max(peak.rss_kb, status.get("VmRSS", 0))
            total += status.get("VmRSS", 0)
            pss += proc_pss_kb(child)
        self.tree_rss_peak_kb = max(self.tree_rss_peak_kb, total)
        self.tree_pss_peak_kb = max(self.tree_pss_peak_kb, pss)
        self.samples += 1


    def label(self, pid: int) -> str:
        cmdline = proc_cmdline(pid)
        parent = parent_pid(pid)
        if "soffice" in cmdline or "libreoffice" in cmdline:
            return "LibreOffice"
        if "prlimit" in cmdline:
            return "prlimit (LibreOffice)"
        if "resource_tracker" in cmdline:
            return "multiprocessing resource tracker"
        if "forkserver" in cmdline:
            return "sandbox forkserver" if parent == self.pid else "sandbox worker (forked by the forkserver)"
        return cmdline[:60] or "?"


# --------------------------------------------------------------------------- hostile mail


def hostile_attachments(bomb_mb: int, pdf_stream_mb: int) -> list[tuple[str, str, bytes]]:
    """(what, file name, bytes) of every hostile attachment."""
    ba = build_attachments_module()
    items = [(f"fixture {p.name}", f"周报{p.suffix}", p.read_bytes()) for p in sorted(ATTACHMENTS.glob("hostile_*"))]
    items.append((f"zip bomb ({bomb_mb} MB of zeros in one member)", "周报.zip", ba.make_zip_bomb(bomb_mb)))
    items.append((f"xlsx bomb (sheet1.xml inflates to {bomb_mb} MB)", "周报.xlsx", xlsx_bomb(bomb_mb)))
    items.append((f"PDF content stream inflating to {pdf_stream_mb} MB", "周报.pdf",
                  ba.make_pdf_huge_stream(pdf_stream_mb)))
    items.append(("zip of 1,500 members", "材料.zip", ba.make_many_members_zip(1500)))
    items.append(("zips nested 12 deep", "材料.zip", ba.make_nested_zip(12)))
    items.append(("20 MB of random bytes named .xlsx", "周报.xlsx", ba.random_bytes(20 * 1024 * 1024, seed=7)))
    return items


def xlsx_bomb(megabytes: int) -> bytes:
    """A real xlsx (the weekly fixture) whose sheet XML is padded with ``megabytes`` MB of whitespace."""
    source = (ATTACHMENTS / "weekly.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                with dst.open(info.filename, "w", force_zip64=True) as fh:
                    head, _, tail = data.partition(b"<sheetData>")
                    fh.write(head + b"<sheetData>")
                    chunk = b" " * (1024 * 1024)
                    for _ in range(megabytes):
                        fh.write(chunk)
                    fh.write(tail)
            else:
                dst.writestr(info, data)
    return out.getvalue()


def hostile_mails(bomb_mb: int, pdf_stream_mb: int) -> list[tuple[str, MailItem]]:
    import datetime as dt

    bm = build_mail_module()
    now = dt.datetime.now(CST).replace(microsecond=0)
    mails = []
    for n, (what, name, data) in enumerate(hostile_attachments(bomb_mb, pdf_stream_mb)):
        ctype = XLSX if name.endswith(".xlsx") else "application/octet-stream"
        raw = bm.message(f"广州市人社局 <{city_address('广州市')}>", "广州市周报", now, "请查收。",
                         f"<hostile-{n}@example.gov.cn>", [(name, data, ctype)])
        mails.append((what, MailItem(raw, now, "hostile")))
    return mails


# --------------------------------------------------------------------------- one daemon run


@dataclass
class RunResult:
    name: str
    messages: int
    seconds: float
    finished: bool
    daemon_hwm_kb: int
    sampler: Sampler
    statuses: dict[str, int]
    problem: str = ""


def count_statuses(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {str(s): int(c) for s, c in conn.execute(text("SELECT status, count(*) FROM messages GROUP BY status"))}
    except Exception:  # the daemon has not created the tables yet
        return {}
    finally:
        engine.dispose()


def run_daemon(name: str, dovecot: DovecotServer, items: list[MailItem], work: Path, interval: float,
               timeout: float) -> RunResult:
    account = ImapAccount(dovecot)
    append_items(account, items, chunk=20)
    url = sqlite_url(work)
    config = write_config(work, url, imap=account)
    log_path = work / "daemon.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(zxjyck_command(config, "run"), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(daemon.pid, interval)
    sampler.start()
    started = time.monotonic()
    finished = False
    statuses: dict[str, int] = {}
    try:
        while time.monotonic() - started < timeout and daemon.poll() is None:
            statuses = count_statuses(url)
            if sum(statuses.values()) >= len(items) and not statuses.get("received"):
                finished = True
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        sampler.sample()
        hwm = proc_status(daemon.pid).get("VmHWM", 0)
    finally:
        sampler.stop()
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    if daemon.returncode not in (0, None) and not finished:
        print(f"  daemon exited {daemon.returncode}; log tail:\n{log_path.read_text(errors='replace')[-2000:]}")
    problem = first_problem(url) if len(items) == 1 else ""
    return RunResult(name, len(items), seconds, finished, hwm, sampler, statuses, problem)


def first_problem(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            problems = conn.execute(text("SELECT problems FROM messages ORDER BY id LIMIT 1")).scalar()
    except Exception:  # no table, no row: nothing to show
        return ""
    finally:
        engine.dispose()
    if isinstance(problems, str):
        with contextlib.suppress(ValueError):
            problems = json.loads(problems)
    first = problems[0] if isinstance(problems, list) and problems else problems
    return str(first or "")[:70]


def hostile_one_by_one(dovecot: DovecotServer, hostile: list[tuple[str, MailItem]], work: Path,
                       interval: float, timeout: float, floor_kb: int) -> None:
    """A fresh daemon per hostile mail: which attachment costs what."""
    rows = []
    for n, (what, item) in enumerate(hostile):
        folder = work / f"hostile-{n}"
        r = run_daemon(f"hostile-{n}", dovecot, [item], folder, interval, timeout)
        biggest = max(r.sampler.children.values(), key=lambda p: p.hwm_kb, default=None)
        rows.append((what[:52], r.daemon_hwm_kb / 1024, f"{r.daemon_hwm_kb / max(floor_kb, 1):.2f}x",
                     (biggest.hwm_kb / 1024) if biggest else 0.0, biggest.label if biggest else "-",
                     f"{r.seconds:.1f}", ",".join(r.statuses) or "?", r.problem))
    print_table(["hostile attachment (one daemon each)", "daemon MB", "vs floor", "largest child MB", "child",
                 "s", "status", "first problem stored"], rows, title="hostile attachments one by one (VmHWM)")


def baseline_kb() -> int:
    """VmHWM of a bare interpreter that has imported the CLI (the floor every daemon starts from)."""
    code = ("import ingest.cli.main, ingest.runtime.daemon, ingest.runtime.poll, sys; "
            "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    with contextlib.suppress(ValueError):
        return int(out.stdout.strip())
    return 0


def large_mail(size_mb: int) -> MailItem:
    """A city's weekly mail whose attachment is ``size_mb`` MB of random bytes (base64 makes the mail about a
    third larger than the attachment, so the attachment is sized to bring the whole mail just under ``size_mb``)."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "gz@example.gov.cn", "zxjyck@163.com", "广州市周报（大附件）"
    msg.set_content("附件为现场照片。")
    payload = random.Random(size_mb).randbytes(int(size_mb * 1024 * 1024 * 0.73))  # base64 and its line breaks
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="现场照片.zip")
    return MailItem(msg.as_bytes(), dt.datetime.now(dt.UTC), "large")


def report(results: list[RunResult], floor_kb: int, hostile: list[tuple[str, MailItem]]) -> None:
    rows = [("floor: python + import ingest.cli.main (VmHWM)", "", "", floor_kb / 1024, "1.00x", "")]
    for r in results:
        state = "done" if r.finished else "TIMEOUT"
        rows.append((f"{r.name}: daemon VmHWM", r.messages, f"{r.seconds:.0f}s {state}", r.daemon_hwm_kb / 1024,
                     f"{r.daemon_hwm_kb / max(floor_kb, 1):.2f}x", f"{r.daemon_hwm_kb / 1024 / TARGET_MB:.2f}"))
        for pid, peak in sorted(r.sampler.children.items(), key=lambda kv: -kv[1].hwm_kb)[:4]:
            rows.append((f"{r.name}:   child {pid} {peak.label} (VmHWM)", "", "", peak.hwm_kb / 1024,
                         f"{peak.hwm_kb / max(floor_kb, 1):.2f}x", f"{peak.hwm_kb / 1024 / TARGET_MB:.2f}"))
        for label, kb in (("RSS", r.sampler.tree_rss_peak_kb), ("PSS", r.sampler.tree_pss_peak_kb)):
            rows.append((f"{r.name}: whole tree, largest sampled {label} sum", "", f"{r.sampler.samples} samples",
                         kb / 1024, f"{kb / max(floor_kb, 1):.2f}x", f"{kb / 1024 / TARGET_MB:.2f}"))
    print_table(["process", "messages", "run", "peak MB", "vs floor", f"of {TARGET_MB:.0f} MB target"], rows,
                title="peak memory")
    for r in results:
        print(f"  {r.name}: statuses {r.statuses}; children seen {len(r.sampler.children)}")
    if hostile:
        print("  hostile attachments: " + "; ".join(f"{what} ({len(item.raw) / 1e6:.2f} MB mail)"
                                                    for what, item in hostile))


# --------------------------------------------------------------------------- one parse worker per file


def noise_jpeg(seed: int) -> bytes:
    """An A4 page at 300 dpi of coloured noise: JPEG cannot shrink it (about 3.5 MB), like a dense scan."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(877, 620, 3), dtype=np.uint8)).resize((2480, 3508))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def worker_files(pdf_stream_mb: int, bomb_mb: int) -> list[tuple[str, str, bytes]]:
    """(what, file name, bytes): the largest legitimate attachments, then the bombs."""
    from bench.bench_parse import big_grid

    ba = build_attachments_module()
    grid = big_grid(5000)
    photos = [noise_jpeg(seed) for seed in range(10)]
    photo_zip = io.BytesIO()
    with zipfile.ZipFile(photo_zip, "w", zipfile.ZIP_STORED) as zf:
        for n, photo in enumerate(photos, start=1):
            zf.writestr(f"材料/照片{n}.jpg", photo)
    return [
        ("5,000-row weekly form, xlsx", "周报.xlsx", ba._xlsx_bytes(grid, [(0, 0, 0, 3), (1, 0, 1, 3)])),
        ("5,000-row weekly form, PDF (reportlab)", "周报.pdf", ba._pdf_bytes(grid[0][0], [grid[1][0]], grid[2:-1],
                                                                             [grid[-1][0]])),
        ("scanned PDF, 10 A4 pages at 300 dpi", "营业执照.pdf", ba.make_pdf_of_jpegs([(p, 2480, 3508) for p in photos])),
        ("zip of 10 photos", "材料.zip", photo_zip.getvalue()),
        ("20 MB of random bytes named .xlsx", "周报.xlsx", ba.random_bytes(20 * 1024 * 1024, seed=7)),
        (f"PDF content stream inflating to {pdf_stream_mb} MB", "周报.pdf", ba.make_pdf_huge_stream(pdf_stream_mb)),
        ("PDF content stream inflating to 2,048 MB", "周报.pdf", ba.make_pdf_huge_stream(2048)),
        (f"zip bomb ({bomb_mb} MB of zeros in one member)", "周报.zip", ba.make_zip_bomb(bomb_mb)),
    ]


def worker_peaks(pdf_stream_mb: int, bomb_mb: int) -> None:
    """A fresh sandbox worker per file; its VmHWM/VmPeak from /proc, sampled and read after the result."""
    import datetime as dt

    from parsers.sandbox import Limits, Sandbox

    limits = Limits(cpu_seconds=120, wall_timeout_s=300)  # measure memory, not the CPU limit (5,000-row PDF)
    cap = limits.address_space_mb
    mail_date = dt.date(*MAIL_DATE_WORKERS)
    warm = (ATTACHMENTS / "weekly.xlsx").read_bytes()
    rows = []
    for what, name, data in worker_files(pdf_stream_mb, bomb_mb):
        with Sandbox(limits, ocr=False) as sb:
            sb.analyze(warm, "weekly.xlsx", mail_date)  # the worker exists before the file arrives
            pid = sb.worker_pid
            peak = {"VmHWM": 0, "VmPeak": 0}
            stop = threading.Event()

            def sample(pid: int = pid, peak: dict = peak, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    for key, value in vm_status(pid).items():
                        peak[key] = max(peak[key], value)
                    stop.wait(0.01)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            result = sb.analyze(data, name, mail_date)
            seconds = time.monotonic() - started
            for key, value in vm_status(pid).items():
                peak[key] = max(peak[key], value)
            stop.set()
            sampler.join()
            killed = sb.stats.memory_kills > 0
        hwm, vm = peak["VmHWM"] / 1024, peak["VmPeak"] / 1024
        rows.append((what, len(data) / 2**20, hwm, f"{hwm / cap:.2f}", vm, f"{vm / cap:.2f}", f"{seconds:.1f}",
                     "memory limit" if killed else "", (result.problems[0] if result.problems else "read")[:60]))
    print_table(["file (one parse worker each)", "MB", "peak RSS MB", f"of {cap} MB cap", "peak AS MB",
                 f"of {cap} MB cap", "s", "killed", "result"], rows,
                title=f"parse workers: peak RSS (VmHWM) and address space (VmPeak) against the {cap} MB cap")


def vm_status(pid: int) -> dict[str, int]:
    """VmHWM and VmPeak (kB) of a live process; {} when it is gone."""
    return proc_status(pid, ("VmHWM", "VmPeak"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="backlog size; 0 skips the backlog run")
    parser.add_argument("--bomb-mb", type=int, default=300)
    parser.add_argument("--pdf-stream-mb", type=int, default=512)
    parser.add_argument("--interval", type=float, default=0.05, help="sampling interval, seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    parser.add_argument("--skip-hostile", action="store_true")
    parser.add_argument("--no-one-by-one", action="store_true", help="skip the per-attachment hostile runs")
    parser.add_argument("--workers-only", action="store_true", help="only the parse-worker table (no daemon runs)")
    parser.add_argument("--no-workers", action="store_true", help="skip the parse-worker table")
    parser.add_argument("--large-mb", default="28,49",
                        help="comma-separated sizes (MB) of single large messages, each in its own daemon run "
                             "(a weekly mail with a random attachment); empty skips them")
    args = parser.parse_args(argv)
    print_machine()
    if args.workers_only:
        worker_peaks(args.pdf_stream_mb, args.bomb_mb)
        return 0
    floor_kb = baseline_kb()
    work = Path(tempfile.mkdtemp(prefix="zxjyck-memory-"))
    dovecot = DovecotServer()
    dovecot.start()
    results: list[RunResult] = []
    hostile: list[tuple[str, MailItem]] = []
    try:
        if args.messages > 0:
            items = build_mix(args.messages)
            print(f"backlog: {len(items)} messages, {sum(len(i.raw) for i in items) / 1e6:.1f} MB")
            results.append(run_daemon("backlog", dovecot, items, work / "backlog", args.interval, args.timeout))
        if not args.skip_hostile:
            hostile = hostile_mails(args.bomb_mb, args.pdf_stream_mb)
            print(f"hostile: {len(hostile)} messages, {sum(len(i.raw) for _, i in hostile) / 1e6:.1f} MB")
            results.append(run_daemon("hostile", dovecot, [i for _, i in hostile], work / "hostile",
                                      args.interval, args.timeout))
        for size_mb in [int(s) for s in args.large_mb.split(",") if s.strip()]:
            item = large_mail(size_mb)
            print(f"large: one message of {len(item.raw) / 1e6:.1f} MB")
            results.append(run_daemon(f"large {size_mb} MB", dovecot, [item], work / f"large{size_mb}",
                                      args.interval, args.timeout))
        report(results, floor_kb, hostile)
        if hostile and not args.no_one_by_one:
            hostile_one_by_one(dovecot, hostile, work, args.interval, args.timeout, floor_kb)
        if not args.no_workers:
            worker_peaks(args.pdf_stream_mb, args.bomb_mb)
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
