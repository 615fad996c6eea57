"""Shared pieces of the bench/ scripts: the mail mix, configs, PostgreSQL schemas, the floor, tables.

Nothing here asserts; every bench prints its figures. Import as ``from bench.common import ...``
after ``sys.path`` holds the repository root (each script inserts it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import io
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import make_msgid
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ATTACHMENTS = ROOT / "fixtures" / "attachments"
PG_URL = os.environ.get("ZXJYCK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CST = dt.timezone(dt.timedelta(hours=8))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLS = "application/vnd.ms-excel"
PDF = "application/pdf"
ZIP = "application/zip"

CITIES = {
    "广州市": "gzrsj", "深圳市": "szrsj", "珠海市": "zhrsj", "汕头市": "strsj", "佛山市": "fsrsj",
    "韶关市": "sgrsj", "河源市": "hyrsj", "梅州市": "mzrsj", "惠州市": "hzrsj", "汕尾市": "swrsj",
    "东莞市": "dgrsj", "中山市": "zsrsj", "江门市": "jmrsj", "阳江市": "yjrsj", "湛江市": "zjrsj",
    "茂名市": "mmrsj", "肇庆市": "zqrsj", "清远市": "qyrsj", "潮州市": "czrsj", "揭阳市": "jyrsj",
    "云浮市": "yfrsj",
}


def city_address(city: str) -> str:
    return f"{CITIES[city]}@example.gov.cn"


def cities_toml() -> str:
    lines = ["[cities]"] + [f'"{city}" = ["{city_address(city)}"]' for city in CITIES]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the machine


def machine_summary() -> list[tuple[str, str]]:
    """(label, value) rows describing where the figures came from."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    rows = [("nproc", str(os.cpu_count())), ("CPU", cpu), ("RAM", ram),
            ("python", platform.python_version()), ("kernel", platform.release())]
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([dovecot, "--version"], capture_output=True, text=True, timeout=10).stdout
        rows.append(("dovecot", out.split()[0] if out else "?"))
    return rows


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds (user + system) used so far by process ``root`` (default: this one), its threads and every
    descendant, including descendants already reaped (cutime/cstime). Differences of two readings are robust
    to other load on the machine, unlike wall time: a shared VM's runnable queue does not count."""
    root = os.getpid() if root is None else root
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = Path(f"/proc/{entry}/stat").read_text()
            fields = raw[raw.rindex(")") + 2:].split()
            pid = int(entry)
            parents[pid] = int(fields[1])
            # utime stime cutime cstime are fields 14-17 of stat; after "(comm)" they start at index 11
            times[pid] = sum(int(v) for v in fields[11:15]) / tick
    total = 0.0
    for pid, spent in times.items():
        current, seen = pid, 0
        while current and current != root and seen < 64:
            current, seen = parents.get(current, 0), seen + 1
        if current == root:
            total += spent
    return total


def print_machine() -> None:
    print_table(["machine", ""], machine_summary())


# --------------------------------------------------------------------------- output


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
    """A plain-text table with right-aligned numbers."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        print("  ".join(c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                        for c, w, v in zip(row, widths, raw, strict=True)))
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "n/a"


# --------------------------------------------------------------------------- the mail mix


def _load_fixture_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load fixtures/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def build_mail_module():
    return _load_fixture_module("build_mail")


@cache
def build_attachments_module():
    return _load_fixture_module("build_attachments")


def zip_with_comment(data: bytes, comment: bytes) -> bytes:
    """The same zip (xlsx/docx) with an archive comment: other bytes, same content for every reader."""
    if data[-22:-18] != b"PK\x05\x06" or data[-2:] != b"\0\0":
        raise ValueError("zip already has a comment or trailing data")
    return data[:-2] + len(comment).to_bytes(2, "little") + comment


def pdf_with_comment(data: bytes, comment: bytes) -> bytes:
    """A PDF comment line after %%EOF: other bytes, same document."""
    return data + b"%" + comment + b"\n"


def week_before(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)


def period_text(start: dt.date, end: dt.date) -> str:
    return f"{start.month}月{start.day}日——{end.month}月{end.day}日"


COMPANIES = ["科技有限公司", "电子有限公司", "机械制造有限公司", "物流有限公司", "酒店管理有限公司", "建筑工程有限公司"]
PLATFORMS = ["粤技通在线学习平台", "南粤职培云", "岭南技能在线"]


@cache
def weekly_xlsx_for(city: str, week_start: dt.date, variant: int) -> bytes:
    """A city's weekly form for a week, as cities fill it (a few rows, one variant of the numbers)."""
    bm = build_mail_module()
    rng = random.Random(f"{city}{week_start}{variant}")
    rows = [(f"{city}某某{rng.choice(COMPANIES)}{n}", rng.randint(5, 400), rng.choice(PLATFORMS))
            for n in range(1, rng.randint(2, 9))]
    return bm.weekly_xlsx(city, rows, period=period_text(week_start, week_start + dt.timedelta(days=6)),
                          filled_by="李四", phone="020-12345678")


