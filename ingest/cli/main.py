"""The `zxjyck` command line (docs/CONTRACT.md). Each command is a thin shell over one library call.

Exit status: 0 success, 1 handled error (one line on stderr; traceback only
with --debug), 2 bad usage.

Start-up cost: this module imports argparse-level things only (`zxjyck --help`
under 0.3 s). Each command imports the modules it needs when it runs, so `status` never
loads the parsers, the scheduler, openpyxl or the web framework; tests/test_cli_imports.py
holds that to the import graph.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from functools import cache
from typing import TYPE_CHECKING

from ingest.cli.lifecycle import CREATING_COMMANDS, VersionAction
from store.states import MESSAGE_KINDS, MESSAGE_STATUSES
from zxjyck.errors import ZxjyckError
from zxjyck.labels import MESSAGE_STATUS, with_code

if TYPE_CHECKING:
    from rich.console import Console

    from ingest.app import App
    from ingest.pipeline.store import IngestReport


@cache
def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class _Lazy:
    """``out``/``err``: the rich consoles, built on first use (importing rich costs start-up time)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str):
        return getattr(_console(self._stderr), name)


out = _Lazy(stderr=False)
err = _Lazy(stderr=True)


def _table(*args, **kwargs):
    from rich.table import Table

    return Table(*args, **kwargs)


class UsageError(ZxjyckError):
    """Bad arguments that argparse cannot see (exit 2)."""

    exit_code = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r} / 日期格式应为 YYYY-MM-DD") from exc


def _monday(text: str) -> date:
    value = _date(text)
    if value.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{text} is not a Monday / 不是星期一")
    return value


