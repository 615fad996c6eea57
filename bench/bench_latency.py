"""From APPEND to the receipt at the SMTP listener, with the daemon (`zxjyck run`) as a subprocess.

    python bench/bench_latency.py [--appends 10] [--backend sqlite|postgres] [--poll-interval N]

A real Dovecot and a real SMTP listener (aiosmtpd, tests/smtp_server.py) on 127.0.0.1; the
daemon runs `python -m ingest.cli.main --config CONFIG run` (the `zxjyck` console script's entry
point) with [imap] on the Dovecot user and [smtp] on the listener, all 21 cities registered,
max_per_sender_per_day raised so no receipt is held back by the abuse limit.

Each append is a weekly report (xlsx) from a different registered city, Date and INTERNALDATE
now (inside the reply window). One warm-up append first (not counted: the sandbox worker and
the SMTP transport start on the first message). Then, one at a time: t0 just before the APPEND
command (already logged in), t1 when the listener holds a message whose In-Reply-To is that
Message-ID (checked every 5 ms). Afterwards the store is read for the split of each latency:
APPEND -> row stored (pickup), stored -> processed, processed -> at the listener.
--poll-interval sets [imap] poll_interval_seconds (default: the service's own default), to
compare IDLE with the interval cycle. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email
import email.policy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    CITIES,
    CST,
    ROOT,
    pg_available,
    pg_schema,
    print_machine,
    print_table,
    sqlite_url,
    weekly_mail_now,
    write_config,
    zxjyck_command,
)
from tests.dovecot import DovecotServer, ImapAccount  # noqa: E402
from tests.smtp_server import running_smtp_server  # noqa: E402

RECEIPT_TIMEOUT_SECONDS = 180.0


@dataclass
class Sample:
    city: str
    message_id: str
    appended_at: float  # time.time() just before APPEND
    seconds: float | None  # APPEND -> at the listener; None: nothing arrived in time
    notice_subject: str = ""
    floor: float | None = None  # APPEND -> EXISTS seen by a bare imapclient IDLE on the same folder


class IdleProbe(threading.Thread):
    """The floor: a bare imapclient connection in IDLE on the folder, noting when each EXISTS arrives."""

    def __init__(self, account: ImapAccount) -> None:
        super().__init__(name="idle-probe", daemon=True)
        self.account = account
        self.events: list[tuple[float, int]] = []  # (monotonic, EXISTS)
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        from imapclient import IMAPClient

        client = IMAPClient(self.account.host, self.account.port, ssl=False, timeout=30)
        client.login(self.account.username, self.account.password)
        client.select_folder("INBOX", readonly=True)
        client.idle()
        self.ready.set()
        try:
            while not self.stop.is_set():
                for response in client.idle_check(timeout=0.2):
                    if len(response) >= 2 and response[1] == b"EXISTS":
                        self.events.append((time.monotonic(), int(response[0])))
        finally:
            with contextlib.suppress(Exception):
                client.idle_done()
                client.logout()

    def seen(self, exists: int, since: float) -> float | None:
        for when, count in self.events:
            if count >= exists and when >= since:
                return when - since
        return None


def message_id_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.compat32)["Message-ID"]).strip()


def reply_for(server, message_id: str) -> email.message.Message | None:
    for received in list(server.handler.received):
        msg = email.message_from_bytes(received.data, policy=email.policy.compat32)
        if str(msg.get("In-Reply-To", "")).strip() == message_id:
            return msg
    return None


def wait_for_reply(server, message_id: str, started: float, timeout: float) -> tuple[float | None, str]:
    while time.monotonic() - started < timeout:
        msg = reply_for(server, message_id)
        if msg is not None:
            subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", ""))))
            return time.monotonic() - started, subject
        time.sleep(0.005)
    return None, ""


def wait_until_first_cycle(url: str, daemon: subprocess.Popen, timeout: float = 120.0) -> float:
    """Seconds until the daemon recorded its first poll (PollRun row)."""
    from sqlalchemy import create_engine, text

    started = time.monotonic()
    engine = create_engine(url)
    try:
        while time.monotonic() - started < timeout and daemon.poll() is None:
            with contextlib.suppress(Exception), engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM poll_runs")).scalar():
                    return time.monotonic() - started
            time.sleep(0.1)
    finally:
        engine.dispose()
    return float("nan")


def stage_split(url: str, samples: list[Sample]) -> list[tuple]:
    """(city, total, pickup, process, send) seconds per sample, from the rows the daemon wrote."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    rows = []
    try:
        with engine.connect() as conn:
            for s in samples:
                found = conn.execute(text("SELECT stored_at, processed_at FROM messages WHERE message_id = :m"),
                                     {"m": s.message_id}).first()
                if found is None or s.seconds is None:
                    rows.append((s.city, s.seconds, None, None, None))
                    continue
                stored, processed = (_epoch(v) for v in found)
                pickup = stored - s.appended_at
                process = processed - stored if processed else None
                send = s.appended_at + s.seconds - processed if processed else None
                rows.append((s.city, s.seconds, pickup, process, send))
    finally:
        engine.dispose()
    return rows


