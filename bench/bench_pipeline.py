"""The whole service against a real Dovecot: backlog throughput versus the floor, and the idle poll.

    python bench/bench_pipeline.py [--messages 1000] [--backends sqlite,postgres] [--profile]
                                   [--idle-sizes 1000,50000] [--repeats 7]

(1) Backlog: Dovecot is filled (MULTIAPPEND) with --messages messages of a realistic mix
    (bench/common.py MIX: weekly reports as xlsx/xls/docx/pdf, applications with five
    attachments, plain mail, auto-replies, bounces; every message distinct bytes; INTERNALDATEs
    over the last 28 days, so about a quarter fall in the reply window). Then, side by side
    on the same folder:
      floor   one imapclient connection, UID FETCH BODY.PEEK[] INTERNALDATE in batches of 200,
              mailparser.parse_from_bytes of every body (no disk, no database);
      service ingest.runtime.poll.poll(app) on a fresh SQLite file / PostgreSQL schema: fetch, archive
              (fsync), message rows, decode, attachments parsed in the sandbox, classification,
              records, outbox written as .eml files (no [smtp]).
    The floor is run twice (the first warms Dovecot and the page cache) and the second is used.
    --profile runs pyinstrument over the SQLite poll and prints the top functions.
(2) Idle poll: one poll(app) that finds nothing new, with N messages in the folder and N rows
    already stored: the folder is filled by writing Maildir files straight into the Dovecot
    user's Maildir (indexed by one SELECT before timing), the rows are bulk-inserted as processed
    messages, the cursor is set to the last UID. Timed --repeats times, median reported.
Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    MIXES,
    append_items,
    build_mix,
    floor_fetch_parse,
    mix_table,
    pg_available,
    pg_schema,
    print_machine,
    print_table,
    sqlite_url,
    tree_cpu_seconds,
    write_config,
)
from tests.dovecot import DovecotServer, ImapAccount  # noqa: E402

STAGES = ("pickup", "process", "deliver")


# --------------------------------------------------------------------------- timing the service's stages


@dataclass
class StageTimes:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, spent: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + spent


@contextlib.contextmanager
def timed_stages() -> Iterator[StageTimes]:
    """Wrap the three steps ingest.runtime.poll.poll calls (pickup, process_pending, deliver) with timers.

    Only the names poll() looks up are replaced, for the duration of the block; the code that runs is
    the service's own."""
    import ingest.runtime.poll
    import ingest.workflows.reminders

    times = StageTimes()
    originals = {"pickup": ingest.runtime.poll.pickup, "process": ingest.runtime.poll.process_pending,
                 "deliver": ingest.workflows.reminders.deliver}

    def wrap(name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times.add(name, time.perf_counter() - started)
        return timed

    ingest.runtime.poll.pickup = wrap("pickup", originals["pickup"])
    ingest.runtime.poll.process_pending = wrap("process", originals["process"])
    ingest.workflows.reminders.deliver = wrap("deliver", originals["deliver"])
    try:
        yield times
    finally:
        ingest.runtime.poll.pickup = originals["pickup"]
        ingest.runtime.poll.process_pending = originals["process"]
        ingest.workflows.reminders.deliver = originals["deliver"]


# --------------------------------------------------------------------------- one service run


@dataclass
class ServiceRun:
    backend: str
    seconds: float
    stages: dict[str, float]
    statuses: dict[str, int]
    kinds: dict[str, int]
    outbox: dict[str, int]
    outbox_files: int
    new: int
    cpu: float = 0.0  # CPU seconds of this process tree during poll() (sandbox workers and Dovecot included)
    profile_text: str = ""


def run_service(backend: str, store_url: str, folder: Path, account: ImapAccount, profile: bool) -> ServiceRun:
    from ingest.app import open_app
    from ingest.config import load_settings
    from ingest.runtime.poll import poll

    config = write_config(folder, store_url, imap=account)
    settings = load_settings(config, environ={})
    app = open_app(settings)  # migrations run here, outside the timing
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
    try:
        with timed_stages() as stages:
            if profiler:
                profiler.start()
            started = time.perf_counter()
            cpu = tree_cpu_seconds()
            report = poll(app)
            cpu = tree_cpu_seconds() - cpu
            seconds = time.perf_counter() - started
            if profiler:
                profiler.stop()
        statuses, kinds, outbox = summarize_store(app)
    finally:
        app.close()
    outbox_dir = folder / "var" / "outbox"
    files = sum(1 for p in outbox_dir.rglob("*.eml")) if outbox_dir.exists() else 0
    text = ""
    if profiler:
        tree = Path(tempfile.gettempdir()) / f"zxjyck-bench-profile-{backend}.txt"
        tree.write_text(profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
        text = top_functions(profiler) + f"\n\nfull call tree: {tree}"
    return ServiceRun(backend, seconds, dict(stages.seconds), statuses, kinds, outbox, files, report.new, cpu, text)


def summarize_store(app) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    from sqlalchemy import func
    from sqlmodel import select

    from store.db import session_scope
    from store.models import Message, Outbox

    with session_scope(app.engine) as session:
        statuses = dict(session.exec(select(Message.status, func.count()).group_by(Message.status)).all())
        kinds = dict(session.exec(select(Message.kind, func.count()).group_by(Message.kind)).all())
        outbox = dict(session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
    return ({str(k): v for k, v in statuses.items()}, {str(k): v for k, v in kinds.items()},
            {str(k): v for k, v in outbox.items()})


def top_functions(profiler, count: int = 18) -> str:
    """Self time and total time per function from a pyinstrument session (project code marked *)."""
    root = profiler.last_session.root_frame()
    self_time: dict[str, float] = {}
    total_time: dict[str, float] = {}

    def walk(frame, on_stack: frozenset[str]) -> None:
        key = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        real = [c for c in frame.children if not c.is_synthetic]
        own = frame.time - sum(c.time for c in real)  # synthetic children ([self], [await]) are this frame's
        self_time[key] = self_time.get(key, 0.0) + own
        if key not in on_stack:  # recursion counted once
            total_time[key] = total_time.get(key, 0.0) + frame.time
        for child in real:
            walk(child, on_stack | {key})

    if root is None:
        return "(no samples)"
    walk(root, frozenset())
    whole = root.time or 1.0
    lines = [f"pyinstrument: {whole:.1f}s sampled in the main process "
             "(time inside the sandbox child shows as waiting on its pipe)", "", "top by self time:"]
    for key, spent in sorted(self_time.items(), key=lambda kv: -kv[1])[:count]:
        lines.append(f"  {spent / whole * 100:5.1f}%  {spent:7.2f}s  {key}")
    lines += ["", "top project functions by total time (inclusive):"]
    project = [(k, v) for k, v in total_time.items()
               if any(f"{p}/" in k for p in ("ingest", "parsers", "store", "notify")) and "site-packages" not in k]
    for key, spent in sorted(project, key=lambda kv: -kv[1])[:count]:
        lines.append(f"  {spent / whole * 100:5.1f}%  {spent:7.2f}s  {key}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- (1) backlog


def bench_backlog(server: DovecotServer, messages: int, backends: list[str], profile: bool, work: Path,
                  mix: str = "weekly-xlsx") -> None:
    started = time.perf_counter()
    items = build_mix(messages, mix=MIXES[mix])
    built = time.perf_counter() - started
    total_bytes = sum(len(i.raw) for i in items)
    print_table(["kind", "messages", "avg kB"], mix_table(items),
                title=f"(1) backlog ({mix}): {messages} messages, {total_bytes / 1e6:.1f} MB, built in {built:.1f}s")
    account = ImapAccount(server)
    appended = append_items(account, items)
    print(f"MULTIAPPEND into Dovecot: {appended:.1f}s")
    read_attachments = mix == "weekly-xlsx"  # this floor parses each attachment once, like the service
    floor_fetch_parse(account, read_attachments=read_attachments)  # warm-up
    floor, count, fetched_bytes, floor_cpu = floor_fetch_parse(account, read_attachments=read_attachments)
    floor_name = "floor: imapclient fetch + mailparser" + (" + openpyxl read" if read_attachments else "")
    rows: list[tuple] = [(floor_name, count, floor, count / floor, "1.00x", floor_cpu, "1.00x", "", "", "")]
    runs: list[ServiceRun] = []
    for backend in backends:
        if backend == "postgres":
            reason = pg_available()
            if reason:
                print(f"PostgreSQL skipped: {reason}")
                continue
            with pg_schema() as url:
                run = run_service(backend, url, work / backend, account, profile=False)
        else:
            run = run_service(backend, sqlite_url(work / backend), work / backend, account, profile=profile)
        runs.append(run)
        rows.append((f"service poll(), {backend}", run.new, run.seconds, run.new / run.seconds,
                     f"{run.seconds / floor:.2f}x", run.cpu, f"{run.cpu / floor_cpu:.2f}x",
                     f"{run.stages.get('pickup', 0):.1f}",
                     f"{run.stages.get('process', 0):.1f}", f"{run.stages.get('deliver', 0):.1f}"))
    print_table(["run", "messages", "seconds", "msg/s", "time vs floor", "CPU s", "CPU vs floor", "pickup s",
                 "process s", "deliver s"],
                rows, title="backlog end to end, side by side on the same folder "
                            f"(CPU: this process tree, Dovecot included; load average {os.getloadavg()[0]:.1f})")
    by_backend = {run.backend: run for run in runs}
    if "sqlite" in by_backend and read_attachments:  # the targets are against the floor that reads attachments
        sqlite = by_backend["sqlite"]
        verdict = "met" if sqlite.seconds <= 2 * floor else "NOT met"
        print(f"target: SQLite within 2x of the floor: {sqlite.seconds / floor:.2f}x wall, {verdict} "
              f"({sqlite.cpu / floor_cpu:.2f}x in CPU seconds)")
        if "postgres" in by_backend:
            pg = by_backend["postgres"]
            verdict = "met" if pg.seconds <= 1.3 * sqlite.seconds else "NOT met"
            print(f"target: PostgreSQL within 1.3x of SQLite: {pg.seconds / sqlite.seconds:.2f}x wall, "
                  f"{verdict} ({pg.cpu / sqlite.cpu:.2f}x in CPU seconds, PostgreSQL's own server not counted)")
    for run in runs:
        print(f"  {run.backend}: statuses {run.statuses}; kinds {run.kinds}; outbox {run.outbox}; "
              f".eml files written {run.outbox_files}")
    for run in runs:
        if run.profile_text:
            print(f"\nprofile of the {run.backend} poll (pyinstrument)\n{run.profile_text}")


# --------------------------------------------------------------------------- (2) idle poll


def fill_maildir_plain(server: DovecotServer, account: ImapAccount, count: int) -> float:
    """Write ``count`` small distinct messages straight into the account's Maildir cur/."""
    from bench.common import build_mail_module

    started = time.perf_counter()
    bm = build_mail_module()
    root = server.maildir(account.username)
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    template = bm.message("citizen@example.com", "咨询：个人能否参加线上培训？", base, "请问个人可以报名吗？",
                          "<MSGID>")
    for i in range(count):
        raw = template.replace(b"<MSGID>", f"<idle-{i}-{count}@example.com>".encode())
        stamp = int(base.timestamp()) + i * 60
        path = root / "cur" / f"{stamp}.M{i}P{os.getpid()}.bench,S={len(raw)}:2,"
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))  # Dovecot's INTERNALDATE for Maildir is the file's mtime
    if os.geteuid() == 0:
        for directory, _, files in os.walk(root):
            shutil.chown(directory, "mail", "mail")
            for name in files:
                shutil.chown(os.path.join(directory, name), "mail", "mail")
    return time.perf_counter() - started


def insert_processed_rows(app, account: ImapAccount, uidvalidity: int, count: int) -> float:
    """``count`` processed message rows (bulk insert), as if every message of the folder had been stored."""
    import hashlib

    from sqlalchemy import insert

    from store.models import Message

    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    rows = []
    for uid in range(1, count + 1):
        rows.append({
            "sha256": hashlib.sha256(f"idle-{uid}-{count}".encode()).hexdigest(), "size": 700,
            "message_id": f"<idle-{uid}-{count}@example.com>", "from_addr": "citizen@example.com",
            "from_name": "", "subject": "咨询：个人能否参加线上培训？", "received_at": now - dt.timedelta(minutes=uid),
            "received_source": "internaldate", "stored_at": now, "source": "imap",
            "source_ref": f"imap://{account.username}@127.0.0.1/INBOX;UIDVALIDITY={uidvalidity}/;UID={uid}",
            "references": [], "kind": "other", "status": "processed", "reasons": [], "problems": [],
            "defects": [], "processed_at": now, "attempts": 1,
        })
    with app.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Message), rows[start:start + 5000])
    return time.perf_counter() - started


