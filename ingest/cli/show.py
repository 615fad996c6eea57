"""`zxjyck show`: one message explained end to end, for administrators."""

from __future__ import annotations

from datetime import tzinfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ingest.outputs.queries import MessageDetail
from parsers.application import ocr_field_label
from zxjyck.labels import SEAL, SEAL_EN
from zxjyck.text import for_terminal, strip_controls

REMOVED_REASON = {"retention": "保存期限届满 retention period over", "erasure": "应要求删除 erased on request"}


def render_detail(console: Console, detail: MessageDetail, tz: tzinfo) -> None:
    """The message as administrators read it; times in ``tz`` (the configured ``schedule.timezone``)."""
    m = detail.message
    head = Table(title=f"邮件 Message #{m.id}", show_header=False)
    rows = [
        ("Message-ID", m.message_id or "-"),
        ("发件人 From", f"{m.from_name} <{m.from_addr}>" if m.from_name else m.from_addr),
        ("主题 Subject", m.subject),
        ("收到 Received", f"{m.received_at.astimezone(tz):%Y-%m-%d %H:%M:%S %z} ({m.received_source})"),
        ("来源 Source", f"{m.source} {m.source_ref}"),
        ("SHA-256", m.sha256),
        ("归档原件 Archived original", detail.archive_path or "-") if m.raw_removed_at is None else
        ("归档原件 Archived original", f"原件已删除 removed {m.raw_removed_at.astimezone(tz):%Y-%m-%d} "
                                        f"({REMOVED_REASON.get(m.raw_removed_reason or '', m.raw_removed_reason)})"),
        ("大小 Size", f"{m.size} bytes"),
        ("类型 Kind", f"{m.kind or '-'}" + (f" (confidence {m.confidence:.2f})" if m.confidence is not None else "")),
        ("状态 Status", m.status),
        ("地市 City", m.city or "-"),
    ]
    if m.same_message_id_as:
        rows.append(("同一 Message-ID Same Message-ID as", f"#{m.same_message_id_as}"))
    for label, value in rows:
        head.add_row(label, for_terminal(value))  # sender text: no markup, no terminal controls
    console.print(head)
    _list(console, "分类依据 Classification reasons", m.reasons)
    _list(console, "问题 Problems", m.problems)
    _list(console, "解码修复与缺陷 Decoding notes", m.defects)
    if detail.attachments:
        table = Table(title="附件 Attachments")
        for col in ("#", "文件名 Filename", "格式 Format", "大小 Size", "类别 Category", "问题 Problems"):
            table.add_column(col, overflow="fold")
        for a in detail.attachments:
            table.add_row(str(a.position + 1), for_terminal(a.filename), for_terminal(a.format or a.content_type),
                          str(a.size), for_terminal(f"{a.category or '-'} {a.evidence}".strip()),
                          "\n".join(for_terminal(p) for p in a.problems))
        console.print(table)
        for a in detail.attachments:
            _ocr_table(console, a, detail.archive_path)
    for section, lines in detail.extra.items():
        _list(console, section, lines)


def _ocr_table(console: Console, a, archive_path: str = "") -> None:
    """Values OCR read from a scan or photo, each with its confidence, beside the attachment they came from."""
    if not (getattr(a, "scanned", False) or getattr(a, "ocr_fields", None)):
        return
    table = Table(title=f"附件 {a.position + 1} 识别结果 OCR of “{escape(a.filename)}” · 公章 {SEAL[a.stamped]} {SEAL_EN[a.stamped]}",
                  caption=escape(f"原件 page image: 归档邮件 {archive_path or '-'} 的附件 {a.position + 1} "
                                 f"attachment {a.position + 1} of the archived message; "
                                 f"控制台 console /messages/{a.message_pk}/attachments/{a.position}/page.png"))
    for col in ("栏目 Field", "识别值 Value read", "置信度 Confidence", ""):
        table.add_column(col, overflow="fold")
    values = a.ocr_values or {}
    low = set(a.low_confidence_fields or [])
    for name, confidence in a.ocr_fields.items():
        value = values.get(name)
        table.add_row(escape(ocr_field_label(name)), "" if value is None else escape(str(value)),
                      f"{float(confidence):.2f}",
                      "待核对 check" if name in low else "")
    console.print(table)


def _list(console: Console, title: str, items: list[str]) -> None:
    if not items:
        return
    console.print(f"[bold]{title}[/bold]")
    for item in items:
        console.print(f"  • {strip_controls(str(item))}", markup=False)
