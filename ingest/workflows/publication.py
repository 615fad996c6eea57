"""Publishing a batch's list of selected platforms (`zxjyck publish`) and the outcome notices that follow.

The public list is the batch's applications the panel marked 入选, in the dossier's order, with
their platform, organisation, website and projects: nothing personal (no contact, phone, e-mail
or address). Each publication is a row of ``publications`` (batch, version, time, who, the
sha256 of the list, the list itself and every verdict of the batch as announced). Publishing
again with the same list and verdicts changes nothing ("unchanged, version 1"); after a verdict
changed it makes the next version and says so, so a published list never changes silently.

With ``[applications] notify_outcome`` each application of the batch with a verdict is told its
result once (dedupe key ``outcome:<application>:<batch>``), at the addresses the reply rules
already let a notice go to for it (its receipts and missing-items notices that were not held back).
The documents themselves are written by ingest/outputs/public_list.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from ingest.app import App
from ingest.outbound import outbox_settings
from ingest.workflows.staff import InvalidInput, NotAllowed, _audit
from ingest.workflows.verdicts import batch_applications, latest_publication, verdicts_of
from notify.compose import OutcomeContext
from notify.outbox import enqueue
from store.db import session_scope
from store.models import (
    OUTBOX_PENDING,
    OUTBOX_SENT,
    VERDICT_SELECTED,
    Application,
    ApplicationMessage,
    ApplicationProject,
    Message,
    Outbox,
    Publication,
)

DIGITS = "零一二三四五六七八九"
PUBLIC_FIELDS = ("platform", "organization", "website", "projects")  # what a public row holds, nothing more
VERIFIED_KINDS = ("receipt", "missing_items")  # notices whose recipients the reply rules let through


def cn_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 20 -> 二十, 23 -> 二十三 (batches are never a hundred)."""
    if not 0 < n < 100:
        return str(n)
    tens, units = divmod(n, 10)
    return (("" if tens == 1 else DIGITS[tens]) + "十" if tens else "") + (DIGITS[units] if units else "")


def list_title(app: App, batch: str) -> str:
    number = app.settings.applications.batch_number(batch)
    if number is None:
        names = "、".join(b.name for b in app.settings.applications.batches)
        raise InvalidInput(f"未配置的批次“{batch[:100]}”（可选：{names}）/ unknown batch {batch[:100]!r}")
    return f"第{cn_number(number)}批职业技能提升行动线上培训平台名单"


def public_rows(session: Session, batch: str) -> list[dict[str, str]]:
    verdicts = verdicts_of(session, batch)
    rows = []
    for a in batch_applications(session, batch):
        verdict = verdicts.get(a.id)
        if verdict is None or verdict.verdict != VERDICT_SELECTED:
            continue
        projects = session.exec(select(ApplicationProject.name).where(ApplicationProject.application_id == a.id)
                                .order_by(ApplicationProject.position)).all()
        rows.append({"platform": a.platform_name, "organization": a.organization, "website": a.website,
                     "projects": "、".join(p for p in projects if p)})
    return rows


