"""CLI start held by the import graph, not by a clock: what a command loads is what it costs.

Each case runs a fresh interpreter (the modules of this test session say nothing) and lists
``sys.modules`` after the command. `bench/bench_cli.py` measures the wall times next to their floor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config

# Loaded by no command that does not use them: parsers, pdf, xlsx, OCR, the scheduler, the web framework...
HEAVY = ("openpyxl", "pdfplumber", "pdfminer", "pypdfium2", "reportlab", "xlrd", "docx", "lxml", "msoffcrypto",
         "rapidocr_onnxruntime", "onnxruntime", "cv2", "numpy", "PIL", "mailparser", "imapclient",
         "apscheduler", "starlette", "uvicorn", "multipart", "jinja2", "argon2")
# ...and what the start of every command (the parser, --help) needs none of.
ORM = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "rich")


def modules_after(code: str, cwd: Path | None = None) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in packages)


def test_importing_the_cli_loads_argparse_level_things_only() -> None:
    modules = modules_after("import ingest.cli.main")
    assert loaded(modules, HEAVY + ORM) == []
    project = sorted(m for m in modules if m.split(".")[0] in ("ingest", "store", "notify", "parsers", "web"))
    assert set(project) <= {"ingest", "ingest.cli", "ingest.cli.lifecycle", "ingest.cli.main", "ingest.errors", "store", "store.errors",
                            "store.states", "notify", "notify.errors", "parsers", "parsers.errors"}, project


def test_help_builds_the_whole_parser_without_the_orm() -> None:
    code = ("import contextlib, io\nfrom ingest.cli.main import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['messages', '--help'])\n")
    assert loaded(modules_after(code), HEAVY + ORM) == []


def test_status_loads_the_store_and_nothing_of_parsing_sending_scheduling_or_the_web(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    run = f"from ingest.cli.main import main\nassert main(['--config', {str(cfg)!r}, '%s']) == 0\n"
    first = modules_after(run % "init")  # a new database: created by Alembic
    assert "alembic" in first
    modules = modules_after(run % "status")  # at the newest schema: one query, Alembic is not even imported
    assert loaded(modules, HEAVY + ("alembic",)) == []
    assert {"sqlalchemy", "sqlmodel", "store.models"} <= modules  # it did read the store
    for light in ("ingest.pipeline", "ingest.workflows", "ingest.sources", "notify", "parsers"):
        heavy_here = [m for m in modules if m.startswith(light + ".")
                      and m not in ("ingest.pipeline.charsets", "notify.errors", "parsers.errors")]
        assert heavy_here == [], heavy_here
    assert not {"ingest.runtime.poll", "ingest.runtime.daemon", "ingest.outputs.workbooks"} & modules
