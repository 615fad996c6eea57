"""The systemd units of deploy/: `systemd-analyze verify` (Debian's systemd) finds nothing to say about
them, they carry the hardening docs/operations.md promises, and a configuration error stops the restart
loop (exit 78, RestartPreventExitStatus=78)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config

DEPLOY = REPO / "deploy"
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target")
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in UNIT_SUFFIXES)
SERVICES = [p for p in UNITS if p.suffix == ".service"]
PREFIX = "/srv/zxjyck"  # where the units expect the checkout, its .venv and config.toml
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
# the long-running services: hardened, memory-capped, not restarted on a configuration error
LONG_RUNNING = ("zxjyck.service", "zxjyck-web.service")


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()].append(value.strip())
    return found


def test_the_units_are_there() -> None:
    assert {p.name for p in SERVICES} >= set(LONG_RUNNING)


@pytest.mark.skipif(not Path(ANALYZE).exists(), reason="Debian's systemd is not installed (scripts/install.sh --dev)")
def test_systemd_analyze_verify_says_nothing_about_them(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: the units are verified as installed under a prefix
    # that has one (this checkout's zxjyck), every other line exactly as shipped
    prefix = tmp_path / "srv"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    (prefix / "var").mkdir()
    real = shutil.which("zxjyck") or sys.executable
    (prefix / ".venv" / "bin" / "zxjyck").symlink_to(real)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        (units / unit.name).write_text(unit.read_text(encoding="utf-8").replace(PREFIX, str(prefix)),
                                       encoding="utf-8")
    run = subprocess.run([ANALYZE, "verify", "--man=no", *(str(units / u.name) for u in UNITS)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    said = [line for line in (run.stdout + run.stderr).splitlines()
            if any(u.name in line or u.stem in line for u in UNITS) or str(tmp_path) in line]
    assert said == [], "\n".join(said)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_the_services_are_hardened(name: str) -> None:
    found = directives(DEPLOY / name)
    single = {key: values[-1] for key, values in found.items()}
    assert single["UMask"] == "0027"
    assert single["CapabilityBoundingSet"] == "" and single["NoNewPrivileges"] == "yes"
    assert single["ProtectSystem"] == "strict" and single["ReadWritePaths"] == f"{PREFIX}/var"
    assert single["ProtectHome"] == "yes" and single["PrivateDevices"] == "yes" and single["PrivateTmp"] == "yes"
    assert set(single["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "@system-service" in found["SystemCallFilter"]
    assert single["RestartPreventExitStatus"] == "78" and single["Restart"] == "on-failure"
    assert any(c.startswith("store_url:") for c in found["LoadCredential"])
    assert "EnvironmentFile" not in found  # secrets come as credentials, not in the environment
    memory_max_mb = int(single["MemoryMax"].removesuffix("M").removesuffix("G")) * (
        1024 if single["MemoryMax"].endswith("G") else 1)
    if name == "zxjyck.service":
        # the daemon (~150 MB) + a 512 MB parse worker + the OCR worker (~1 GB resident) must fit
        assert memory_max_mb >= 150 + 512 + 1024
        assert {c.split(":")[0] for c in found["LoadCredential"]} == {"imap_password", "smtp_password", "store_url"}
    else:
        assert 256 <= memory_max_mb <= 2048
    assert single["ExecStart"].startswith(f"{PREFIX}/.venv/bin/zxjyck --config {PREFIX}/config.toml ")


def test_a_configuration_error_exits_78_at_the_daemon_start(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sqlite:///var/zxjyck.db", extra='[web]\ntrusted_proxies = ["not-an-address"]\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "ingest.cli", "--config", str(cfg), "run"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 78, run.stderr
    assert "web.trusted_proxies" in run.stderr and "not-an-address" in run.stderr
    assert not (tmp_path / "var").exists()  # nothing was created before the configuration was read
