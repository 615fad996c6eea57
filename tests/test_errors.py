"""One exception root: every exception class the project defines is a ZxjyckError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from zxjyck.errors import ZxjyckError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("zxjyck", "parsers", "store", "notify", "ingest", "web")
CONTROL_FLOW = {
    "web.app.Redirect",  # an HTTP redirect raised by a handler: not an error
    "parsers.sandbox.CpuTimeExceeded",  # a BaseException the worker's SIGXCPU handler raises past libraries
}


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                names.append(info.name)
    return names


def exception_classes() -> list[type]:
    found = {}
    for name in project_modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.split(".")[0] in PACKAGES:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.items())


def test_the_walk_finds_every_package_family():
    names = {name for name, _ in exception_classes()}
    for family in ("parsers.errors.ParserError", "store.errors.StoreError", "notify.errors.NotifyError",
                   "ingest.errors.IngestError", "ingest.cli.main.UsageError"):
        assert family in names


@pytest.mark.parametrize(("name", "cls"), exception_classes(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_project_exception_is_a_zxjyck_error(name, cls):
    if name in CONTROL_FLOW:
        assert not issubclass(cls, ZxjyckError)
        return
    assert issubclass(cls, ZxjyckError), f"{name} does not derive from ZxjyckError"
    assert isinstance(cls.exit_code, int)
