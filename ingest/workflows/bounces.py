"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from notify.outbox import mark_bounced
from parsers.bounce import parse_bounce
from store.models import (
    PROCESSED,
    Message,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- bounces


def bounce_workflow(app, session: Session, row: Message, ctx) -> str:
    if ctx.decoded.message is None:
        return PROCESSED
    report = parse_bounce(ctx.decoded.message)
    marked = mark_bounced(session, report.message_ids, row, report)
    if marked:
        ctx.classification.reasons.append(f"退信对应本系统发出的 {len(marked)} 封通知")
    return PROCESSED
