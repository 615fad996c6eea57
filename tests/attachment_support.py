"""Helpers for the attachment tests: the fixture builder module and tasks the sandbox tests run in a worker.

The task functions must live in an importable module (the sandbox worker imports them by name).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import signal
import time
from pathlib import Path

from parsers.analysis import AttachmentAnalysis

ROOT = Path(__file__).resolve().parent.parent
ATTACHMENTS = ROOT / "fixtures" / "attachments"
MAIL_DATE = dt.date(2020, 2, 24)


def load_builder():
    """fixtures/build_attachments.py as a module (fixtures/ is a folder of files, not a package)."""
    spec = importlib.util.spec_from_file_location("build_attachments", ROOT / "fixtures" / "build_attachments.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def fixture_bytes(name: str) -> bytes:
    return (ATTACHMENTS / name).read_bytes()


# ---------------------------------------------------------------- tasks run inside the sandbox worker
def task_echo(data: bytes, filename: str, mail_date, limits, converter) -> AttachmentAnalysis:
    """Reports the worker's pid and what it was given (to see reuse and argument passing)."""
    return AttachmentAnalysis(filename=filename, format="text", problems=[f"pid={os.getpid()}", f"len={len(data)}",
                                                                          f"date={mail_date.isoformat()}"])


def task_sleep(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    time.sleep(600)
    raise AssertionError("not reached")


def task_burn_cpu(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    x = 0
    while True:
        x += 1


def task_hog_memory(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def task_abort(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("not reached")


def task_write_file(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    """Tries to write a file in the worker; RLIMIT_FSIZE=0 must make that fail."""
    target = Path(data.decode())
    try:
        with open(target, "wb") as fh:
            fh.write(b"x" * 10)
        outcome = "written"
    except OSError as exc:
        outcome = f"errno={exc.errno}"
    return AttachmentAnalysis(filename=filename, format="text", problems=[outcome])


def task_forbidden_result(data, filename, mail_date, limits, converter):
    """Returns something the parent must refuse to unpickle."""
    return os.system


def task_raise(data, filename, mail_date, limits, converter):
    raise RuntimeError("boom")


def task_huge_result(data, filename, mail_date, limits, converter) -> AttachmentAnalysis:
    """A result over the parent's size cap for replies."""
    return AttachmentAnalysis(filename=filename, format="text", text_excerpt="字" * (30 * 1024 * 1024))
