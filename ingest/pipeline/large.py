"""Large messages: one over the limit is kept unparsed; a large one is decoded and analysed in a child process, so the daemon never holds it.

Decoding a message of tens of megabytes costs several times its size (the raw bytes, the MIME tree, each
decoded attachment, the copy sent to a sandbox worker). Above ``ISOLATE_ABOVE`` bytes, ``prepare`` starts
a child that reads the archived file itself, decodes it, has each attachment read by its own sandbox
(the same limits as the daemon's) and sends back the decoded message *without* attachment bytes (their
size and sha256 instead, large MIME payloads emptied, the text bodies capped) plus the analyses. The
daemon's process then holds a few kilobytes of the message instead of its whole weight.

The child runs under an address-space limit and a wall-clock timeout; when it fails, the message is
kept with what its header block says and a problem naming the failure, for staff (never "resend").
What comes back is unpickled by the sandbox's restricted unpickler (data classes only).
"""

from __future__ import annotations

import logging
import pickle
import resource
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.pipeline.decode import DecodedMessage, decode_message
from parsers.formats.limits import MB
from zxjyck.childenv import forkserver_context

if TYPE_CHECKING:
    from ingest.app import App
    from ingest.config import Settings
    from store.models import Message

log = logging.getLogger(__name__)

ISOLATE_ABOVE = 4 * MB  # a message this large is decoded in a child process
CHILD_ADDRESS_SPACE = 3 * 1024 * MB  # the whole message, decoded, plus the sandbox's own client side
CHILD_TIMEOUT = 900.0  # seconds for the whole message; each attachment also has the sandbox's own limits
MAX_BODY_CHARS = 2_000_000  # text and HTML bodies kept for classification
MAX_PART_PAYLOAD = 64 * 1024  # larger MIME payloads are emptied in the copy sent back (headers stay)
ALLOWED_MODULES = ("ingest.pipeline.decode", "email.")


def wanted(app: App, msg: Message) -> bool:
    """Isolate when the message is large and the app reads attachments with the production sandboxes (they
    have limits; a test's in-process reader keeps the in-process path)."""
    return msg.size >= ISOLATE_ABOVE and getattr(app.analyzer, "limits", None) is not None


def prepare(app: App, msg: Message, day: date) -> tuple[DecodedMessage, list]:
    """(decoded message without attachment bytes, analyses), computed in a child process."""
    from parsers.sandbox import load_restricted

    ctx = forkserver_context()  # the child starts without the service's secrets (zxjyck.childenv)
    receiver, sender = ctx.Pipe(duplex=False)
    limits = app.analyzer.limits
    child = ctx.Process(target=_child_main, name="zxjyck-large-message", daemon=False,
                        args=(sender, str(app.archive.root), msg.sha256, day, limits, CHILD_ADDRESS_SPACE))
    started = time.monotonic()
    child.start()
    sender.close()
    try:
        reply = None
        if receiver.poll(CHILD_TIMEOUT):
            try:
                reply = receiver.recv_bytes()
            except EOFError:
                reply = None
        if reply is None:
            why = (f"邮件较大（{msg.size / MB:.1f} MB），在限定时间和内存内未能解析完毕（子进程"
                   f"{'超时' if child.is_alive() else '退出'}）；原件已存档，请工作人员查看 / "
                   "a large message could not be read within its limits")
            return headers_only(app, msg, why), []
        status, *rest = load_restricted(reply, ALLOWED_MODULES)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(10)
    log.info("large message id=%s (%.1f MB) read in a child process in %.1f s", msg.id, msg.size / MB,
             time.monotonic() - started)
    if status != "ok":
        why = f"邮件较大（{msg.size / MB:.1f} MB），解析失败：{rest[0]}；原件已存档，请工作人员查看"
        return headers_only(app, msg, why), []
    decoded, analyses = rest
    return decoded, analyses


def too_large(msg: Message, settings: Settings) -> str:
    limit = settings.max_message_bytes // MB
    return (f"邮件大小 {msg.size / MB:.1f} MB，超过上限 {limit} MB（[source] max_message_mb）："
            "已完整存档但未解析附件，请工作人员查看原件 / message larger than the limit: archived, not parsed")


def headers_only(app: App, msg: Message, why: str) -> DecodedMessage:
    """What the header block alone says (sender, subject, threading), with ``why`` the body went unread as a
    limit note: the message waits for staff with its archived original."""
    head = app.archive.head(msg.sha256)
    end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=len(head))
    decoded = decode_message(head[:end] + b"\r\n\r\n")
    decoded.limited.append(why)
    return decoded


def slim(decoded: DecodedMessage) -> DecodedMessage:
    """The decoded message as the daemon needs it after analysis: no attachment bytes, no large payloads."""
    decoded.attachments = [att.without_data() for att in decoded.attachments]
    for name in ("text", "html"):
        value = getattr(decoded, name)
        if len(value) > MAX_BODY_CHARS:
            setattr(decoded, name, value[:MAX_BODY_CHARS])
            decoded.limited.append(f"邮件正文（{name}）超过 {MAX_BODY_CHARS:,} 个字符，只按前 {MAX_BODY_CHARS:,} 个字符分类 / "
                                   "body truncated for classification")
    if decoded.message is not None:
        for part in decoded.message.walk():
            if not part.is_multipart() and len(part.get_payload() or "") > MAX_PART_PAYLOAD:
                part.set_payload("")
    return decoded


def _child_main(conn, archive_root: str, digest: str, day: date, limits, address_space: int) -> None:
    """In the child: read, decode, analyse, slim, send back one pickled reply."""
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        from ingest.pipeline.analyse import read_attachments
        from parsers.sandbox import Sandbox
        from store.archive import Archive

        raw = Archive(Path(archive_root)).get(digest)
        decoded = decode_message(raw)
        del raw
        with Sandbox(limits) as sandbox:
            analyses = read_attachments(sandbox, decoded, day)
        reply = pickle.dumps(("ok", slim(decoded), analyses), protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        reply = pickle.dumps(("error", "内存不足 / out of memory"))
    except Exception as exc:  # noqa: BLE001 - the parent records the reason; the child only reports it
        reply = pickle.dumps(("error", f"{exc.__class__.__name__}: {str(exc)[:300]}"))
    try:
        conn.send_bytes(reply)
    finally:
        conn.close()