def idle_poll_case(server: DovecotServer, backend: str, store_url: str, size: int, repeats: int,
                   work: Path) -> tuple:
    from ingest.app import open_app
    from ingest.config import load_settings
    from ingest.runtime.poll import poll
    from ingest.sources.imap_connection import account_name
    from store.repo import set_cursor

    account = ImapAccount(server)
    filled = fill_maildir_plain(server, account, size)
    started = time.perf_counter()
    with account.client() as client:
        info = client.select_folder("INBOX", readonly=True)
    indexed = time.perf_counter() - started
    exists, uidvalidity = int(info[b"EXISTS"]), int(info[b"UIDVALIDITY"])
    settings = load_settings(write_config(work, store_url, imap=account), environ={})
    app = open_app(settings)
    try:
        inserted = insert_processed_rows(app, account, uidvalidity, exists)
        set_cursor(app.engine, account_name(settings.imap), "INBOX", uidvalidity, exists, app.now())
        poll(app)  # first poll: builds the sandbox/transport lazily and warms caches; not counted
        timings: list[float] = []
        stage_runs: list[dict[str, float]] = []
        fetched = 0
        for _ in range(repeats):
            with timed_stages() as stages:
                started = time.perf_counter()
                report = poll(app)
                timings.append(time.perf_counter() - started)
            stage_runs.append(stages.seconds)
            fetched += report.seen
    finally:
        app.close()
    med = statistics.median(timings)
    stage_med = {s: statistics.median(r.get(s, 0.0) for r in stage_runs) for s in STAGES}
    print(f"  {backend} {exists} messages: maildir written {filled:.1f}s, first SELECT {indexed:.2f}s, "
          f"rows inserted {inserted:.1f}s, fetched during timed polls: {fetched}")
    return (backend, exists, med * 1000, min(timings) * 1000, stage_med["pickup"] * 1000,
            stage_med["process"] * 1000, stage_med["deliver"] * 1000)