def _one_of(valid: tuple[str, ...], what: str, what_cn: str):
    """An argparse type: the value must be one of ``valid``; otherwise a usage error listing them (exit 2)."""
    def check(text: str) -> str:
        if text in valid:
            return text
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}, valid: {', '.join(valid)} / "
                                         f"未知{what_cn}“{text}”，可选：{'、'.join(valid)}")
    check.__name__ = what
    return check


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zxjyck", description="广东省职业训练局报送邮箱服务 / zxjyck submission mailbox service")
    p.add_argument("--config", help="config file (default ./config.toml or $ZXJYCK_CONFIG)")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("-v", "--verbose", action="store_true", help="log each event to stderr")
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", help="create the store and the archive / 创建数据库与归档目录")
    sub.add_parser("migrate", help="bring the store's schema up to date / 升级数据库结构")
    sub.add_parser("run", help="the daemon / 常驻服务")
    sub.add_parser("poll", help="one full cycle and exit / 收取并处理一次")
    s = sub.add_parser("ingest", help="take messages from disk / 从磁盘导入邮件")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s = sub.add_parser("remind", help="late-submission reminders / 催报提醒")
    s.add_argument("--week", type=_monday, required=True, metavar="YYYY-MM-DD")
    s = sub.add_parser("digest", help="the staff digest / 每日汇总")
    s.add_argument("--date", type=_date, metavar="YYYY-MM-DD")
    s.add_argument("--send", action="store_true")
    s = sub.add_parser("messages", help="list stored messages / 邮件列表")
    s.add_argument("--status", type=_one_of(MESSAGE_STATUSES, "status", "状态"), metavar="|".join(MESSAGE_STATUSES))
    s.add_argument("--kind", type=_one_of(MESSAGE_KINDS, "kind", "类型"), metavar="|".join(MESSAGE_KINDS))
    s.add_argument("--city")
    s.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="received on that day (in schedule.timezone)")
    s.add_argument("--limit", type=int, default=200)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s = sub.add_parser("show", help="one message end to end / 查看邮件详情")
    s.add_argument("id", type=int)
    s = sub.add_parser("replay", help="process stored messages again / 重新处理")
    s.add_argument("ids", nargs="*", type=int, metavar="ID")
    s.add_argument("--status", type=_one_of(MESSAGE_STATUSES, "status", "状态"), metavar="|".join(MESSAGE_STATUSES))
    s = sub.add_parser("export", help="export state / 导出")
    s.add_argument("--format", choices=("json", "xlsx"))
    s.add_argument("--week", type=_monday, metavar="YYYY-MM-DD")
    s.add_argument("--applications", action="store_true")
    s.add_argument("--out", metavar="FILE")
    s.add_argument("--dossier", action="store_true", help="one folder and zip per application / 专家评审材料包")
    s.add_argument("--batch", metavar="NAME", help="with --dossier: only this batch / 仅导出该批次")
    s.add_argument("--from", dest="first", type=_monday, metavar="YYYY-MM-DD",
                   help="with --to: the range workbook from this week's Monday / 多周汇总起始周（周一）")
    s.add_argument("--to", dest="last", type=_monday, metavar="YYYY-MM-DD",
                   help="the Monday of the range's last week, included / 多周汇总最后一周（周一）")
    s.add_argument("--panel", action="store_true", help="with --format xlsx --batch: the panel sheet / 专家评审表")
    s = sub.add_parser("panel", help="the expert panel's verdicts / 专家评审结论")
    panel = s.add_subparsers(dest="panel_command", required=True, metavar="ACTION")
    i = panel.add_parser("import", help="read the returned panel sheet / 导入专家评审表")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="the panel's date (default today) / 评审日期")
    s = sub.add_parser("publish", help="the public list of a batch / 公布入选名单")
    s.add_argument("--batch", required=True, metavar="NAME")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="the date on the announcement (default today) / "
                                                                    "落款日期")
    s = sub.add_parser("week", help="close a week, revisions, outliers / 关闭报送周、修订、异常核实")
    weeks = s.add_subparsers(dest="week_command", required=True, metavar="ACTION")
    w = weeks.add_parser("close", help="close a week reported upward / 关闭已上报的报送周")
    w.add_argument("week", type=_monday, metavar="YYYY-MM-DD")
    weeks.add_parser("pending", help="revisions to accept and outliers to verify / 待接受修订与待核实异常")
    w = weeks.add_parser("accept", help="accept a revision of a closed week / 接受修订")
    w.add_argument("report_id", type=int, metavar="REPORT_ID")
    w = weeks.add_parser("verify", help="mark an outlier as checked (已核实) / 异常数据已核实")
    w.add_argument("report_id", type=int, metavar="REPORT_ID")
    s = sub.add_parser("status", help="health / 运行状态")
    s.add_argument("--alert", action="store_true",
                   help="also mail [alerts] to when the daemon has stopped, and when it is back (for a timer) / "
                        "常驻服务停止或恢复时通知管理员")
    s = sub.add_parser("outbox", help="notices that failed or bounced / 发送失败与退信的通知")
    notices = s.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    notices.add_parser("list", help="failed or bounced, not yet resent or dismissed / 待处理列表")
    o = notices.add_parser("resend", help="queue it again / 重新发送")
    o.add_argument("id", type=int, metavar="ID")
    o = notices.add_parser("dismiss", help="dealt with another way: no longer a fault / 标记为已处理")
    o.add_argument("id", type=int, metavar="ID")
    o.add_argument("--note", default="", help="why (kept in the audit) / 说明")
    s = sub.add_parser("check", help="prove the configuration end to end / 检查配置")
    s.add_argument("--send-test", metavar="ADDRESS", help="also send one test mail to ADDRESS")
    _add_console_commands(sub)
    # --- data protection: backup, restore, purge, erase, audit (ingest/cli/data.py) ---
    from ingest.cli import data

    data.add_commands(sub, _date)
    return p


def _add_console_commands(sub) -> None:
    """`user`, `city` and `web`: the staff console and what it shares with the command line."""
    s = sub.add_parser("user", help="console accounts / 控制台账号")
    users = s.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    u = users.add_parser("add", help="create an account; the password is read from stdin / 新建账号")
    u.add_argument("name")
    u.add_argument("--role", choices=("staff", "admin"), required=True)
    users.add_parser("list", help="list accounts / 账号列表")
    u = users.add_parser("disable", help="disable an account / 停用账号")
    u.add_argument("name")
    u = users.add_parser("passwd", help="set a new password, read from stdin / 重设密码")
    u.add_argument("name")
    s = sub.add_parser("city", help="registered addresses of the cities / 地市报送邮箱")
    cities = s.add_subparsers(dest="city_command", required=True, metavar="ACTION")
    cities.add_parser("list", help="list / 列表")
    for action, text in (("add", "register an address / 登记邮箱"), ("remove", "unregister an address / 删除邮箱")):
        c = cities.add_parser(action, help=text)
        c.add_argument("city", metavar="CITY")
        c.add_argument("address", metavar="ADDRESS")
    s = sub.add_parser("web", help="the staff console / 网页控制台")
    s.add_argument("--bind", metavar="HOST:PORT", help="default [web] bind or 127.0.0.1:8080")


