"""What every workflow's ``decide`` step is given about the message, and the notices it asks for.

A workflow is two steps. ``decide`` is pure: it takes the message's facts
(plain values, below), the attachment analyses, the state it needs (read from
the store beforehand and passed in as plain values) and the settings, and
returns a frozen decision: the records to write, the notices to queue with
their dedupe keys, the problems, the resulting status. ``record`` writes a
decision with the caller's session, so the records and the notices commit in
the message's one transaction or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class MessageFacts:
    """The decoded message, as far as a decision depends on it."""

    sha256: str
    from_addr: str
    from_name: str = ""
    subject: str = ""
    received_at: datetime | None = None
    mail_day: date | None = None  # the day it arrived in the service's time zone
    sender_trusted: bool = True  # False: the From had problems (forged, ambiguous): registered for nothing
    body: str = ""  # the first part of the text body (recommendation words)
    city: str | None = None  # the classifier's city (subject, sender, form)


def facts_of(app, row, ctx) -> MessageFacts:
    return MessageFacts(sha256=row.sha256, from_addr=row.from_addr, from_name=row.from_name or "",
                        subject=row.subject or "", received_at=row.received_at, mail_day=app.settings.schedule.calendar().local_date(row.received_at),
                        sender_trusted=not ctx.decoded.sender_problems, body=ctx.decoded.text[:3000],
                        city=ctx.classification.city)


@dataclass(frozen=True)
class Reply:
    """A notice answering the message (``notify.outbox.reply``: the loop rules decide whether it goes out)."""

    kind: str
    context: Any  # a notify.compose context; ``record`` hands the outbox a copy, the decision stays as decided
    dedupe_key: str

    def fresh_context(self):
        return replace(self.context)
