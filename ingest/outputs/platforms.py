"""Which training platforms enterprises use: the 培训平台名称 of every counted weekly row, per platform.

A row counts when its report counts in the week's totals (the current report, accepted:
``week_status``'s rule). Its platform name is reduced to ``zxjyck.platform_names.platform_key`` and
matched to an application: first a link staff made (``platform_links``), then the automatic match
(the same key, then containment). Names that match nothing are listed for staff to link.

``enterprises`` counts rows (each row of a weekly form is one enterprise's new 备案 that week),
``people`` sums their 备案人数. Three queries whatever the number of weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from store.models import REPORT_ACCEPTED, Application, PlatformLink, WeeklyReport, WeeklyRow
from zxjyck.platform_names import match_platform, platform_key


@dataclass
class ApplicationRef:
    id: int
    platform_name: str
    organization: str


@dataclass
class PlatformUsage:
    """One platform: an application's, or one unmatched spelling (key) of a name."""

    key: str
    names: list[str] = field(default_factory=list)  # the spellings the weekly forms used
    application: ApplicationRef | None = None
    linked_names: list[str] = field(default_factory=list)  # spellings staff linked to the application
    weeks: dict[date, tuple[int, int]] = field(default_factory=dict)  # week -> (enterprises, people)
    enterprises: int = 0  # every week's, not only those shown
    people: int = 0

    @property
    def linked_by_staff(self) -> bool:
        return bool(self.linked_names)

    @property
    def title(self) -> str:
        return self.application.platform_name if self.application else (self.names[0] if self.names else "")

    def week(self, week: date) -> tuple[int, int]:
        return self.weeks.get(week, (0, 0))


@dataclass
class PlatformReport:
    matched: list[PlatformUsage]
    unmatched: list[PlatformUsage]
    unnamed: PlatformUsage  # rows with no platform written
    applications: list[ApplicationRef]


def platform_usage(session: Session, weeks: Sequence[date]) -> PlatformReport:
    """Every platform named in counted weekly rows, with its figures per week (``weeks``) and in total."""
    apps = [ApplicationRef(i, name or "", org or "") for i, name, org in session.execute(
        select(Application.id, Application.platform_name, Application.organization).order_by(Application.id))]
    by_key = {}
    for a in apps:
        by_key.setdefault(platform_key(a.platform_name), a.id)
    by_key.pop("", None)
    links = {k: app_id for k, app_id in session.execute(select(PlatformLink.name_key, PlatformLink.application_id))}
    stmt = (select(WeeklyRow.platform, WeeklyReport.week_start, func.count(), func.coalesce(func.sum(WeeklyRow.headcount), 0))
            .join(WeeklyReport, WeeklyReport.id == WeeklyRow.report_id)
            .where(WeeklyReport.superseded == False, WeeklyReport.status == REPORT_ACCEPTED)  # noqa: E712
            .group_by(WeeklyRow.platform, WeeklyReport.week_start))
    shown = set(weeks)
    apps_by_id = {a.id: a for a in apps}
    groups: dict[tuple[str, object], PlatformUsage] = {}
    unnamed = PlatformUsage("")
    for name, week, count, people in session.execute(stmt):
        week = week if isinstance(week, date) else date.fromisoformat(str(week))
        key = platform_key(name)
        if not key:
            usage = unnamed
        else:
            linked = links.get(key)
            app_id = linked if linked in apps_by_id else match_platform(name, by_key)
            group = ("app", app_id) if app_id is not None else ("name", key)
            usage = groups.setdefault(group, PlatformUsage(key, application=apps_by_id.get(app_id)))
            clean = " ".join(name.split())
            if clean not in usage.names:
                usage.names.append(clean)
            if linked in apps_by_id and clean not in usage.linked_names:
                usage.linked_names.append(clean)
        usage.enterprises += int(count)
        usage.people += int(people)
        if week in shown:
            e, p = usage.weeks.get(week, (0, 0))
            usage.weeks[week] = (e + int(count), p + int(people))
    order = sorted(groups.values(), key=lambda u: (-u.people, u.title))
    return PlatformReport([u for u in order if u.application], [u for u in order if not u.application], unnamed,
                          apps)