def weekly_xls_for(city: str, week_start: dt.date, nonce: int) -> bytes:
    """The same form saved as Excel 97 (.xls) by xlwt; the nonce goes into the filler's extension number."""
    import xlwt

    bm = build_mail_module()
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    sheet.write_merge(0, 0, 0, 3, bm.WEEKLY_TITLE)
    sheet.write(1, 0, f"地市名称：{city}")
    sheet.write(1, 2, f"时间：{period_text(week_start, week_start + dt.timedelta(days=6))}")
    for c, label in enumerate(["序号", "企业名称", "备案人数", "培训平台名称"]):
        sheet.write(2, c, label)
    rng = random.Random(nonce)
    total = 0
    count = rng.randint(1, 6)
    for n in range(1, count + 1):
        headcount = rng.randint(5, 400)
        total += headcount
        for c, value in enumerate([n, f"{city}某某{rng.choice(COMPANIES)}{n}", headcount, rng.choice(PLATFORMS)]):
            sheet.write(2 + n, c, value)
    sheet.write(3 + count, 0, "合计")
    sheet.write(3 + count, 2, total)
    sheet.write(4 + count, 0, f"填报人：王五 联系电话：020-1234{nonce % 10000:04d}")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@cache
def fixture_bytes(name: str) -> bytes:
    return (ATTACHMENTS / name).read_bytes()


@cache
def material_docx(title: str, body: str) -> bytes:
    return build_mail_module().material_docx(title, body)


@dataclass(frozen=True)
class MailItem:
    raw: bytes
    internaldate: dt.datetime
    kind: str  # what the generator meant it to be (for the mix table)


# (kind, weight): weekly reports dominate, then plain mail, then applications.
MIX: list[tuple[str, int]] = [
    ("weekly-xlsx", 30), ("weekly-xls", 8), ("weekly-docx", 6), ("weekly-pdf", 6),
    ("application-5-files", 7), ("application-xlsx-only", 3),
    ("plain-question", 20), ("plain-city-note", 12), ("auto-reply", 5), ("bounce", 3),
]


MIXES: dict[str, list[tuple[str, int]]] = {
    "realistic": MIX,
    # the weekly backlog: weekly reports only, each with one xlsx form
    "weekly-xlsx": [("weekly-xlsx", 1)],
}


def build_mix(count: int, *, now: dt.datetime | None = None, days: int = 28, seed: int = 20200224,
              mix: Sequence[tuple[str, int]] = MIX) -> list[MailItem]:
    """``count`` messages of ``mix``, INTERNALDATEs spread over the last ``days`` days, every one distinct bytes."""
    now = now or dt.datetime.now(CST)
    rng = random.Random(seed)
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    items: list[MailItem] = []
    span = days * 86400
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        when = (now - dt.timedelta(seconds=span * (count - n) / max(count, 1))).replace(microsecond=0)
        items.append(MailItem(make_mail(kind, n, when, rng), when, kind))
    return items


