"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from store.models import PROCESSED, Message

log = logging.getLogger(__name__)


def apply_workflow(app, session: Session, row: Message, ctx) -> str:
    """Dispatch on the message kind; returns the message status."""
    kind = ctx.classification.kind
    handler = _HANDLERS.get(kind)
    if handler is None:
        return PROCESSED
    return handler(app, session, row, ctx)


_HANDLERS: dict = {}
