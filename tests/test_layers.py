"""The unit/integration split (tests/conftest.py) keeps servers and processes off the fast side."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import UNIT_GUARD, integration_reasons, pytest_collection_modifyitems


def zxjyck(*args: str) -> None:
    """Stands for the console-script helpers of test_cli.py and test_hostile.py."""


def _uses_the_console_script() -> None:
    zxjyck("status")


def _in_process() -> None:
    sorted([3, 1, 2])


class FakeItem:
    def __init__(self, module: str, name: str, fixturenames=(), params=None, function=_in_process, unit=False):
        self.path = Path("tests") / module
        self.name = self.nodeid = name
        self.fixturenames = list(fixturenames)
        self.function = function
        if params is not None:
            self.callspec = SimpleNamespace(params=params)
        self.markers = [pytest.mark.unit.mark] if unit else []

    def get_closest_marker(self, name: str):
        return next((m for m in self.markers if m.name == name), None)

    def add_marker(self, marker) -> None:
        self.markers.append(marker.mark)


def test_this_test_is_unit_and_the_guard_watches_it(request) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None
    assert UNIT_GUARD.watching


def test_a_process_started_by_a_unit_test_is_recorded() -> None:
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], os.environ)
    assert os.waitpid(pid, 0)[1] == 0
    breaches = UNIT_GUARD.take()  # taken here, so this test passes; any other unit test would fail
    assert breaches == [f"os.posix_spawn {(sys.executable,)}"]


def _connect_on_loopback() -> tuple[str, int]:
    """In a helper: the classification reads only the test's own code, the guard sees everything it runs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = server.getsockname()
        with socket.create_connection(address):
            return address


def test_a_connection_opened_by_a_unit_test_is_recorded() -> None:
    address = _connect_on_loopback()
    assert UNIT_GUARD.take() == [f"socket.connect {address}"]


def test_a_server_fixture_makes_a_test_integration() -> None:
    [reason] = integration_reasons(FakeItem("test_x.py", "test_y", fixturenames=["tmp_path", "imap_account"]))
    assert reason.startswith("imap_account:")


def test_postgres_is_integration_and_sqlite_is_not() -> None:
    assert integration_reasons(FakeItem("test_x.py", "test_y[postgres]", params={"store_url": "postgres"})) == [
        "store_url[postgres]: PostgreSQL"]
    assert integration_reasons(FakeItem("test_x.py", "test_y[sqlite]", params={"store_url": "sqlite"})) == []


def test_a_helper_that_starts_a_process_makes_a_test_integration() -> None:
    assert integration_reasons(FakeItem("test_x.py", "test_y", function=_uses_the_console_script)) == [
        "zxjyck: runs the zxjyck console script"]
    assert integration_reasons(FakeItem("test_x.py", "test_y")) == []


def test_listed_parameters_are_integration_and_their_siblings_unit() -> None:
    converted = FakeItem("test_writers.py", "test_every_writer_gives_the_same_form[weekly-libreoffice.ods]")
    native = FakeItem("test_writers.py", "test_every_writer_gives_the_same_form[weekly-libreoffice_xls_as.et]")
    assert [r.split(": ")[1] for r in integration_reasons(converted)] == ["LibreOffice converts OpenDocument"]
    assert integration_reasons(native) == []


def test_collection_marks_every_test_and_refuses_a_unit_mark_on_a_server_test() -> None:
    config = SimpleNamespace(args_source=None)
    plain, server = FakeItem("test_x.py", "test_a"), FakeItem("test_x.py", "test_b", fixturenames=["dovecot"])
    pytest_collection_modifyitems(config, [plain, server])
    assert [m.name for m in plain.markers] == ["unit"]
    assert [m.name for m in server.markers] == ["integration"]
    with pytest.raises(pytest.UsageError, match="marked unit but is an integration test: dovecot"):
        pytest_collection_modifyitems(config, [FakeItem("test_x.py", "test_c", fixturenames=["dovecot"], unit=True)])
