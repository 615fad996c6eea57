"""Copies of sent notices in the mailbox's sent folder (``[imap] sent_folder``, e.g. "已发送").

Staff also read zxjyck@163.com in the 163 web client; SMTP does not put what we
send there, so each notice the SMTP server accepted is APPENDed, flagged \\Seen.
One connection per delivery round, opened at the first copy.
"""

from __future__ import annotations

import logging
from datetime import datetime

from imapclient import SEEN, IMAPClient
from imapclient import exceptions as imap_exc

from ingest.sources.imap_connection import ImapSettings, account_name, connect, logout_quietly

log = logging.getLogger(__name__)


class ImapSentCopier:
    """notify.outbox.SentCopier on an IMAP account."""

    def __init__(self, settings: ImapSettings, folder: str, connector=connect) -> None:  # noqa: ANN001
        self.settings, self.folder, self.connector = settings, folder, connector
        self.client: IMAPClient | None = None

    def _connected(self) -> IMAPClient:
        if self.client is None:
            client = self.connector(self.settings)
            try:
                if not client.folder_exists(self.folder):
                    log.info("IMAP %s: creating the sent folder %r", account_name(self.settings), self.folder)
                    client.create_folder(self.folder)
            except BaseException:
                logout_quietly(client)
                raise
            self.client = client
        return self.client

    def append(self, raw: bytes, when: datetime) -> None:
        client = self._connected()
        try:
            client.append(self.folder, raw, flags=(SEEN,), msg_time=when)
        except (imap_exc.IMAPClientError, OSError):
            self.close()  # a broken line is not reused for the next copy
            raise

    def close(self) -> None:
        if self.client is not None:
            logout_quietly(self.client)
            self.client = None
