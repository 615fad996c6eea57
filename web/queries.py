"""What the console pages show, read from the store (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ingest.app import App
from ingest.outputs.queries import MessageFilter, list_messages, message_detail
from ingest.outputs.week_status import WeekSummary, week_summary
from ingest.runtime.health import health
from store.db import session_scope
from store.models import (
    FAILED,
    MATERIAL_KEYS,
    NEEDS_REVIEW,
    REPORT_NEEDS_REVIEW,
    REVIEW_STATES,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    ApplicationReview,
    AuditEntry,
    Message,
    Outbox,
    PanelVerdict,
    PollRun,
    Publication,
    StaffDecision,
    WeeklyReport,
    WeeklyRow,
)
from store.repo import unresolved_failure


def tz(app: App) -> ZoneInfo:
    """The configured zone every time on the console is shown in."""
    return app.settings.schedule.calendar().tz


def default_week(app: App) -> date:
    """The reporting week staff look at today: the digest's (zxjyck.calendar.reporting_week)."""
    cal = app.settings.schedule.calendar()
    return cal.reporting_week(cal.local_date(app.now()))[0]


def week(app: App, week_start: date) -> WeekSummary:
    with session_scope(app.engine) as session:
        return week_summary(session, week_start, tz(app))


@dataclass
class PendingItem:
    message: Message
    reasons: list[str]
    report: WeeklyReport | None = None
    unregistered_sender: bool = False


def pending(app: App) -> list[PendingItem]:
    """Every message held for review or failed, and every held weekly report, oldest first."""
    with session_scope(app.engine) as session:
        messages = list(session.exec(select(Message).where(Message.status.in_((NEEDS_REVIEW, FAILED)))
                                     .order_by(Message.received_at, Message.id)))
        held_reports = {r.message_pk: r for r in session.exec(
            select(WeeklyReport).where(WeeklyReport.status == REPORT_NEEDS_REVIEW))}
        listed = {m.id for m in messages}
        for pk in held_reports:
            if pk not in listed:
                msg = session.get(Message, pk)
                if msg is not None:
                    messages.append(msg)
        items = []
        for m in messages:
            report = held_reports.get(m.id)
            unregistered = any("不是" in p and "登记的报送邮箱" in p for p in (report.problems if report else []))
            items.append(PendingItem(m, list(m.problems) or ["需人工核对"], report, unregistered))
        return items


@dataclass
class MessageQuery:
    status: str = ""
    kind: str = ""
    city: str = ""
    q: str = ""
    limit: int = 200


def messages(app: App, query: MessageQuery) -> list[Message]:
    """The messages page: the same filter as ``zxjyck messages`` (empty fields filter nothing)."""
    return list_messages(app, MessageFilter(status=query.status or None, kind=query.kind or None,
                                            city=query.city or None, limit=query.limit, q=query.q or None))


@dataclass
class MessagePage:
    detail: object  # ingest.outputs.queries.MessageDetail
    reports: list[tuple[WeeklyReport, list[WeeklyRow]]] = field(default_factory=list)
    notices: list[Outbox] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    decision: StaffDecision | None = None
    applications: list[Application] = field(default_factory=list)
    body: str = ""  # the plain-text body (from the HTML part when there is no text part), never as HTML


BODY_LIMIT = 20_000


def message_body(app: App, sha256: str) -> str:
    """The message's text as the sender wrote it, decoded again from the archive; '' when unreadable."""
    from ingest.pipeline.decode import decode_message
    from store.errors import StoreError

    try:
        decoded = decode_message(app.archive.get(sha256))
    except (StoreError, ValueError, LookupError):
        return ""
    text = decoded.text or ""
    if not text.strip() and decoded.html:
        import lxml.html

        try:
            text = lxml.html.fromstring(decoded.html[:2_000_000]).text_content()
        except (ValueError, lxml.etree.ParserError):
            text = ""
    return text[:BODY_LIMIT]


def message_page(app: App, pk: int) -> MessagePage:
    detail = message_detail(app, pk)
    with session_scope(app.engine) as session:
        reports = [(r, list(session.exec(select(WeeklyRow).where(WeeklyRow.report_id == r.id)
                                         .order_by(WeeklyRow.position))))
                   for r in session.exec(select(WeeklyReport).where(WeeklyReport.message_pk == pk))]
        notices = list(session.exec(select(Outbox).where(Outbox.about_message_pk == pk).order_by(Outbox.id)))
        audit = list(session.exec(select(AuditEntry).where(AuditEntry.message_pk == pk).order_by(AuditEntry.at)))
        apps = list(session.exec(select(Application).join(ApplicationMessage,
                                                          ApplicationMessage.application_id == Application.id)
                                 .where(ApplicationMessage.message_pk == pk)))
        page = MessagePage(detail, reports, notices, audit, session.get(StaffDecision, pk), apps)
    page.body = message_body(app, detail.message.sha256)
    return page


