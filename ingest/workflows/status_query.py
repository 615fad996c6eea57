"""Status by mail: a sender asking where their applications stand gets one automatic answer.

``read_state`` reads, as plain values, the applications that mail from the sender's own address
made or continued (never those of other addresses: the answer may only tell a sender what it
sent); ``decide`` (pure) words each one's state (received and being checked, items still
missing, complete, in batch X, the panel's result once the batch's list is published) and
returns the notice with its dedupe key; ``record`` queues it through ``notify.outbox.reply``,
so the loop and rate rules of every other answer apply. An address with no application gets
the answer that nothing was found from it, and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from ingest.outbound import outbox_settings
from ingest.workflows.application_checks import items_to_ask
from ingest.workflows.decisions import MessageFacts, Reply, facts_of
from ingest.workflows.verdicts import published_verdicts
from notify.compose import StatusLine, StatusReplyContext
from notify.outbox import reply
from store.models import (
    MATERIAL_KEYS,
    PROCESSED,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    Message,
)


@dataclass(frozen=True)
class ApplicationSnapshot:
    """One application of the sender, as far as its answer depends on it."""

    platform_name: str
    organization: str
    first_received_at: datetime
    complete: bool
    batch: str | None
    present: frozenset[str]
    form_problems: bool
    stamped: bool | None
    published_result: str | None = None
    published_on: date | None = None


def read_state(session: Session, address: str) -> list[ApplicationSnapshot]:
    """The applications mail from ``address`` made or continued, oldest first."""
    if not address:
        return []
    ids = session.exec(select(ApplicationMessage.application_id).join(
        Message, Message.id == ApplicationMessage.message_pk).where(
        func.lower(Message.from_addr) == address.lower()).distinct()).all()
    if not ids:
        return []
    found = []
    for a in session.exec(select(Application).where(Application.id.in_(ids))
                          .order_by(Application.first_received_at, Application.id)):
        present = frozenset(session.exec(select(ApplicationMaterial.category).where(
            ApplicationMaterial.application_id == a.id)).all())
        result, published_on = None, None
        if a.complete and a.batch:
            verdicts, day = published_verdicts(session, a.batch)
            if str(a.id) in verdicts:
                result, published_on = verdicts[str(a.id)], day
        found.append(ApplicationSnapshot(a.platform_name, a.organization, a.first_received_at, a.complete, a.batch,
                                         present, bool(a.form_problems), a.stamped, result, published_on))
    return found


def status_line(snapshot: ApplicationSnapshot, require_stamped_form: bool) -> StatusLine:
    """What the sender is told about one application: nothing for staff only (seal doubts, licence, OCR)."""
    missing = items_to_ask([k for k in MATERIAL_KEYS if k not in snapshot.present], require_stamped_form,
                           snapshot.stamped)
    if snapshot.complete:
        state = f"材料齐全，已列入{snapshot.batch}评审" if snapshot.batch else "材料齐全"
        if snapshot.published_result:
            state = "评审已完成，名单已公布"
        missing = []
    elif missing or snapshot.form_problems:
        state = "已收到，材料尚需补充或更正"
    else:
        state = "已收到，正在核对材料"
    return StatusLine(platform_name=snapshot.platform_name, organization=snapshot.organization,
                      first_received_at=snapshot.first_received_at, state=state, missing=missing,
                      needs_correction=snapshot.form_problems and not snapshot.complete,
                      batch=snapshot.batch if snapshot.complete else None, result=snapshot.published_result,
                      published_on=snapshot.published_on)


def decide(facts: MessageFacts, applications: list[ApplicationSnapshot], settings) -> Reply:
    """Pure: the one answer to this query (its dedupe key names the query message)."""
    lines = [status_line(s, settings.applications.require_stamped_form) for s in applications]
    context = StatusReplyContext(address=facts.from_addr, applications=lines)
    return Reply("status_reply", context, f"status_reply:{facts.sha256}")


def record(session: Session, decision: Reply, row: Message, headers, cfg, now: datetime) -> str:
    reply(session, cfg, about=row, headers=headers, kind=decision.kind, context=decision.fresh_context(),
          dedupe_key=decision.dedupe_key, now=now)
    return PROCESSED


def status_query_workflow(app, session: Session, row: Message, ctx) -> str:
    facts = facts_of(app, row, ctx)
    address = row.from_addr if facts.sender_trusted else ""
    decision = decide(facts, read_state(session, address), app.settings)
    return record(session, decision, row, ctx.decoded.headers, outbox_settings(app.settings), app.now())