def bench_idle(server: DovecotServer, sizes: list[int], backends: list[str], repeats: int, work: Path) -> None:
    print(f"\n(2) idle poll: poll(app) finding nothing new, median of {repeats}")
    rows = []
    for backend in backends:
        if backend == "postgres" and pg_available():
            print(f"PostgreSQL skipped: {pg_available()}")
            continue
        for size in sizes:
            folder = work / f"idle-{backend}-{size}"
            if backend == "postgres":
                with pg_schema() as url:
                    rows.append(idle_poll_case(server, backend, url, size, repeats, folder))
            else:
                rows.append(idle_poll_case(server, backend, sqlite_url(folder), size, repeats, folder))
    by_backend: dict[str, float] = {}
    table = []
    for row in rows:
        base = by_backend.setdefault(row[0], row[2])
        table.append((*row, f"{row[2] / base:.2f}x"))
    print_table(["backend", "messages", "median ms", "min ms", "pickup ms", "process ms", "deliver ms",
                 "vs smallest"], table, title="idle poll")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="backlog size for (1); 0 skips it")
    parser.add_argument("--mix", choices=sorted(MIXES), default="weekly-xlsx",
                        help="weekly-xlsx: weekly reports only (floor reads each xlsx with openpyxl); "
                             "realistic: the mixed backlog of bench/common.py MIX")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--profile", action="store_true", help="pyinstrument over the SQLite backlog poll")
    parser.add_argument("--idle-sizes", default="1000,50000", help="folder sizes for (2); empty skips it")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print_machine()
    work = Path(tempfile.mkdtemp(prefix="zxjyck-bench-"))
    server = DovecotServer()
    server.start()
    try:
        if args.messages > 0:
            bench_backlog(server, args.messages, backends, args.profile, work, args.mix)
        sizes = [int(s) for s in args.idle_sizes.split(",") if s.strip()]
        if sizes:
            bench_idle(server, sizes, backends, args.repeats, work)
    finally:
        server.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