def make_mail(kind: str, n: int, when: dt.datetime, rng: random.Random) -> bytes:
    bm = build_mail_module()
    city = rng.choice(list(CITIES))
    sender = f"{city}人社局 <{city_address(city)}>"
    msgid = f"<bench-{n}-{uuid.uuid4().hex[:12]}@example.gov.cn>"
    nonce = f"zxjyck-bench {n} {uuid.uuid4().hex}".encode()
    week_start, _ = week_before(when.date())
    if kind == "weekly-xlsx":
        data = zip_with_comment(weekly_xlsx_for(city, week_start, n % 3), nonce)
        return bm.message(sender, f"{city}企业职工线上适岗技能提升培训备案情况统计表", when, "附件为我市上周备案情况统计表，请查收。",
                          msgid, [(f"{city}备案情况统计表.xlsx", data, XLSX)], subject_charset="gb2312")
    if kind == "weekly-xls":
        data = weekly_xls_for(city, week_start, n)
        return bm.message(sender, f"{city}周报", when, "报送上周数据。", msgid, [(f"{city}周报.xls", data, XLS)])
    if kind in ("weekly-docx", "weekly-pdf"):
        ext = kind.split("-")[1]
        raw = fixture_bytes(f"weekly.{ext}")
        data = zip_with_comment(raw, nonce) if ext == "docx" else pdf_with_comment(raw, nonce)
        sender = f"广州市人社局 <{city_address('广州市')}>"  # the fixture form is Guangzhou's
        return bm.message(sender, "广州市周报", when, "请查收。", msgid,
                          [(f"广州市备案情况统计表.{ext}", data, DOCX if ext == "docx" else PDF)])
    if kind == "application-5-files":
        org = f"platform{n % 97}"
        files = [
            ("附件1 基本情况表.docx", zip_with_comment(fixture_bytes("application.docx"), nonce), DOCX),
            ("营业执照.pdf", pdf_with_comment(fixture_bytes("营业执照.pdf"), nonce), PDF),
            ("平台架构说明.docx", zip_with_comment(fixture_bytes("平台架构说明.docx"), nonce), DOCX),
            ("平台运行机制及质量管控说明.docx",
             zip_with_comment(material_docx("平台运行机制", "运行机制与质量管控制度。"), nonce), DOCX),
            ("课程介绍及培训大纲.docx", zip_with_comment(material_docx("课程介绍", "培训大纲与考核方式。"), nonce), DOCX),
        ]
        return bm.message(f"张经理 <apply@{org}.example.com>", "职业技能提升行动线上培训平台申报材料", when,
                          "您好，现报送我单位线上培训平台申报材料，请审核。", msgid, files)
    if kind == "application-xlsx-only":
        org = f"platform{n % 97}"
        data = zip_with_comment(fixture_bytes("application.xlsx"), nonce)
        return bm.message(f"apply@{org}.example.com", "线上培训平台申报", when, "申报表见附件，其余材料随后补充。",
                          msgid, [("基本情况表.xlsx", data, XLSX)])
    if kind == "plain-question":
        return bm.message(f"citizen{n}@example.com", f"咨询：个人能否参加线上培训？（{n}）", when,
                          "请问个人可以报名吗？" * rng.randint(1, 40), msgid)
    if kind == "plain-city-note":
        return bm.message(sender, f"关于{city}本周报送情况的说明", when,
                          f"我市本周数据稍后报送。编号{n}。" + "说明。" * rng.randint(10, 400), msgid)
    if kind == "auto-reply":
        return bm.message(f"leader{n}@example.gov.cn", "自动回复：您的邮件已收到", when, "我正在休假，回来后回复。",
                          msgid, headers={"Auto-Submitted": "auto-replied"})
    if kind == "bounce":
        return bm.message("MAILER-DAEMON@mx.example.net", "系统退信", when,
                          f"投递失败：收件人 nobody{n}@example.gov.cn 不存在。", msgid)
    raise ValueError(kind)


def weekly_mail_now(city: str = "广州市", when: dt.datetime | None = None) -> bytes:
    """A weekly report from a registered city, dated now (so the reply window allows a receipt)."""
    when = (when or dt.datetime.now(CST)).replace(microsecond=0)
    week_start, _ = week_before(when.date())
    data = zip_with_comment(weekly_xlsx_for(city, week_start, 0), uuid.uuid4().hex.encode())
    return build_mail_module().message(
        f"{city}人社局 <{city_address(city)}>", f"{city}企业职工线上适岗技能提升培训备案情况统计表", when,
        "附件为我市上周备案情况统计表，请查收。", make_msgid(domain="example.gov.cn"),
        [(f"{city}备案情况统计表.xlsx", data, XLSX)], subject_charset="gb2312")


def mix_table(items: Sequence[MailItem]) -> list[tuple[str, int, float]]:
    rows: dict[str, list[int]] = {}
    for item in items:
        rows.setdefault(item.kind, []).append(len(item.raw))
    return [(kind, len(sizes), sum(sizes) / len(sizes) / 1000) for kind, sizes in sorted(rows.items())]


# --------------------------------------------------------------------------- Dovecot


