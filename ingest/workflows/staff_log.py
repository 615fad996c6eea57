"""The library functions behind the CLI commands and the scheduler jobs."""

from __future__ import annotations

import logging
import os
import socket

from sqlmodel import select

from ingest.app import App
from ingest.errors import IngestError, UnknownMessage
from ingest.pipeline.run import process_one
from ingest.workflows.dispatch import run_workflows
from store.db import session_scope
from store.models import MESSAGE_STATUSES, AuditEntry, Message

log = logging.getLogger(__name__)


def audit(app: App, actor: str, action: str, detail: str = "", message_pk: int | None = None) -> None:
    """Write one administrative action to the audit table (who, when, what)."""
    with session_scope(app.engine) as session:
        session.add(AuditEntry(at=app.now(), actor=actor[:255], action=action[:64], message_pk=message_pk,
                               detail=detail[:2000]))


def actor_name() -> str:
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def replay(app: App, ids: list[int] | None = None, status: str | None = None,
           actor: str | None = None) -> dict[int, str]:
    """Process stored messages again from their archived raw bytes; each replay is audited."""
    with session_scope(app.engine) as session:
        if ids:
            found = set(session.exec(select(Message.id).where(Message.id.in_(ids))).all())
            missing = [i for i in ids if i not in found]
            if missing:
                raise UnknownMessage(f"no message with id {', '.join(map(str, missing))} / 找不到该编号的邮件")
            targets = list(ids)
        else:
            if status not in MESSAGE_STATUSES:
                raise IngestError(f"unknown status {status!r}; one of {', '.join(MESSAGE_STATUSES)} / "
                                  f"未知状态“{status}”，可选：{'、'.join(MESSAGE_STATUSES)}")
            targets = list(session.exec(select(Message.id).where(Message.status == status).order_by(Message.id)))
    actor = actor or actor_name()
    results: dict[int, str] = {}
    for pk in targets:
        with session_scope(app.engine) as session:
            before = session.get(Message, pk).status
        results[pk] = process_one(app, pk, workflows=run_workflows)
        audit(app, actor, "replay", f"{before} -> {results[pk]}", pk)
    return results