@dataclass
class ApplicationItem:
    application: Application
    materials: dict[str, list[str]]
    projects: list[ApplicationProject]
    messages: list[Message]
    review: ApplicationReview | None
    verdict: PanelVerdict | None = None  # the expert panel's result (zxjyck panel import, or entered here)

    @property
    def missing(self) -> list[str]:
        return [k for k in MATERIAL_KEYS if not self.materials.get(k)]

    @property
    def state(self) -> str:
        return self.review.state if self.review else REVIEW_STATES[0]


def applications(app: App) -> list[ApplicationItem]:
    with session_scope(app.engine) as session:
        items = []
        for a in session.exec(select(Application).order_by(Application.first_received_at, Application.id)):
            items.append(_application_item(session, a))
        return items


def _application_item(session: Session, a: Application) -> ApplicationItem:
    materials: dict[str, list[str]] = {}
    for m in session.exec(select(ApplicationMaterial).where(ApplicationMaterial.application_id == a.id)):
        materials.setdefault(m.category, []).append(m.filename)
    projects = list(session.exec(select(ApplicationProject).where(ApplicationProject.application_id == a.id)
                                 .order_by(ApplicationProject.position)))
    msgs = list(session.exec(select(Message).join(ApplicationMessage, ApplicationMessage.message_pk == Message.id)
                             .where(ApplicationMessage.application_id == a.id).order_by(Message.received_at)))
    return ApplicationItem(a, materials, projects, msgs, session.get(ApplicationReview, a.id),
                           session.get(PanelVerdict, a.id))


def outbox_problems(app: App) -> list[Outbox]:
    """Notices that failed for good or bounced, newest first."""
    with session_scope(app.engine) as session:
        return list(session.exec(select(Outbox).where(unresolved_failure())
                                 .order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(500)))


@dataclass
class HealthPage:
    health: object  # ingest.runtime.health.Health
    polls: list[PollRun]
    alerts: list = field(default_factory=list)  # store.models.AlertState: incidents open now


def health_page(app: App) -> HealthPage:
    from store.alerts import open_incidents

    h = health(app)
    with session_scope(app.engine) as session:
        polls = list(session.exec(select(PollRun).order_by(PollRun.started_at.desc()).limit(20)))
        alerts = open_incidents(session)
        session.expunge_all()
    return HealthPage(h, polls, alerts)


def publications(app: App) -> list[Publication]:
    """Every published version of every batch's list, newest first (zxjyck publish records them)."""
    with session_scope(app.engine) as session:
        return list(session.exec(select(Publication).order_by(Publication.published_at.desc(),
                                                              Publication.id.desc())))


def recent_weeks(app: App, count: int = 8) -> list[date]:
    first = default_week(app)
    return [first - timedelta(days=7 * n) for n in range(count)]


def local(app: App, moment: datetime | None) -> str:
    return moment.astimezone(tz(app)).strftime("%Y-%m-%d %H:%M") if moment else "—"


# ---------------------------------------------------------------- the campaign over time


@dataclass
class TrendsPage:
    weeks: list  # ingest.outputs.rates.WeekRates, oldest first
    cities: list[str]

    def cell(self, week_index: int, city_index: int):
        return self.weeks[week_index].cities[city_index]


def trends(app: App) -> TrendsPage:
    """The last 12 weeks whose deadline has passed at the console's now (``App.now``)."""
    from ingest.outputs.rates import trends as rates_trends
    from parsers.cities import GUANGDONG_CITIES

    with session_scope(app.engine) as session:
        weeks = rates_trends(session, app.settings.schedule.calendar(), app.now())
    return TrendsPage(weeks, list(GUANGDONG_CITIES))


def city(app: App, name: str):
    """A city's history (ingest.outputs.city_history.CityHistory) up to the last week due now."""
    from ingest.outputs.city_history import city_history

    with session_scope(app.engine) as session:
        return city_history(session, name, app.settings.schedule.calendar(), app.now())


def platforms(app: App):
    """(platform usage over the last 12 weeks due now, those weeks)."""
    from ingest.outputs.platforms import platform_usage
    from ingest.outputs.rates import due_weeks

    weeks = due_weeks(app.settings.schedule.calendar(), app.now())
    with session_scope(app.engine) as session:
        return platform_usage(session, weeks), weeks