def _setup_logging(args: argparse.Namespace) -> None:
    from zxjyck.text import log_formatter

    level = logging.DEBUG if args.debug else logging.INFO if (args.verbose or args.command == "run") else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)  # sender text stripped; tracebacks only with --debug
    handler.setFormatter(log_formatter(debug=args.debug))  # [log] format once the settings are read
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    for noisy in ("pdfminer", "alembic", "apscheduler.executors", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _use_log_settings(settings, debug: bool) -> None:
    """[log] format and the configured zone for every line from here on (the handler made by _setup_logging)."""
    from zxjyck.calendar import zone
    from zxjyck.text import SafeLogFormatter, log_formatter

    formatter = log_formatter(settings.log.format, debug=debug, tz=zone(settings.schedule.timezone))
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, SafeLogFormatter):
            handler.setFormatter(formatter)


def _settings(args: argparse.Namespace):
    from ingest.config import load_settings

    settings = load_settings(args.config)
    _use_log_settings(settings, args.debug)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ingest.pipeline import charsets
    from zxjyck.text import strip_controls

    charsets.install()  # before anything looks a GB-family label up (and caches it): every service starts here
    _setup_logging(args)
    try:
        from ingest.cli import data  # data protection commands

        return {**COMMANDS, **data.COMMANDS}[args.command](args)
    except UsageError as exc:
        err.print(f"zxjyck: {exc}")
        return 2
    except ZxjyckError as exc:  # every package's errors: a reason for people, one line
        if args.debug:
            err.print_exception()
        err.print(f"zxjyck: error: {strip_controls(str(exc))}", markup=False)
        return exc.exit_code  # 3: the mailbox is being polled by another live process
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if args.debug:
            err.print_exception()
        err.print(f"zxjyck: internal error: {exc.__class__.__name__}: {strip_controls(str(exc))} "
                  "(run with --debug for details)",
                  markup=False)
        return 1


def _app(args: argparse.Namespace) -> App:
    from ingest.app import open_app

    # only init/migrate/run/poll/ingest create or migrate the store; the others need it there, current
    return open_app(_settings(args), create=args.command in CREATING_COMMANDS)


def _summary(report: IngestReport) -> None:
    from zxjyck.text import for_terminal

    table = _table(title="本次处理 / This run", show_header=False)
    table.add_row("读取 Seen", str(report.seen))
    table.add_row("新邮件 New", str(report.new))
    table.add_row("重复 Already stored", str(report.duplicates))
    for status, n in sorted(report.processed.items()):
        table.add_row(with_code(MESSAGE_STATUS, status), str(n))
    for problem in report.unreadable[:10]:
        table.add_row("无法读取 Unreadable", for_terminal(problem))
    out.print(table)


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.runtime.poll import ingest_paths
    from ingest.sources.local import check_paths

    with _app(args) as app:
        check_paths(args.paths)
        if err.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn

            with Progress(SpinnerColumn(), TextColumn("导入 ingesting… {task.completed} 封"),
                          console=_console(stderr=True), transient=True) as bar:
                task = bar.add_task("ingest", total=None)
                report = ingest_paths(app, args.paths, progress=lambda: bar.advance(task))
        else:
            report = ingest_paths(app, args.paths)
    _summary(report)
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from ingest.runtime.poll import poll

    with _app(args) as app:
        report = poll(app)
    _summary(report)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ingest.cli.lifecycle import init

    for line in init(args.config):
        out.print(line, markup=False)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ingest.cli.lifecycle import migrate

    out.print(migrate(args.config), markup=False)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ingest.runtime.daemon import run_daemon

    settings = _settings(args)
    for warning in settings.config_warnings:  # e.g. a password in a config file others may read
        logging.getLogger("zxjyck").warning("%s", warning)
    return run_daemon(settings)