def list_sha256(rows: list[dict[str, str]]) -> str:
    canonical = json.dumps([{k: row[k] for k in PUBLIC_FIELDS} for row in rows], ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class PublishResult:
    batch: str
    title: str
    version: int
    status: str  # "first" | "new_version" | "unchanged"
    issued_on: date
    sha256: str
    rows: list[dict[str, str]]
    outcome_queued: int = 0
    outcome_without_address: list[str] = field(default_factory=list)  # platforms nobody could be told
    told_otherwise: list[str] = field(default_factory=list)  # told a result that has changed since

    def describe(self) -> str:
        if self.status == "unchanged":
            return f"名单未变化，仍为第 {self.version} 版 / unchanged, version {self.version}"
        if self.status == "new_version":
            return (f"评审结论有变化，已生成第 {self.version} 版名单 / verdicts changed: this is version "
                    f"{self.version}")
        return f"已公布第 {self.version} 版名单 / published, version {self.version}"


def publish(app: App, actor: str, batch: str, issued_on: date | None = None) -> PublishResult:
    """Record the batch's public list (a new version only when something changed) and queue outcome notices."""
    title = list_title(app, batch)
    now = app.now()
    with session_scope(app.engine) as session:
        applications = batch_applications(session, batch)
        verdicts = verdicts_of(session, batch)
        if not applications:
            raise NotAllowed(f"{batch} 没有材料齐全的申报，无名单可公布 / the batch has no complete application")
        undecided = [a for a in applications if a.id not in verdicts]
        if undecided:
            shown = "、".join(f"{a.id} {a.platform_name or a.organization}" for a in undecided[:10])
            raise NotAllowed(f"{batch} 有 {len(undecided)} 件申报尚无评审结论（{shown}），请先用 zxjyck panel import "
                             "或控制台录入 / some applications have no verdict yet")
        rows = public_rows(session, batch)
        if not rows:
            raise NotAllowed(f"{batch} 没有结论为“入选”的平台，无名单可公布 / no platform was selected")
        digest = list_sha256(rows)
        snapshot = {str(a.id): verdicts[a.id].verdict for a in applications}
        last = latest_publication(session, batch)
        if last is not None and last.sha256 == digest and last.verdicts == snapshot:
            result = PublishResult(batch, title, last.version, "unchanged", last.issued_on, digest, rows)
        else:
            version = (last.version if last is not None else 0) + 1
            day = issued_on or app.settings.schedule.calendar().local_date(now)
            session.add(Publication(batch=batch, version=version, published_at=now, published_by=actor[:255],
                                    issued_on=day, sha256=digest, entries=rows, verdicts=snapshot))
            _audit(session, now, actor, "publish", f"{batch} version {version}: {len(rows)} platforms, "
                                                   f"sha256 {digest}")
            result = PublishResult(batch, title, version, "new_version" if last else "first", day, digest, rows)
        if app.settings.applications.notify_outcome:
            _outcome_notices(app, session, result, applications, verdicts)
    return result


def verified_addresses(session: Session, application_id: int) -> tuple[list[str], Message | None]:
    """Where the reply rules already let this application's notices go, and its latest message (for threading)."""
    pks = list(session.exec(select(ApplicationMessage.message_pk)
                            .where(ApplicationMessage.application_id == application_id)
                            .order_by(ApplicationMessage.received_at, ApplicationMessage.id)))
    if not pks:
        return [], None
    rows = session.exec(select(Outbox).where(Outbox.about_message_pk.in_(pks), Outbox.kind.in_(VERIFIED_KINDS),
                                             Outbox.status.in_((OUTBOX_PENDING, OUTBOX_SENT)),
                                             Outbox.bounced.is_(False)).order_by(Outbox.id))
    found: dict[str, str] = {}
    for row in rows:
        for address in row.to:
            found.setdefault(address.lower(), address)
    return list(found.values()), session.get(Message, pks[-1])


def _outcome_notices(app: App, session: Session, result: PublishResult, applications: list[Application],
                     verdicts: dict) -> None:
    cfg, now = outbox_settings(app.settings), app.now()
    for a in applications:
        key = f"outcome:{a.id}:{result.batch}"
        verdict = verdicts[a.id].verdict
        existing = session.exec(select(Outbox).where(Outbox.dedupe_key == key)).first()
        if existing is not None:
            if existing.raw and _told(existing) != verdict:
                result.told_otherwise.append(a.platform_name or a.organization)
            continue
        to, last = verified_addresses(session, a.id)
        block = None if to else ("不发送：此申报没有经自动回复规则确认过的收件地址（此前的回执和补充材料通知均未发出），"
                                 "请工作人员另行告知 / no verified address for this application")
        context = OutcomeContext(platform_name=a.platform_name, organization=a.organization, batch=result.batch,
                                 list_title=result.title, verdict=verdict, published_on=result.issued_on)
        row = enqueue(session, cfg, kind="outcome", context=context, to=to, dedupe_key=key, now=now, about=last,
                      references=list(last.references or []) if last is not None else [],
                      auto_submitted="auto-generated", block_reason=block)
        if block:
            result.outcome_without_address.append(a.platform_name or a.organization)
        elif row.status == OUTBOX_PENDING:
            result.outcome_queued += 1


def _told(row: Outbox) -> str:
    """The verdict an outcome notice carried (read back from its text)."""
    import email
    import email.policy

    msg = email.message_from_string(row.raw, policy=email.policy.default)
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    marker = "评审结果为："
    return text.split(marker, 1)[1].split("。", 1)[0] if marker in text else ""

