"""How long a CLI command takes to start, next to the floor of a bare interpreter.

    python bench/bench_cli.py [--runs 15]

Targets: `zxjyck --help` under 0.3 s and `zxjyck status` under 0.5 s wall. Each command runs
``--runs`` times as a fresh process, hyperfine-like (one warm-up run first, not counted); the table shows
the best and the median wall time and the CPU time (user + system) of the best run, with the ratio to
two floors measured in the same run: `python -c pass` (the interpreter itself) and
`python -c "import sqlalchemy"` (the least any command that reads the store must load).
`status` runs on a SQLite store already at the newest schema (made first by `zxjyck init`).
The console script is the one installed next to this interpreter; without it, `python -m ingest.cli`.
The import graph itself is asserted by tests/test_cli_imports.py. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, print_machine, print_table, ratio, sqlite_url, write_config  # noqa: E402

TARGETS = {"zxjyck --help": 0.3, "zxjyck status": 0.5}


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "zxjyck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ingest.cli"]


def timed(cmd: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(best wall, median wall, CPU of the best run) over ``runs`` fresh processes, after one warm-up."""
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=True)
    walls: list[tuple[float, float]] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append((wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
    best = min(walls)
    return best[0], statistics.median(w for w, _ in walls), best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    zxjyck = console_script()
    folder = Path(tempfile.mkdtemp(prefix="zxjyck-bench-cli-"))
    try:
        config = write_config(folder, sqlite_url(folder))
        subprocess.run([*zxjyck, "--config", str(config), "init"], env=env, cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)  # makes the new store: not timed
        cases = [("floor: python -c pass", [sys.executable, "-c", "pass"]),
                 ("floor: python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"]),
                 ("zxjyck --help", [*zxjyck, "--help"]),
                 ("zxjyck status", [*zxjyck, "--config", str(config), "status"])]
        figures = {name: timed(cmd, args.runs, env, folder) for name, cmd in cases}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_machine()
    bare = figures["floor: python -c pass"][0]
    orm = figures["floor: python -c 'import sqlalchemy'"][0]
    rows = []
    for name, (best, median, cpu) in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"{'met' if best < target else 'NOT met'} (< {target} s)"
        rows.append((name, best, median, cpu, ratio(best, bare), ratio(best, orm), verdict))
    print_table(["command", "best s", "median s", "CPU s", "x python", "x sqlalchemy", "target"], rows,
                title=f"CLI start: {args.runs} runs each; zxjyck = {' '.join(zxjyck)}")


if __name__ == "__main__":
    main()
