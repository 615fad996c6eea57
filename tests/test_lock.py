"""The lock files in requirements/ cover pyproject.toml: every dependency pinned, hashed, in its range.

A dependency added to pyproject.toml without `bash scripts/lock.sh` fails here, before any install.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass
class Pin:
    version: Version
    marker: str | None
    hashes: list[str] = field(default_factory=list)


def read_lock(name: str) -> dict[str, list[Pin]]:
    """Package name -> its pins (one per Python-version marker) in requirements/NAME."""
    pins: dict[str, list[Pin]] = {}
    current: Pin | None = None
    for line in (REPO / "requirements" / name).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:"):
            assert current is not None, line
            current.hashes.append(stripped.removesuffix("\\").strip())
            continue
        match = PIN.match(stripped)
        assert match, f"{name}: not a pin: {line}"
        current = Pin(Version(match[2]), match[3])
        pins.setdefault(canonicalize_name(match[1]), []).append(current)
    return pins


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    build = (REPO / "requirements" / "build.in").read_text(encoding="utf-8").splitlines()
    names += [line for line in build if line.strip() and not line.startswith("#")]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock", "extras"), [("service.txt", ("postgres",)), ("dev.txt", ("postgres", "dev"))])
def test_every_dependency_is_pinned_with_hashes_in_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pins = read_lock(lock)
    for requirement in project_requirements(*extras):
        found = pins.get(canonicalize_name(requirement.name))
        assert found, f"{requirement.name} is not in requirements/{lock}: run bash scripts/lock.sh"
        for pin in found:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"requirements/{lock} pins {requirement.name}=={pin.version}, outside {requirement.specifier}: "
                "run bash scripts/lock.sh"
            )
    for name, found in pins.items():
        for pin in found:
            assert pin.hashes, f"requirements/{lock}: {name}=={pin.version} has no hash"


def test_tests_run_on_the_versions_a_server_gets() -> None:
    service, dev = read_lock("service.txt"), read_lock("dev.txt")
    for name, found in service.items():
        assert dev.get(name) == found, name


def test_only_the_headless_opencv_is_locked() -> None:
    for lock in ("service.txt", "dev.txt"):
        pins = read_lock(lock)
        assert "opencv-python" not in pins
        assert "opencv-python-headless" in pins
