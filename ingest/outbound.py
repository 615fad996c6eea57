"""The service's settings as the outbound package needs them: how notices are written and where they go.

notify/ knows nothing of ingest's Settings; these two functions are the only translation.
"""

from __future__ import annotations

from ingest.config import Settings
from notify.outbox import OutboxSettings, SmtpAccount, TransportSettings
from notify.transport import RetryPolicy


def outbox_settings(settings: Settings) -> OutboxSettings:
    sender = settings.smtp.sender if settings.smtp else settings.notify.sender
    return OutboxSettings(
        sender=sender, sender_name=settings.notify.bureau_name, bureau_name=settings.notify.bureau_name,
        contact_line=settings.notify.contact_line, reply_window_days=settings.notify.reply_window_days,
        max_per_sender_per_day=settings.notify.max_per_sender_per_day,
        our_addresses=frozenset(settings.our_addresses()),
        retry=RetryPolicy(max_attempts=settings.notify.max_attempts), timezone=settings.schedule.timezone)


def transport_settings(settings: Settings) -> TransportSettings:
    """Where notices go: [smtp] when configured, else .eml files in [notify] outbox_dir."""
    smtp = settings.smtp
    account = None if smtp is None else SmtpAccount(
        host=smtp.host, port=smtp.port, security=smtp.security, username=smtp.username,
        password=smtp.password.get_secret_value() if smtp.password else None,
        timeout_seconds=smtp.timeout_seconds, ca_file=smtp.ca_file)
    return TransportSettings(outbox_dir=settings.outbox_dir, smtp=account)
