"""The JSON export of CONTRACT.md: the whole state as one document.

Times are ISO 8601 with the Asia/Shanghai offset; lists in the order
received. Nothing secret is ever part of it (no URLs, no passwords, no bodies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.db import session_scope
from store.models import Attachment, Message

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Sections added by later features register a builder here: name -> f(session) -> list.
SECTIONS: dict[str, Callable[[Session], list[dict[str, Any]]]] = {}


def iso(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat() if value else None


def message_dict(msg: Message, attachments: list[Attachment]) -> dict[str, Any]:
    return {
        "id": msg.id,
        "message_id": msg.message_id,
        "from": msg.from_addr,
        "subject": msg.subject,
        "received_at": iso(msg.received_at),
        "kind": msg.kind,
        "status": msg.status,
        "problems": list(msg.problems),
        "attachments": [{"filename": a.filename, "size": a.size, "sha256": a.sha256} for a in attachments],
        "same_message_id_as": msg.same_message_id_as,
        "city": msg.city,
        "reasons": list(msg.reasons),
        "confidence": msg.confidence,
    }


def export_messages(session: Session) -> list[dict[str, Any]]:
    by_message: dict[int, list[Attachment]] = defaultdict(list)
    for att in session.exec(select(Attachment).order_by(Attachment.message_pk, Attachment.position)):
        by_message[att.message_pk].append(att)
    rows = session.exec(select(Message).order_by(Message.received_at, Message.id))
    return [message_dict(m, by_message.get(m.id, [])) for m in rows]


def export_state(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        doc: dict[str, Any] = {"messages": export_messages(session)}
        for name in ("weekly_reports", "applications", "outbox"):
            builder = SECTIONS.get(name)
            doc[name] = builder(session) if builder else []
        return doc
