"""What each kind of message leads to: weekly reports, applications, bounce links.

:func:`run_workflows` is the step the pipeline runs once a message is classified. The
pipeline imports no workflow: its callers (runtime.poll, the staff actions, replay) pass
this function in, so ingest's layers stay one-way (pyproject.toml, [tool.importlinter]).

Everything here runs inside the message's processing transaction, so the
records and the outbox rows they cause commit together or not at all. Replay
runs it again: the message's earlier records are replaced, and the outbox's
dedupe keys keep any notice from going out twice.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, delete, select

from ingest.app import App
from ingest.pipeline.classify import flatten
from ingest.workflows import figures
from ingest.workflows.applications import application_workflow
from ingest.workflows.bounces import bounce_workflow
from ingest.workflows.status_query import status_query_workflow
from ingest.workflows.weekly import weekly_workflow
from store.models import (
    DECISION_NOT_A_REPORT,
    NEEDS_REVIEW,
    PROCESSED,
    Message,
    StaffDecision,
    WeeklyReport,
    WeeklyRow,
)

log = logging.getLogger(__name__)


def apply_workflow(app, session: Session, row: Message, ctx) -> str:
    """Dispatch on the message kind; returns the message status."""
    handler = _HANDLERS.get(ctx.classification.kind)
    return handler(app, session, row, ctx) if handler else PROCESSED


_HANDLERS = {"weekly_report": weekly_workflow, "application": application_workflow, "bounce": bounce_workflow,
             "status_query": status_query_workflow}


def run_workflows(app: App, session: Session, row: Message, ctx) -> str:
    """After classification, inside the message's transaction: a staff decision first, then the review
    gate, then the workflow of the kind. Returns the message status."""
    decided = apply_decision(session, row, ctx.problems)
    if decided is not None:
        return decided
    if ctx.classification.needs_review:
        ctx.problems.extend(ctx.classification.review_reasons)
        # why an attachment could not be read (a password, a corrupt file) is often why the kind is unclear
        ctx.problems.extend(p for analysis in flatten(ctx.analyses) for p in analysis.problems)
        return NEEDS_REVIEW
    return apply_workflow(app, session, row, ctx) or PROCESSED


def apply_decision(session: Session, row: Message, problems: list[str]) -> str | None:
    """A message a person rejected or marked as not a report (ingest.workflows.staff) is counted nowhere,
    also after a replay. Returns the message status, or None when nobody decided."""
    decision = session.get(StaffDecision, row.id)
    if decision is None:
        return None
    _drop_reports(session, row.id, decision.actor, decision.at)
    if decision.decision == DECISION_NOT_A_REPORT:
        row.kind = "other"
        problems[:] = [f"工作人员判定不是周报（{decision.actor}）：{decision.note}".rstrip("：")]
    else:
        problems[:] = [f"工作人员已退回，不计入统计（{decision.actor}）：{decision.note}".rstrip("：")]
    return PROCESSED


def _drop_reports(session: Session, message_pk: int, actor: str, at) -> None:
    """Remove the weekly reports this message produced; the city's previous version becomes current again
    (a change of the city's figures, written to their history as the person's)."""
    reports = list(session.exec(select(WeeklyReport).where(WeeklyReport.message_pk == message_pk)))
    before = {(r.city, r.week_start): figures.counted_figures(session, r.city, r.week_start) for r in reports}
    for report in reports:
        session.exec(delete(WeeklyRow).where(WeeklyRow.report_id == report.id))
        session.delete(report)
    session.flush()
    for city, week_start in before:
        figures.update_current(session, city, week_start)
    session.flush()
    for (city, week_start), old in before.items():
        figures.record_change(session, city, week_start, old, figures.counted_figures(session, city, week_start),
                              actor=actor, reason="rejected", message_pk=message_pk, now=at)
