"""Bounces: a delivery report for one of our notices marks its outbox row.

``decide`` reads the report (pure), ``record`` marks the outbox rows it names,
in the message's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import Message as MimeMessage

from sqlmodel import Session

from notify.bounce import BounceReport, parse_bounce
from notify.outbox import mark_bounced
from store.models import (
    PROCESSED,
    Message,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- bounces


@dataclass(frozen=True)
class BounceDecision:
    """Which of our notices a delivery report is about (``report`` None: the message could not be read)."""

    report: BounceReport | None

    @property
    def message_ids(self) -> list[str]:
        return list(self.report.message_ids) if self.report is not None else []


def decide(message: MimeMessage | None) -> BounceDecision:
    """Pure: read the delivery report (RFC 3464, or a provider's own wording) for the Message-IDs it returns."""
    return BounceDecision(parse_bounce(message) if message is not None else None)


def record(session: Session, decision: BounceDecision, row: Message) -> list[str]:
    """Mark the outbox rows the report names as bounced; returns the reasons to add to the classification."""
    if decision.report is None:
        return []
    marked = mark_bounced(session, decision.message_ids, row, decision.report)
    return [f"退信对应本系统发出的 {len(marked)} 封通知"] if marked else []


def bounce_workflow(app, session: Session, row: Message, ctx) -> str:
    ctx.classification.reasons.extend(record(session, decide(ctx.decoded.message), row))
    return PROCESSED