def _epoch(value) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def run(args: argparse.Namespace, store_url: str, work: Path, dovecot: DovecotServer) -> None:
    account = ImapAccount(dovecot)
    account.create_folder("INBOX")  # first login creates the Maildir
    imap_extra = f"poll_interval_seconds = {args.poll_interval}\n" if args.poll_interval else ""
    with running_smtp_server() as smtp:
        config = write_config(work, store_url, imap=account, smtp=(smtp.host, smtp.port), imap_extra=imap_extra,
                              notify_extra="max_per_sender_per_day = 1000\n")
        log_path = work / "daemon.log"
        with open(log_path, "wb") as log:
            daemon = subprocess.Popen(zxjyck_command(config, "-v", "run"), cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            ready = wait_until_first_cycle(store_url, daemon)
            print(f"daemon pid {daemon.pid}: first cycle recorded after {ready:.1f}s "
                  f"(start, migrations, an empty poll)")
            time.sleep(1.0)  # let the watcher reach IDLE
            probe = IdleProbe(account)
            probe.start()
            probe.ready.wait(30)
            cities = list(CITIES)
            samples: list[Sample] = []
            with account.client() as client:
                for n in range(args.appends + 1):
                    city = cities[n % len(cities)]
                    raw = weekly_mail_now(city)
                    msgid = message_id_of(raw)
                    appended_at = time.time()
                    started = time.monotonic()
                    client.append("INBOX", raw, msg_time=dt.datetime.now(CST))
                    seconds, subject = wait_for_reply(smtp, msgid, started, RECEIPT_TIMEOUT_SECONDS)
                    label = "warm-up" if n == 0 else str(n)
                    shown = f"{seconds:.3f}s" if seconds is not None else "none"
                    print(f"  append {label:>7} {city}: {shown}  {subject}")
                    if n > 0:
                        samples.append(Sample(city, msgid, appended_at, seconds, subject,
                                              probe.seen(n + 1, started)))
                    if daemon.poll() is not None:
                        print(f"daemon exited with {daemon.returncode}; see {log_path}")
                        break
                    time.sleep(args.gap)
        finally:
            with contextlib.suppress(NameError):
                probe.stop.set()
            daemon.terminate()
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
    report(samples, stage_split(store_url, samples), args, log_path)


def report(samples: list[Sample], split: list[tuple], args: argparse.Namespace, log_path: Path) -> None:
    got = [s.seconds for s in samples if s.seconds is not None]
    print_table(["append", "city", "total s", "floor s", "pickup s", "process s", "send s"],
                [(i + 1, city, _num(total), _num(s.floor), *(_num(v) for v in (pickup, process, send)))
                 for i, ((city, total, pickup, process, send), s) in enumerate(zip(split, samples, strict=True))],
                title="per append (floor = APPEND -> EXISTS at a bare imapclient IDLE; pickup = APPEND -> "
                      "row stored; process = stored -> processed; send = processed -> at the listener)")
    missing = len(samples) - len(got)
    mode = (f"poll_interval_seconds = {args.poll_interval}" if args.poll_interval
            else "poll_interval_seconds = service default")
    floors = [s.floor for s in samples if s.floor is not None]

    def stats(values: list[float]) -> list[float]:
        if not values:
            return [float("nan")] * 4
        return [statistics.median(values), percentile(values, 0.9), min(values), max(values)]

    rows = [(name, a, b, f"{a / b:.1f}x" if b else "n/a", target)
            for name, a, b, target in zip(("median", "p90", "min", "max"), stats(got), stats(floors),
                                          ("2.00", "2.00", "", ""), strict=True)]
    print_table(["APPEND ->", "receipt s", "floor: EXISTS in IDLE s", "receipt / floor", "target s"], rows,
                title=f"latency over {len(got)} appends ({missing} without a reply in "
                      f"{RECEIPT_TIMEOUT_SECONDS:.0f}s), {mode}; backend {args.backend}")
    if got:
        print(f"median / target: {statistics.median(got) / 2.0:.2f}x")
    idle_lines = [line for line in log_path.read_text(errors="replace").splitlines() if "watcher" in line.lower()]
    print(f"daemon log lines about the IMAP watcher: {len(idle_lines)}"
          + (f"; last: {idle_lines[-1][:160]}" if idle_lines else " (no IDLE watcher seen: interval polling)"))


def _num(value: float | None) -> object:
    return "-" if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--poll-interval", type=int, default=0, help="[imap] poll_interval_seconds (0: default)")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between a receipt and the next append")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    print_machine()
    work = Path(tempfile.mkdtemp(prefix="zxjyck-latency-"))
    dovecot = DovecotServer()
    dovecot.start()
    try:
        if args.backend == "postgres":
            reason = pg_available()
            if reason:
                print(f"PostgreSQL unavailable: {reason}")
                return 1
            with pg_schema() as url:
                run(args, url, work, dovecot)
        else:
            run(args, sqlite_url(work), work, dovecot)
    finally:
        dovecot.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