def append_items(account, items: Sequence[MailItem], folder: str = "INBOX", chunk: int = 200) -> float:
    """MULTIAPPEND every item with its own INTERNALDATE; returns seconds taken."""
    started = time.perf_counter()
    with account.client() as client:
        for start in range(0, len(items), chunk):
            client.multiappend(folder, [{"msg": it.raw, "date": it.internaldate} for it in items[start:start + chunk]])
    return time.perf_counter() - started


def read_xlsx_floor(data: bytes) -> int:
    """The floor's read of one xlsx attachment: openpyxl read-only, every cell value of every sheet."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return sum(1 for sheet in book.worksheets for _ in sheet.iter_rows(values_only=True))
    finally:
        book.close()


def floor_fetch_parse(account, batch_size: int = 200, folder: str = "INBOX",
                      read_attachments: bool = False) -> tuple[float, int, int, float]:
    """The floor: one connection, UID SEARCH, UID FETCH BODY.PEEK[] in batches, mailparser on each body;
    with ``read_attachments``, openpyxl also reads every xlsx attachment (single thread throughout).

    Returns (seconds, messages, bytes, CPU seconds of this process tree, Dovecot included)."""
    import base64

    import mailparser
    from imapclient import IMAPClient

    started = time.perf_counter()
    cpu = tree_cpu_seconds()
    count = total = 0
    client = IMAPClient(account.host, account.port, ssl=False, timeout=120)
    client.normalise_times = False
    client.login(account.username, account.password)
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    for start in range(0, len(uids), batch_size):
        for data in client.fetch(uids[start:start + batch_size], [b"BODY.PEEK[]", b"INTERNALDATE"]).values():
            raw = data[b"BODY[]"]
            mail = mailparser.parse_from_bytes(raw)
            if read_attachments:
                for att in mail.attachments:
                    if str(att.get("filename", "")).lower().endswith(".xlsx"):
                        payload = att["payload"]
                        read_xlsx_floor(base64.b64decode(payload) if att.get("binary") else payload.encode())
            count += 1
            total += len(raw)
    client.logout()
    return time.perf_counter() - started, count, total, tree_cpu_seconds() - cpu


# --------------------------------------------------------------------------- configuration


def write_config(folder: Path, store_url: str, *, imap=None, smtp: tuple[str, int] | None = None,
                 imap_extra: str = "", notify_extra: str = "") -> Path:
    """config.toml for a bench run: [imap] of a tests.dovecot ImapAccount, optional [smtp], all 21 cities."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f'[store]\nurl = "{store_url}"\narchive_dir = "var/archive"\n',
             f'[notify]\nreply_window_days = 7\noutbox_dir = "var/outbox"\n{notify_extra}\n',
             '[staff]\ndigest_to = ["staff@example.org"]\n']
    if imap is not None:
        parts.append(f'[imap]\nhost = "{imap.host}"\nport = {imap.port}\nsecurity = "none"\n'
                     f'username = "{imap.username}"\npassword = "{imap.password}"\nfolder = "INBOX"\n'
                     f'timeout_seconds = 120\n{imap_extra}\n')
    if smtp is not None:
        parts.append(f'[smtp]\nhost = "{smtp[0]}"\nport = {smtp[1]}\nsecurity = "none"\n'
                     f'sender = "zxjyck@163.com"\ntimeout_seconds = 30\n')
    parts.append(cities_toml())
    path = folder / "config.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'var' / 'zxjyck.db'}"


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A throwaway PostgreSQL schema; yields its URL (search_path set), drops it afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: skip the PostgreSQL rows and say why
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"


# --------------------------------------------------------------------------- processes


def zxjyck_command(config: Path, *args: str) -> list[str]:
    """`zxjyck --config CONFIG ARGS` with this interpreter (the console script's entry point, ingest.cli.main:main)."""
    return [sys.executable, "-m", "ingest.cli", "--config", str(config), *args]


def proc_status(pid: int, fields: tuple[str, ...] = ("VmRSS", "VmHWM")) -> dict[str, int]:
    """``fields`` (kB) from /proc/<pid>/status of a live process; {} when it is gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(tuple(f"{name}:" for name in fields)):
                out[line.split(":")[0]] = int(line.split()[1])
    except (OSError, ValueError):
        return {}
    return out


def proc_pss_kb(pid: int) -> int:
    """Proportional set size (shared pages split between their users), from smaps_rollup; 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def parent_pid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def child_pids(pid: int) -> list[int]:
    """Direct and indirect children of a process (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    for word in (task / "children").read_text().split():
                        found.append(int(word))
                        todo.append(int(word))
    return found


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
