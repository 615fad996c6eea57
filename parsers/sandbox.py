"""Reading untrusted attachments in a child process under hard limits.

``Sandbox.analyze`` sends the attachment's bytes to a worker process and gets
back a small ``AttachmentAnalysis``. The worker runs under RLIMIT_AS (memory),
RLIMIT_CPU (armed per attachment), RLIMIT_FSIZE=0 (it can write no file) and
RLIMIT_CORE=0; the parent kills it when the wall-clock timeout passes. The
parent never expands an attachment: it holds the raw bytes and the result only,
and it reads the result with a size cap and an unpickler that accepts nothing
but the result's own classes (a child subverted by a hostile file cannot make
the parent run code).

Workers come from a ``forkserver`` context (safe in a process with threads,
and quick: the server has the parsers imported already). One worker is reused
across attachments and replaced after a crash, a limit, a timeout,
``Limits.tasks_per_worker`` attachments, ``Limits.pages_per_worker`` pages (a
task that reads pages counts them) or when its resident memory passes
``Limits.max_worker_rss_mb`` (the worker checks after replying, and exits). A
reused worker found dead when given an attachment (killed while idle) is
replaced and the attachment read again, once.

LibreOffice conversion (.doc/.et/.wps) needs to write files, which the worker
may not: the worker asks the parent over the pipe, the parent runs soffice in
its own process group and temp dir with a timeout, and sends the converted
bytes back.

Scans and photos: when the reader finds nothing in a picture or a text-less
PDF that may be a form or a licence (``parsers.ocr.triage.needs_ocr``), the
sandbox hands the bytes to a second child of its own, the OCR worker, which
runs ``parsers.ocr.scan.ocr_attachment`` (through ``parsers.ocr.triage.ocr_task``) under the OCR limits (a larger
address space for the models, its own CPU and wall-clock limits, a page limit,
a pixel cap before decoding). The daemon's process never runs OCR. The OCR
worker is kept for the next scans (loading the models costs 1-3 s, a page
2-4 s) and replaced after ``Limits.ocr_pages_per_worker`` pages, or when it
holds more than ``Limits.ocr_worker_max_rss_mb`` after a scan, or after a
crash, a limit or a timeout; the wall-clock kill applies to every call.
``close()`` ends both workers.

A Sandbox is not thread-safe: use one per thread.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from parsers.analysis import (
    AttachmentAnalysis,
    analyze_attachment,
    internal_error_problem,
    memory_problem,
    timeout_problem,
)
from parsers.formats.convert import convert_with_soffice, soffice_path
from parsers.formats.detect import detect_format, extension
from parsers.formats.errors import FormatError, LimitExceededError, UnsupportedFormatError
from parsers.formats.limits import MB, Limits, human_size
from parsers.ocr.triage import needs_ocr, ocr_task
from zxjyck.childenv import forkserver_context

log = logging.getLogger(__name__)

__all__ = ["Limits", "Sandbox", "SandboxStats"]

MAX_RESULT_BYTES = 64 * MB

Task = Callable[..., AttachmentAnalysis]  # (data, filename, mail_date, limits, converter)


# ---------------------------------------------------------------- the child
class CpuTimeExceeded(BaseException):  # noqa: N818 - BaseException so "except Exception" in libraries lets it pass
    """Raised in the worker by SIGXCPU when the attachment used up its CPU seconds."""


_cpu_armed = False


def _on_sigxcpu(_signum, _frame) -> None:
    global _cpu_armed
    if _cpu_armed:
        _cpu_armed = False
        raise CpuTimeExceeded()


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arm_cpu_limit(seconds: int) -> None:
    global _cpu_armed
    _cpu_armed = True
    soft = int(_cpu_used()) + max(1, seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def _disarm_cpu_limit() -> None:
    global _cpu_armed
    _cpu_armed = False
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _address_space_in_use() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _apply_process_limits(limits: Limits) -> None:
    address_space = limits.address_space_mb * MB
    in_use = _address_space_in_use()  # inherited from the forkserver: about 160 MB (see Sandbox.__init__)
    if in_use > address_space // 2:
        log.warning("sandbox worker starts with %d MB of its %d MB address space in use", in_use // MB,
                    limits.address_space_mb)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with EFBIG instead of killing us
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business


def _child_logging(level: int) -> None:
    """The parent's log rule in the forkserver child: sender text stripped, tracebacks only when debugging."""
    root = logging.getLogger()
    if root.handlers:
        return
    from zxjyck.text import SafeLogFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(SafeLogFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                          debug=level <= logging.DEBUG))
    root.addHandler(handler)
    root.setLevel(max(level, logging.INFO))


