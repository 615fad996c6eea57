"""Shared by the console tests: a store filled with the sample mail, accounts, a signed-in client."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from ingest.app import App
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from notify.transport import MemoryTransport
from tests.conftest import FIXTURES

ADMIN, STAFF = ("boss", "correct horse battery"), ("clerk", "staple battery horse")
WEEK = "2020-02-17"
NOW = datetime(2020, 2, 25, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Guangdong: the week of 2020-02-17 is current


def filled_app(app: App, tmp_path: Path, extra: dict[str, bytes] | None = None) -> App:
    """The sample mail (01-08) ingested, plus ``extra`` messages; an admin and a staff account."""
    from ingest.workflows import staff as staff_actions

    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    folder = tmp_path / "mail-in"
    folder.mkdir()
    for eml in sorted((FIXTURES / "mail").glob("*.eml")):
        shutil.copy(eml, folder / eml.name)
    for name, data in (extra or {}).items():
        (folder / name).write_bytes(data)
    ingest_paths(app, [folder])
    staff_actions.add_user(app, "test", ADMIN[0], "admin", ADMIN[1])
    staff_actions.add_user(app, "test", STAFF[0], "staff", STAFF[1])
    return app


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, user: tuple[str, str]):
    page = client.get("/login")
    response = client.post("/login", data={"username": user[0], "password": user[1], "csrf_token": csrf_of(page.text),
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def message_id_from(app: App, sender: str) -> int:
    from sqlmodel import select

    from store.db import session_scope
    from store.models import Message

    with session_scope(app.engine) as session:
        return session.exec(select(Message.id).where(Message.from_addr == sender)).first()