def cmd_messages(args: argparse.Namespace) -> int:
    from ingest.outputs.queries import MessageFilter, list_messages
    from zxjyck.text import for_terminal

    with _app(args) as app:
        cal = app.settings.schedule.calendar()
        since, until = cal.day_bounds(args.date) if args.date else (None, None)
        rows = list_messages(app, MessageFilter(args.status, args.kind, args.city, since, until,
                                                               args.limit))
    if args.json:
        import json

        from ingest.outputs.export import message_dict

        fields = ("id", "received_at", "from", "subject", "kind", "status", "city", "problems")
        docs = (message_dict(m, (), cal.tz) for m in rows)
        print(json.dumps([{k: doc[k] for k in fields} for doc in docs], ensure_ascii=False, indent=1))
        return 0
    table = _table(title=f"邮件 Messages ({len(rows)})")
    for col in ("ID", "收到时间 Received", "发件人 From", "主题 Subject", "类型 Kind", "状态 Status", "问题 Problems"):
        table.add_column(col, overflow="fold")
    for m in rows:
        table.add_row(str(m.id), cal.local(m.received_at).strftime("%Y-%m-%d %H:%M"),
                      for_terminal(m.from_addr), for_terminal(m.subject[:60]), m.kind or "-", m.status,
                      str(len(m.problems)) if m.problems else "")
    out.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ingest.outputs.queries import message_detail
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        detail = message_detail(app, args.id)
        audit(app, actor_name(), "view_message", "zxjyck show", args.id)  # reads of personal data are logged
    from ingest.cli.show import render_detail

    render_detail(_console(), detail, app.settings.schedule.calendar().tz)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from ingest.workflows.staff import replay

    if bool(args.ids) == bool(args.status):
        raise UsageError("replay takes message IDs or --status S, not both and not neither / "
                         "replay 需要邮件 ID 或 --status 状态，二者选一")
    with _app(args) as app:
        results = replay(app, args.ids or None, args.status)
    table = _table(title=f"重新处理 Replayed ({len(results)})")
    table.add_column("ID")
    table.add_column("状态 Status")
    for pk, status in results.items():
        table.add_row(str(pk), with_code(MESSAGE_STATUS, status))
    out.print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.dossier:
        return cmd_export_dossier(args)
    if args.format is None:
        raise UsageError("export needs --format json|xlsx or --dossier")
    if args.panel:
        return cmd_export_panel(args)
    if args.batch:
        raise UsageError("--batch goes with --dossier or --format xlsx --panel")
    if args.format == "json":
        import json

        from ingest.outputs.export import export_state
        from ingest.workflows.staff import actor_name, audit

        with _app(args) as app:
            cal = app.settings.schedule.calendar()
            doc = export_state(app.engine, cal.tz, app.settings.applications.require_stamped_form, calendar=cal,
                               now=app.now())
            audit(app, actor_name(), "export", "json (stdout)")
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return 0
    if args.first or args.last:
        return cmd_export_range(args)
    if not args.out or bool(args.week) == bool(args.applications):
        raise UsageError("export --format xlsx needs --out FILE and either --week YYYY-MM-DD or --applications / "
                         "导出 xlsx 需要 --out 文件名，并指定 --week YYYY-MM-DD（周报汇总）或 --applications（平台申报）之一")
    from ingest.outputs.workbooks import export_workbook
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        path = export_workbook(app, args.out, week=args.week, applications=args.applications)
        audit(app, actor_name(), "export", f"xlsx {'applications' if args.applications else args.week}"
                      f" -> {path}")
    out.print(f"已写出 written: {path}")
    return 0


def cmd_export_range(args: argparse.Namespace) -> int:
    if args.format != "xlsx" or not args.out or not (args.first and args.last) or args.week or args.applications:
        raise UsageError("export --format xlsx --from YYYY-MM-DD --to YYYY-MM-DD --out FILE (both Mondays) / "
                         "多周汇总需要 --format xlsx --from 周一 --to 周一 --out 文件名")
    from ingest.outputs.range_workbook import export_range_workbook, on_time_sheet
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        path = export_range_workbook(app, args.out, args.first, args.last,
                                     on_time_sheet(app.settings.schedule.calendar()))
        audit(app, actor_name(), "export", f"xlsx {args.first}..{args.last} -> {path}")
    out.print(f"已写出 written: {path}")
    return 0