class _ParentConverter:
    """The worker's converter: asks the parent (which may write files) to run LibreOffice."""

    def __init__(self, conn):
        self.conn = conn

    def __call__(self, data: bytes, filename: str, fmt: str, target: str) -> bytes:
        self.conn.send_bytes(pickle.dumps(("convert", data, filename, fmt, target)))
        reply = pickle.loads(self.conn.recv_bytes())
        if reply[0] == "converted":
            return reply[1]
        _kind, problem, message = reply
        error = FormatError(message, filename, problem)
        error.fmt = fmt
        raise error


def _resident_mb() -> int:
    """This process's resident memory (Linux /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() // MB
    except (OSError, ValueError, IndexError):
        return 0


def _worker_usage(task: Task) -> dict[str, int]:
    """What the worker has used so far: pages read (a task that reads pages says how many: ``task.pages_read``),
    resident memory and CPU time, for the decision to retire it and for the parent's records (and bench/)."""
    pages_read = getattr(task, "pages_read", None)
    return {"pages": int(pages_read()) if pages_read else 0, "rss_mb": _resident_mb(), "pid": os.getpid(),
            "cpu_ms": round(_cpu_used() * 1000)}


def _worn_out(usage: dict[str, int], limits: Limits) -> bool:
    """Time for a fresh worker: the page cap reached or the resident memory over its bound."""
    return bool((limits.pages_per_worker and usage["pages"] >= limits.pages_per_worker)
                or (limits.max_worker_rss_mb and usage["rss_mb"] > limits.max_worker_rss_mb))


def _worker_main(conn, limits: Limits, task: Task, can_convert: bool, log_level: int = logging.WARNING) -> None:
    _apply_process_limits(limits)
    _child_logging(log_level)
    converter = _ParentConverter(conn) if can_convert else None
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if message is None:
            return
        data, filename, mail_date = message
        status, result = _run_task(task, data, filename, mail_date, limits, converter)
        del data, message
        # after a limit the heap may be in a bad way: this worker ends and the parent starts a fresh one
        exiting = status != "ok" or (isinstance(result, AttachmentAnalysis) and _hit_memory_limit(result, limits))
        usage = _worker_usage(task)
        exiting = exiting or _worn_out(usage, limits)  # the result goes back first, then a graceful exit
        try:
            conn.send_bytes(pickle.dumps(("result", status, result, exiting, usage)))
        except MemoryError:
            conn.send_bytes(pickle.dumps(("result", "memory", None, True, usage)))
            return
        except pickle.PicklingError as exc:
            conn.send_bytes(pickle.dumps(("result", "error", type(exc).__name__, True, usage)))
            return
        if exiting:
            return


def _run_task(task: Task, data: bytes, filename: str, mail_date: dt.date, limits: Limits, converter):
    try:
        _arm_cpu_limit(limits.cpu_seconds)
        try:
            return "ok", task(data, filename, mail_date, limits, converter)
        finally:
            _disarm_cpu_limit()
    except CpuTimeExceeded:
        return "cpu", None
    except MemoryError:
        return "memory", None
    except Exception as exc:  # noqa: BLE001 - the task is analyze_attachment, which should not raise
        log.exception("sandbox task failed on %r", filename)
        return "error", type(exc).__name__


def _hit_memory_limit(result: AttachmentAnalysis, limits: Limits) -> bool:
    marker = memory_problem(result.filename, limits.address_space_mb)
    return any(marker == problem for problem in result.all_problems)


