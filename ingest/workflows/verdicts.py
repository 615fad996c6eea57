"""Reading the panel's verdicts and the published lists (no writes): what status answers, publishing and the
console share. The rules that write them live in panel.py (verdicts) and publication.py (publications)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from store.models import Application, PanelVerdict, Publication


def batch_applications(session: Session, batch: str | None) -> list[Application]:
    """The complete applications (of one batch, or all) in the dossier's order: completed first, then by id.
    The dossier folders, the panel sheet and the public list all number them so."""
    stmt = select(Application).where(Application.complete.is_(True))
    if batch is not None:
        stmt = stmt.where(Application.batch == batch)
    return list(session.exec(stmt.order_by(Application.completed_at, Application.id)))


def verdicts_of(session: Session, batch: str | None = None) -> dict[int, PanelVerdict]:
    """The recorded verdicts (of one batch, or all), by application id."""
    stmt = select(PanelVerdict)
    if batch is not None:
        stmt = stmt.where(PanelVerdict.batch == batch)
    return {v.application_id: v for v in session.exec(stmt)}


def latest_publication(session: Session, batch: str) -> Publication | None:
    return session.exec(select(Publication).where(Publication.batch == batch)
                        .order_by(Publication.version.desc())).first()


def published_verdicts(session: Session, batch: str) -> tuple[dict[str, str], date | None]:
    """The verdicts of the batch's latest publication (application id as text -> verdict) and its date:
    what applicants may be told. A verdict recorded after it stays unannounced until the next publication."""
    last = latest_publication(session, batch)
    return (dict(last.verdicts), last.issued_on) if last is not None else ({}, None)