def cmd_week(args: argparse.Namespace) -> int:
    from ingest.outputs.week_status import pending_checks
    from ingest.workflows import staff as actions
    from ingest.workflows.staff import actor_name

    with _app(args) as app:
        if args.week_command == "close":
            closed = actions.close_week(app, actor_name(), args.week)
            out.print(f"已关闭 closed: {closed.week_start}；此后收到的该周周报须经工作人员接受 / later reports for "
                      "this week wait for staff", markup=False)
        elif args.week_command == "accept":
            actions.accept_revision(app, actor_name(), args.report_id)
            out.print(f"已接受修订 revision accepted: {args.report_id}", markup=False)
        elif args.week_command == "verify":
            actions.verify_report(app, actor_name(), args.report_id)
            out.print(f"已核实 verified: {args.report_id}", markup=False)
        else:
            table = _table(title="待处理 Waiting for staff")
            for col in ("周报 Report", "地市 City", "周 Week", "事项 What", "人数 People"):
                table.add_column(col)
            for item in pending_checks(app.engine):
                table.add_row(str(item.report_id), item.city, str(item.week_start), item.what, item.people)
            out.print(table)
    return 0


def cmd_export_dossier(args: argparse.Namespace) -> int:
    if args.format or args.week or args.applications or args.panel or not args.out:
        raise UsageError("export --dossier takes --out DIR and optionally --batch NAME, nothing else")
    from ingest.outputs.dossier_export import export_dossiers
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        report = export_dossiers(app, args.out, batch=args.batch)
        audit(app, actor_name(), "export", f"dossier {args.batch or 'all'} -> {args.out}")
    for folder in report.folders:
        out.print(f"已写出 written: {folder} (+ .zip)", markup=False)
    out.print(f"共 {len(report.folders)} 件申报 applications exported; "
              f"{report.skipped_incomplete} 件材料未齐未导出 incomplete ones skipped", markup=False)
    return 0


def cmd_export_panel(args: argparse.Namespace) -> int:
    if args.format != "xlsx" or not args.batch or not args.out or args.week or args.applications:
        raise UsageError("export --panel needs --format xlsx --batch NAME --out FILE, nothing else / "
                         "导出专家评审表需要 --format xlsx --batch 批次 --out 文件名")
    from ingest.outputs.panel_sheet import export_panel_sheet
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        path = export_panel_sheet(app, args.batch, args.out)
        audit(app, actor_name(), "export", f"panel sheet {args.batch} -> {path}")
    out.print(f"已写出 written: {path}", markup=False)
    return 0