# ---------------------------------------------------------------- the parent
def _sniff_format(data: bytes, filename: str) -> str:
    """The format for a result made in the parent, without opening archives (only the first bytes)."""
    if data.startswith(b"PK"):
        return {"xlsx": "xlsx", "xlsm": "xlsx", "docx": "docx"}.get(extension(filename), "zip")
    try:
        return detect_format(data[:8192], filename) if data else "unknown"
    except Exception:  # noqa: BLE001 - a guess for a message, never worth a crash
        return "unknown"


class _ResultUnpickler(pickle.Unpickler):
    """Only the result's own dataclasses and plain values may come back from a worker."""

    SAFE_BUILTINS = frozenset({"list", "dict", "tuple", "set", "frozenset", "str", "bytes", "int", "float",
                               "bool", "complex", "bytearray"})
    SAFE_MODULE_PREFIXES: tuple[str, ...] = ("parsers.",)

    def __init__(self, file, extra_prefixes: tuple[str, ...] = ()):
        super().__init__(file)
        self.SAFE_MODULE_PREFIXES = self.SAFE_MODULE_PREFIXES + extra_prefixes
    SAFE_MODULES = {"datetime": {"date", "datetime", "time", "timedelta", "timezone"},
                    "decimal": {"Decimal"}, "collections": {"OrderedDict"}}

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in self.SAFE_BUILTINS:
            return super().find_class(module, name)
        if name in self.SAFE_MODULES.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(self.SAFE_MODULE_PREFIXES) and not name.startswith("_"):
            value = super().find_class(module, name)
            if isinstance(value, type):
                return value
        raise pickle.UnpicklingError(f"worker sent a forbidden object {module}.{name}")


def _load_reply(raw: bytes) -> Any:
    return _ResultUnpickler(io.BytesIO(raw)).load()


def load_restricted(raw: bytes, extra_prefixes: tuple[str, ...] = ()) -> Any:
    """Unpickle what a child process sent: plain values and classes (never functions) of ``parsers.*`` and of
    the modules named in ``extra_prefixes`` only, so a child subverted by a hostile file cannot make the
    parent run code."""
    return _ResultUnpickler(io.BytesIO(raw), extra_prefixes).load()


@dataclass
class SandboxStats:
    analyzed: int = 0
    workers_started: int = 0
    timeouts: int = 0
    memory_kills: int = 0
    crashes: int = 0
    conversions: int = 0
    scans: int = 0  # attachments read by the OCR worker
    lost_workers: int = 0  # reused workers found dead when given an attachment (it was read again by a new one)
    retired: int = 0  # workers replaced after their page cap or memory bound (``Limits.pages_per_worker`` ...)
    ocr_failures_in_row: int = 0  # scans the OCR worker did not finish (crash, memory, time), since its last success


class _Worker:
    def __init__(self, ctx, limits: Limits, task: Task, can_convert: bool):
        self.conn, child_conn = ctx.Pipe(duplex=True)
        forkserver_context()  # the worker is forked from a server started without the service's secrets
        self.process = ctx.Process(
            target=_worker_main, args=(child_conn, limits, task, can_convert, logging.getLogger().getEffectiveLevel()),
            name="zxjyck-attachment", daemon=True
        )
        self.process.start()
        child_conn.close()
        self.tasks = 0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send_bytes(pickle.dumps(None))
        except OSError:
            pass
        self.process.join(2)
        self.kill()


