"""Converting .doc/.et/.wps/.rtf/.odf with LibreOffice, when it is installed.

The conversion runs ``soffice --headless --convert-to`` in its own process
group, in a fresh temporary directory with a private user profile, under a
timeout; the process group is killed if it runs over. It needs to write files,
so inside the sandbox (where file writes are forbidden) the child asks its
parent to convert instead (see parsers.sandbox).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from parsers.formats.errors import ConversionError, UnsupportedFormatError

log = logging.getLogger(__name__)

# what each legacy format is converted to
CONVERSION_TARGET = {"doc": "docx", "wps": "docx", "rtf": "docx", "et": "xlsx", "xlsb": "xlsx", "odf": ""}
SOURCE_SUFFIX = {"doc": ".doc", "wps": ".doc", "rtf": ".rtf", "et": ".xls", "xlsb": ".xlsb"}

# (data, filename, fmt, target extension) -> converted bytes
Converter = Callable[[bytes, str, str, str], bytes]


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _prlimit_prefix(address_space_mb: int, cpu_seconds: float, max_file_bytes: int) -> list[str]:
    """util-linux prlimit puts LibreOffice under memory/CPU/file-size limits too (when it is installed)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return []
    return [prlimit, f"--as={address_space_mb * 1024 * 1024}", f"--cpu={max(1, int(cpu_seconds))}",
            f"--fsize={max_file_bytes}", "--"]


def convert_with_soffice(data: bytes, filename: str, fmt: str, target: str, timeout: float = 60.0,
                         max_output_bytes: int = 50 * 1024 * 1024, address_space_mb: int = 2048) -> bytes:
    """Bytes of ``data`` converted to ``target`` (xlsx/docx); ConversionError on failure or timeout."""
    soffice = soffice_path()
    if soffice is None:
        raise UnsupportedFormatError(filename, fmt)
    with tempfile.TemporaryDirectory(prefix="zxjyck-convert-") as tmp:
        work = Path(tmp)
        source = work / ("input" + (SOURCE_SUFFIX.get(fmt) or Path(filename).suffix.lower() or ".bin"))
        source.write_bytes(data)
        out_dir = work / "out"
        out_dir.mkdir()
        command = _prlimit_prefix(address_space_mb, timeout, 2 * max_output_bytes) + [
            soffice, f"-env:UserInstallation=file://{work / 'profile'}", "--headless", "--norestore",
            "--nolockcheck", "--convert-to", target, "--outdir", str(out_dir), str(source),
        ]
        _run(command, filename, fmt, timeout, cwd=tmp)
        produced = list(out_dir.glob(f"*.{target}"))
        if not produced:
            raise ConversionError(filename, fmt, "LibreOffice produced no output")
        if produced[0].stat().st_size > max_output_bytes:
            raise ConversionError(filename, fmt, "converted file too large")
        return produced[0].read_bytes()


def _run(command: list[str], filename: str, fmt: str, timeout: float, cwd: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cwd, "LANG": "C.UTF-8"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ConversionError(filename, fmt, f"LibreOffice timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        log.info("soffice failed on %r: rc=%s %s", filename, proc.returncode, err[-500:])
        raise ConversionError(filename, fmt, f"LibreOffice exit status {proc.returncode}")


def default_converter(timeout: float, max_output_bytes: int = 50 * 1024 * 1024,
                      address_space_mb: int = 2048) -> Converter | None:
    """The in-process converter: LibreOffice when on PATH, else None (legacy formats are then refused)."""
    if soffice_path() is None:
        return None

    def convert(data: bytes, filename: str, fmt: str, target: str) -> bytes:
        return convert_with_soffice(data, filename, fmt, target, timeout=timeout,
                                    max_output_bytes=max_output_bytes, address_space_mb=address_space_mb)

    return convert