def cmd_panel(args: argparse.Namespace) -> int:
    from ingest.workflows.panel import import_panel_sheet
    from ingest.workflows.staff import actor_name
    from zxjyck.text import for_terminal

    with _app(args) as app:
        result = import_panel_sheet(app, actor_name(), args.file, args.date)
    for line in result.refused:
        out.print(f"未导入 refused: {for_terminal(line)}", markup=False)
    out.print(f"新录入 recorded {len(result.recorded)}，更改 changed {len(result.changed)}，"
              f"未变 unchanged {result.unchanged}，未填结论 blank {result.blank}，未导入 refused {len(result.refused)}",
              markup=False)
    if result.nothing_changed:
        out.print("没有变化 / nothing changed", markup=False)
    return 1 if result.refused else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ingest.outputs.public_list import PublicList, write_public_list
    from ingest.workflows.publication import publish
    from ingest.workflows.staff import actor_name
    from zxjyck.text import for_terminal

    with _app(args) as app:
        result = publish(app, actor_name(), args.batch, args.date)
        paths = write_public_list(PublicList(result.title, app.settings.notify.bureau_name, result.issued_on,
                                             result.rows), args.out)
        outcome = app.settings.applications.notify_outcome
    out.print(f"{result.title}：{len(result.rows)} 个平台 platforms；{result.describe()}", markup=False)
    for path in paths:
        out.print(f"已写出 written: {path}", markup=False)
    if outcome:
        out.print(f"评审结果通知 outcome notices queued: {result.outcome_queued}（随下一次收发送出 / sent with the "
                  "next cycle）", markup=False)
        for name in result.outcome_without_address:
            out.print(f"无已确认的收件地址，未通知 no verified address: {for_terminal(name)}", markup=False)
        for name in result.told_otherwise:
            out.print(f"已通知的结果与现结论不同，请另行告知 told a different result before: {for_terminal(name)}",
                      markup=False)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ingest.runtime.health import health
    from zxjyck.text import for_terminal

    with _app(args) as app:
        if args.alert:
            from ingest.runtime.alerts import watchdog

            watch = watchdog(app)
            h = watch.health
        else:
            h = health(app)
    table = _table(title="运行状态 Status", show_header=False)
    table.add_row("邮件总数 Messages", str(h.total))
    for status, n in sorted(h.counts.items()):
        table.add_row(with_code(MESSAGE_STATUS, status), str(n))
    table.add_row("积压 Backlog", str(h.backlog))
    last = h.last_ok_poll
    table.add_row("最近成功收取 Last good poll",
                  last.finished_at.astimezone(app.settings.schedule.calendar().tz).strftime("%Y-%m-%d %H:%M:%S")
                  if last and last.finished_at
                  else "从未 never")
    tz = app.settings.schedule.calendar().tz
    table.add_row("常驻服务心跳 Daemon heartbeat",
                  h.last_beat.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if h.last_beat else "无 none")
    for source, marking in sorted(h.markings.items()):
        table.add_row(f"标记方式 Marking {source}", marking)
    for state, n in sorted(h.outbox.items()):
        table.add_row(f"发件箱 Outbox {state}", str(n))
    for problem in h.problems:
        table.add_row("[red]问题 Problem[/red]", for_terminal(problem))
    if h.unresolved:
        table.add_row("待处理通知 Notices to deal with", f"{h.unresolved} (zxjyck outbox list)")
    table.add_row("结论 Verdict", "正常 healthy" if h.healthy else "[red]异常 unhealthy[/red]")
    out.print(table)
    if args.alert:
        for key, change in watch.changes:
            out.print(f"告警 alert {key}: {'开始 started' if change == 'start' else '恢复 cleared'}", markup=False)
        if watch.sent:
            out.print(f"已发送告警邮件 alert mail sent: {watch.sent}", markup=False)
        for reason in watch.unsent:
            err.print(f"告警邮件未能发出，下次重试 alert mail not sent, retried next run: {for_terminal(reason)}",
                      markup=False)
        if not app.settings.alerts.to:
            err.print("未配置 [alerts] to：不发送告警邮件 / no [alerts] to: no alert mail", markup=False)
        elif app.settings.smtp is None:
            err.print(f"未配置 [smtp]：告警邮件只写入 {app.settings.outbox_dir} / no [smtp]: alerts are only written "
                      "as .eml files", markup=False)
    return 0 if h.healthy else 1


def cmd_outbox(args: argparse.Namespace) -> int:
    from ingest.workflows import staff as actions
    from ingest.workflows.staff import actor_name
    from zxjyck.text import for_terminal

    with _app(args) as app:
        if args.outbox_command == "resend":
            actions.resend_notice(app, actor_name(), args.id)
            out.print(f"已重新排队 queued again: {args.id}", markup=False)
        elif args.outbox_command == "dismiss":
            actions.dismiss_notice(app, actor_name(), args.id, args.note)
            out.print(f"已标记为已处理 dismissed: {args.id}", markup=False)
        else:
            table = _table(title="发送失败与退信 Failed or bounced notices")
            for col in ("ID", "类型 Kind", "收件人 To", "主题 Subject", "状态 Status", "原因 Reason"):
                table.add_column(col, overflow="fold")
            for row in actions.list_notice_problems(app):
                table.add_row(str(row.id), row.kind, for_terminal(", ".join(row.to)), for_terminal(row.subject[:60]),
                              "退信 bounced" if row.bounced else "失败 failed", for_terminal(row.reason[:200]))
            out.print(table)
    return 0