class Sandbox:
    """Analyse attachments in a limited, reusable child process (``with Sandbox() as sb: sb.analyze(...)``)."""

    def __init__(self, limits: Limits | None = None, task: Task = analyze_attachment,
                 convert: bool | None = None, ocr: bool = True):
        """``task`` is the function the worker runs (tests pass others); it must be importable by name.
        ``convert``: allow LibreOffice conversion (default: when soffice is on PATH).
        ``ocr``: read scans and photos in an OCR worker (``parsers.ocr``)."""
        self.limits = limits or Limits()
        self.ocr = ocr and task is analyze_attachment
        self._ocr_sandbox: Sandbox | None = None
        self._ocr_used_at = 0.0  # time.monotonic() of the OCR worker's last scan
        self.task = task
        self.can_convert = soffice_path() is not None if convert is None else convert
        self.stats = SandboxStats()
        # numpy (imported by openpyxl) starts one OpenBLAS thread per core in the forkserver, each with about
        # 40 MB of private address space that every worker inherits: on a 16-core machine that alone would exceed
        # the workers' RLIMIT_AS. Set before the first worker starts the forkserver (which inherits this
        # environment); nothing in a worker multiplies matrices.
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        self._ctx = multiprocessing.get_context("forkserver")  # started by zxjyck.childenv: no secrets
        self._ctx.set_forkserver_preload(["parsers.sandbox"])
        self._worker: _Worker | None = None
        self._died_without_reply = False
        self.last_usage: dict[str, int] = {}  # the worker's report after the last attachment: pid, pages, rss_mb, cpu_ms

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._ocr_sandbox is not None:
            self._ocr_sandbox.close()
            self._ocr_sandbox = None

    def analyze(self, data: bytes, filename: str, mail_date: dt.date) -> AttachmentAnalysis:
        """Never raises for bad input; a killed or failed worker becomes a problem on the result."""
        if len(data) > self.limits.max_attachment_bytes:
            return self._problem(data, filename, LimitExceededError(
                filename, "attachment_size",
                f"{human_size(len(data))}，上限 {human_size(self.limits.max_attachment_bytes)}").problem, limited=True)
        self.stats.analyzed += 1
        counts = (self.stats.crashes, self.stats.memory_kills)
        result, reused, died = self._run_in_worker(data, filename, mail_date)
        if reused and died:
            # a reused worker that died without a word may have died before it took this file (killed while
            # idle: the OOM killer, an operator): the file gets one more try on a fresh worker, and the
            # failure is not counted against it
            log.warning("attachment %r: the reused worker was gone, read again by a fresh one", filename)
            self.stats.crashes, self.stats.memory_kills = counts
            self.stats.lost_workers += 1
            result, _reused, _died = self._run_in_worker(data, filename, mail_date)
        if self.ocr and needs_ocr(result):
            result = self._read_scan(data, filename, mail_date, result)
        return result

    def _run_in_worker(self, data: bytes, filename: str, mail_date: dt.date
                       ) -> tuple[AttachmentAnalysis, bool, bool]:
        """The worker's result; whether the worker had read attachments before; whether it died without replying."""
        worker = self._ensure_worker()
        reused = worker.tasks > 0
        try:
            worker.conn.send_bytes(pickle.dumps((data, filename, mail_date)))
        except OSError:
            self._discard_worker()
            worker = self._ensure_worker()
            reused = False
            worker.conn.send_bytes(pickle.dumps((data, filename, mail_date)))
        self._died_without_reply = False
        result = self._await_result(worker, data, filename)
        return result, reused, self._died_without_reply

    def _read_scan(self, data: bytes, filename: str, mail_date: dt.date,
                   plain: AttachmentAnalysis) -> AttachmentAnalysis:
        """The OCR worker's reading of a scan or photo (``plain`` is what the ordinary reader made of it)."""
        if self._ocr_sandbox is None:
            # the OCR worker is kept for the next scans, up to a page cap and a memory bound (see Limits)
            limits = replace(self.limits, address_space_mb=self.limits.ocr_address_space_mb,
                             cpu_seconds=self.limits.ocr_cpu_seconds, wall_timeout_s=self.limits.ocr_wall_timeout_s,
                             pages_per_worker=self.limits.ocr_pages_per_worker,
                             max_worker_rss_mb=self.limits.ocr_worker_max_rss_mb)
            self._ocr_sandbox = Sandbox(limits, task=ocr_task, convert=False, ocr=False)
        stats = self._ocr_sandbox.stats
        before = (stats.timeouts, stats.memory_kills, stats.crashes)
        started = time.monotonic()
        scan = self._ocr_sandbox.analyze(data, filename, mail_date)
        self._ocr_used_at = time.monotonic()
        seconds = time.monotonic() - started
        self.stats.scans += 1
        failed = ((stats.timeouts > before[0] and f"超过 {self._ocr_sandbox.limits.ocr_wall_timeout_s:.0f} 秒仍未完成")
                  or (stats.memory_kills > before[1] and f"超出内存限制 {self._ocr_sandbox.limits.address_space_mb} MB")
                  or (stats.crashes > before[2] and "识别进程异常终止"))
        # failures one after another (a success resets the count): what the daemon's OCR alert watches
        self.stats.ocr_failures_in_row = self.stats.ocr_failures_in_row + 1 if failed else 0
        if failed:
            plain.ocr_seconds = seconds
            return self._ocr_failed(plain, failed)
        scan.ocr_seconds = seconds
        if scan.material is None:
            scan.material = plain.material
        if not scan.text_excerpt:
            scan.text_excerpt = plain.text_excerpt
        return scan

    def release_idle_ocr(self, idle_seconds: float) -> bool:
        """Stop the OCR worker (about 0.5 GB resident with its models) when it has read nothing for
        ``idle_seconds``; the next scan starts a new one. True when one was stopped. Not to be called while
        this sandbox is reading (the pool calls it only for sandboxes it has not lent out)."""
        if self._ocr_sandbox is None or time.monotonic() - self._ocr_used_at < idle_seconds:
            return False
        self._ocr_sandbox.close()
        self._ocr_sandbox = None
        return True

    @staticmethod
    def _ocr_failed(plain: AttachmentAnalysis, why: str) -> AttachmentAnalysis:
        """OCR did not finish (the worker timed out, ran out of memory or crashed): our limit, not the
        sender's fault. The file stays what the ordinary reader saw, marked as a scan nobody has read, and
        the reason goes to staff (``limited`` holds the message); nothing asks the sender to resend."""
        note = (f"附件“{plain.filename}”为扫描件或照片，自动识别（OCR）未能完成（{why}），"
                "待工作人员查看原件，不要求发件人重发 / OCR did not finish: staff to read the scan")
        plain.scanned = True
        plain.stamped = None
        plain.problems = []
        plain.limited = [*plain.limited, note]
        return plain

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (None between workers), for measurements."""
        return self._worker.process.pid if self._worker is not None else None

    # -- internals
    def _ensure_worker(self) -> _Worker:
        if self._worker is not None and (
            not self._worker.process.is_alive() or self._worker.tasks >= self.limits.tasks_per_worker
        ):
            self._discard_worker(graceful=self._worker.process.is_alive())
        if self._worker is None:
            self._worker = _Worker(self._ctx, self.limits, self.task, self.can_convert)
            self.stats.workers_started += 1
        return self._worker

    def _discard_worker(self, graceful: bool = False) -> None:
        if self._worker is not None:
            self._worker.stop() if graceful else self._worker.kill()
            self._worker = None

    def _await_result(self, worker: _Worker, data: bytes, filename: str) -> AttachmentAnalysis:
        deadline = time.monotonic() + self.limits.wall_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not worker.conn.poll(remaining):
                if time.monotonic() < deadline:
                    continue
                log.warning("attachment %r: worker over the %.0fs wall timeout, killed", filename,
                            self.limits.wall_timeout_s)
                self.stats.timeouts += 1
                self._discard_worker()
                return self._problem(data, filename, timeout_problem(filename, self.limits.wall_timeout_s),
                                     limited=True)
            try:
                reply = _load_reply(worker.conn.recv_bytes(MAX_RESULT_BYTES))
            except EOFError as exc:
                self._died_without_reply = True
                return self._worker_died(data, filename, exc)
            except OSError as exc:  # over MAX_RESULT_BYTES, or the pipe broke
                self._died_without_reply = isinstance(exc, ConnectionError)
                log.error("attachment %r: unreadable reply from the worker: %s", filename, exc)
                self.stats.crashes += 1
                self._discard_worker()
                return self._problem(data, filename, internal_error_problem(filename, exc))
            except (pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError) as exc:
                log.error("attachment %r: worker sent an unacceptable reply: %s", filename, exc)
                self._discard_worker()
                return self._problem(data, filename, internal_error_problem(filename, exc))
            if reply[0] == "convert":
                self._convert_for_worker(worker, reply)
                deadline = time.monotonic() + self.limits.wall_timeout_s  # conversion time is not the reader's
                continue
            _kind, status, result, exiting, usage = reply
            self.last_usage = usage
            if exiting:
                if status == "ok" and _worn_out(usage, self.limits):
                    log.info("worker %s retired after %d pages, %d MB resident", worker.process.pid,
                             usage["pages"], usage["rss_mb"])
                    self.stats.retired += 1
                self._discard_worker(graceful=True)
            return self._finish(data, filename, status, result)

    def _finish(self, data: bytes, filename: str, status: str, result) -> AttachmentAnalysis:
        if self._worker is not None:
            self._worker.tasks += 1
        if status == "ok" and isinstance(result, AttachmentAnalysis):
            if _hit_memory_limit(result, self.limits):
                self.stats.memory_kills += 1
            return result
        self._discard_worker()
        if status == "cpu":
            self.stats.timeouts += 1
            return self._problem(data, filename, timeout_problem(filename, self.limits.cpu_seconds), limited=True)
        if status == "memory":
            self.stats.memory_kills += 1
            return self._problem(data, filename, memory_problem(filename, self.limits.address_space_mb), limited=True)
        self.stats.crashes += 1
        return self._problem(data, filename, f"附件“{filename}”无法解析（内部错误：{result}）")

    def _worker_died(self, data: bytes, filename: str, exc: BaseException) -> AttachmentAnalysis:
        worker = self._worker
        assert worker is not None
        worker.process.join(2)
        code = worker.process.exitcode
        self._discard_worker()
        log.warning("attachment %r: worker died (exit code %s, %s)", filename, code, type(exc).__name__)
        if code == -signal.SIGXCPU:
            self.stats.timeouts += 1
            return self._problem(data, filename, timeout_problem(filename, self.limits.cpu_seconds), limited=True)
        if code == -signal.SIGKILL:  # nobody here sends SIGKILL but the kernel's OOM killer
            self.stats.memory_kills += 1
            return self._problem(data, filename, memory_problem(filename, self.limits.address_space_mb), limited=True)
        self.stats.crashes += 1
        how = f"信号 {signal.Signals(-code).name}" if code and code < 0 else f"退出码 {code}"
        return self._problem(data, filename, f"附件“{filename}”无法解析（解析进程异常终止：{how}），请检查文件是否损坏后重新发送")

    def _convert_for_worker(self, worker: _Worker, request: tuple) -> None:
        _kind, payload, name, fmt, target = request
        self.stats.conversions += 1
        try:
            converted = convert_with_soffice(payload, name, fmt, target, timeout=self.limits.conversion_timeout_s,
                                             max_output_bytes=self.limits.max_attachment_bytes,
                                             address_space_mb=self.limits.conversion_address_space_mb)
            reply: tuple = ("converted", converted)
        except FormatError as exc:  # exceptions do not pickle with their own __init__: send the words
            reply = ("failed", exc.problem, str(exc))
        except OSError as exc:  # soffice could not be started, temp dir full ...
            log.warning("conversion of %r failed: %s", name, exc)
            error = UnsupportedFormatError(name, fmt)
            reply = ("failed", error.problem, str(error))
        worker.conn.send_bytes(pickle.dumps(reply))

    @staticmethod
    def _problem(data: bytes, filename: str, problem: str, limited: bool = False) -> AttachmentAnalysis:
        """A result made in the parent, from the name and the magic bytes only (``limited``: a size, time
        or memory limit left the file unread, which staff must hear of)."""
        fmt = _sniff_format(data, filename)
        analysis = AttachmentAnalysis(filename=filename, format=fmt, problems=[problem],
                                      limited=[problem] if limited else [])
        try:
            from parsers.materials import classify_material

            analysis.material = classify_material(filename, None)
        except Exception:  # noqa: BLE001 - classification by name is best effort here
            log.exception("classify_material failed on %r", filename)
        return analysis
