"""The data-protection commands: `backup`, `restore`, `purge`, `erase`, `audit` (docs/operations.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.app import App


class _Out:
    """Standard output through rich, built on first use (start-up time)."""

    def print(self, *args, **kwargs) -> None:
        from rich.console import Console

        Console(highlight=False, soft_wrap=True).print(*args, **kwargs)


out = _Out()


def _app(args: argparse.Namespace) -> App:
    from ingest.app import open_app
    from ingest.config import load_settings

    return open_app(load_settings(args.config))


def add_commands(sub, _date: Callable[[str], date]) -> None:
    """The commands' arguments; ``_date`` is the command line's YYYY-MM-DD type."""
    s = sub.add_parser("backup", help="a consistent copy of the store, archive and configuration / 备份")
    s.add_argument("--out", required=True, metavar="DIR", help="backup folder (the archive in it is shared)")
    s = sub.add_parser("restore", help="restore a backup onto an empty store and archive / 从备份恢复")
    s.add_argument("source", metavar="DIR", help="a backup folder (its newest backup) or one snapshot in it")
    s = sub.add_parser("purge", help="remove what the retention periods let go / 按保存期限清理")
    s.add_argument("--dry-run", action="store_true", help="only count what would be removed / 只统计不删除")
    s = sub.add_parser("erase", help="erase one person's or organisation's data / 删除个人信息")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="ADDRESS")
    who.add_argument("--credit-code", metavar="CODE")
    s.add_argument("--yes", action="store_true", help="really remove (without it: only show) / 确认删除")
    s = sub.add_parser("audit", help="the audit log / 审计日志")
    s.add_argument("--since", type=_date, required=True, metavar="YYYY-MM-DD")
    s.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="up to and including that day")
    s.add_argument("--user", metavar="NAME")
    s.add_argument("--action", metavar="ACTION")
    s.add_argument("--limit", type=int, default=1000)


def _actor() -> str:
    from ingest.workflows.staff import actor_name

    return actor_name()


def cmd_backup(args: argparse.Namespace) -> int:
    from ingest.runtime.backup import backup

    with _app(args) as app:
        result = backup(app, Path(args.out), _actor())
    out.print(f"已备份 backed up: {result.folder} (数据库 database {result.database_bytes} bytes, "
              f"归档 archive {result.archive_files} files, 新增 new {result.archive_copied})", markup=False)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from ingest.config import load_settings
    from ingest.runtime.backup import restore
    from store.files import private_umask

    settings = load_settings(args.config)
    private_umask(settings.group)
    result = restore(settings, Path(args.source), _actor(), settings.clock()())
    taken = result.taken_at.astimezone(settings.schedule.calendar().tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    missing = f"; {result.missing_files} 封原件缺失 originals missing" if result.missing_files else ""
    out.print(f"已恢复 restored: {result.messages} 封邮件 messages, {result.archive_files} 个归档文件 archive "
              f"files, 备份时间 backup of {taken}{missing}", markup=False)
    return 1 if result.missing_files else 0


def cmd_purge(args: argparse.Namespace) -> int:
    from ingest.runtime.mailbox_retention import expunge_old_mail
    from ingest.workflows.retention import purge

    with _app(args) as app:
        report = purge(app, _actor(), dry_run=args.dry_run)
        expunged = None if args.dry_run else expunge_old_mail(app, _actor())
    out.print(report.line(), markup=False)
    if expunged:
        out.print(f"已从邮件服务器删除 expunged from the server: {expunged}", markup=False)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from ingest.workflows.erasure import erase

    with _app(args) as app:
        plan = erase(app, _actor(), email=args.email, credit_code=args.credit_code, apply=args.yes)
    head = "已删除 erased" if args.yes else "将删除 would erase (run again with --yes to erase)"
    out.print(f"{head}: {plan.subject_hash}", markup=False)
    for line in plan.lines()[:None if args.yes else -1]:
        out.print(f"  {line}", markup=False)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ingest.outputs.audit_log import AuditFilter, action_label, audit_entries, local_time
    from zxjyck.text import for_terminal

    with _app(args) as app:
        page = audit_entries(app, AuditFilter(args.since, args.until, args.user or "", args.action or "",
                                              limit=args.limit))
        table = Table(title=f"审计日志 Audit log ({len(page.entries)} / {page.total})")
        for col in ("时间 Time", "用户 User", "操作 Action", "邮件 Message", "来源 From", "说明 Detail"):
            table.add_column(col, overflow="fold")
        for e in page.entries:
            table.add_row(local_time(app, e.at), for_terminal(e.actor), action_label(e.action),
                          str(e.message_pk or ""), for_terminal(e.address), for_terminal(e.detail))
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:  # a file or a pipe: whole lines, for grep
        console = Console(highlight=False, width=400)
    console.print(table)
    return 0


COMMANDS = {"backup": cmd_backup, "restore": cmd_restore, "purge": cmd_purge, "erase": cmd_erase,
            "audit": cmd_audit}
