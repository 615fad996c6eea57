"""What each kind of message leads to: weekly reports, applications, bounce links.

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from ingest.workflows.applications import application_workflow
from ingest.workflows.bounces import bounce_workflow
from ingest.workflows.weekly import weekly_workflow
from store.models import (
    PROCESSED,
    Message,
)

log = logging.getLogger(__name__)


def apply_workflow(app, session: Session, row: Message, ctx) -> str:
    """Dispatch on the message kind; returns the message status."""
    handler = _HANDLERS.get(ctx.classification.kind)
    return handler(app, session, row, ctx) if handler else PROCESSED


_HANDLERS = {"weekly_report": weekly_workflow, "application": application_workflow, "bounce": bounce_workflow}