def cmd_remind(args: argparse.Namespace) -> int:
    from ingest.workflows.reminders import send_reminders
    from ingest.workflows.staff import actor_name, audit

    with _app(args) as app:
        result = send_reminders(app, args.week)
        audit(app, actor_name(), "remind", f"week {args.week}: queued {', '.join(result.queued) or '-'}")
    out.print(str(result), markup=False, highlight=False)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from ingest.outputs.digest import digest_command
    from ingest.workflows.staff import actor_name, audit
    from zxjyck.text import strip_controls

    with _app(args) as app:
        text = digest_command(app, args.date, send=args.send)
        if args.send:
            audit(app, actor_name(), "digest", f"sent digest for {args.date or 'today'}")
    out.print(strip_controls(text, keep_newlines=True), markup=False)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from ingest.cli.check import all_required_pass, run_checks

    results = run_checks(args.config, send_test=args.send_test)
    table = _table(title="配置检查 Configuration check")
    for col in ("检查 Check", "结果 Result", "说明 Detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        verdict = "[green]通过 OK[/green]" if r.ok else "[red]失败 FAIL[/red]" if r.required else "[yellow]提示 WARN[/yellow]"
        table.add_row(escape(r.name), verdict, escape(r.detail))
    out.print(table)
    passed = all_required_pass(results)
    out.print("全部必需检查通过 / all required checks passed" if passed else "[red]有必需检查未通过 / required checks failed[/red]")
    return 0 if passed else 1


def _read_password(prompt: str) -> str:
    """From a terminal without echo (asked twice), else the first line of standard input."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("再输入一次 Repeat: ") != first:
            raise UsageError("两次输入的密码不一致 / the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args: argparse.Namespace) -> int:
    from ingest.workflows import staff as actions
    from ingest.workflows.staff import actor_name

    with _app(args) as app:
        if args.user_command == "list":
            table = _table(title="控制台账号 Console users")
            for col in ("用户 User", "角色 Role", "状态 State", "最近登录 Last login"):
                table.add_column(col)
            for u in actions.list_users(app):
                table.add_row(u.name, u.role, "停用 disabled" if u.disabled else "启用 enabled",
                              u.last_login_at.astimezone(app.settings.schedule.calendar().tz).strftime(
                                  "%Y-%m-%d %H:%M") if u.last_login_at
                              else "-")
            out.print(table)
        elif args.user_command == "add":
            actions.add_user(app, actor_name(), args.name, args.role, _read_password("密码 Password"))
            out.print(f"已创建账号 user created: {args.name} ({args.role})", markup=False)
        elif args.user_command == "disable":
            actions.disable_user(app, actor_name(), args.name)
            out.print(f"已停用 disabled: {args.name}", markup=False)
        else:
            actions.set_password(app, actor_name(), args.name, _read_password("新密码 New password"))
            out.print(f"已更新密码 password changed: {args.name}", markup=False)
    return 0


def cmd_city(args: argparse.Namespace) -> int:
    from ingest.workflows import staff as actions
    from ingest.workflows.staff import actor_name
    from zxjyck.text import for_terminal

    with _app(args) as app:
        if args.city_command == "list":
            table = _table(title="地市报送邮箱 Registered addresses")
            table.add_column("地市 City")
            table.add_column("邮箱 Addresses")
            for city, addresses in actions.list_city_addresses(app).items():
                table.add_row(city, for_terminal("\n".join(addresses), keep_newlines=True))
            out.print(table)
        elif args.city_command == "add":
            done = actions.add_city_address(app, actor_name(), args.city, args.address)
            out.print(("已登记 registered: " if done else "已是登记邮箱 already registered: ")
                      + f"{args.city} {args.address}", markup=False)
        else:
            done = actions.remove_city_address(app, actor_name(), args.city, args.address)
            if not done:
                raise actions.UnknownRecord(f"{args.city} 没有登记 {args.address} / not registered")
            out.print(f"已删除 removed: {args.city} {args.address}", markup=False)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from web.server import serve

    return serve(_settings(args), args.bind)


COMMANDS = {"init": cmd_init, "migrate": cmd_migrate, "check": cmd_check, "ingest": cmd_ingest, "poll": cmd_poll, "run": cmd_run, "messages": cmd_messages, "show": cmd_show,
            "replay": cmd_replay, "export": cmd_export, "status": cmd_status, "remind": cmd_remind,
            "digest": cmd_digest, "outbox": cmd_outbox, "user": cmd_user, "city": cmd_city, "web": cmd_web,
            "panel": cmd_panel, "publish": cmd_publish, "week": cmd_week}

if __name__ == "__main__":
    raise SystemExit(main())
