"""`zxjyck check`: prove a configuration end to end before anyone relies on it.

Each check gives one ``CheckResult`` (one line of detail, never a traceback).
``required`` checks decide the exit status; the others (LibreOffice) only inform.
The city table check is a plain function of a mapping {city: [addresses]}, so it
can be fed from the configuration now and from the store later.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from ingest.config import ConfigError, Settings, load_settings
from parsers.cities import GUANGDONG_CITIES
from zxjyck.text import strip_controls

log = logging.getLogger(__name__)

@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    required: bool = True


def one_line(text: object) -> str:
    """One line for the table: servers' answers and registered addresses lose terminal escapes and controls."""
    return " ".join(strip_controls(str(text)).split())[:500]


# --------------------------------------------------------------------------- the city table


def check_city_table(cities: Mapping[str, Sequence[str]]) -> list[str]:
    """Problems of a {city: [addresses]} table (empty: fine): every one of Guangdong's 21
    cities with at least one well-formed address, no unknown city name, no address under
    two cities. Messages are in Chinese with English, one per problem."""
    problems: list[str] = []
    for name in cities:
        if name not in GUANGDONG_CITIES:
            guess = f"{name}市" if f"{name}市" in GUANGDONG_CITIES else None
            hint = f"（是否应为“{guess}”？ did you mean {guess}?）" if guess else ""
            problems.append(f"未知城市名“{name}”{hint} / unknown city {name!r}")
    missing = [city for city in GUANGDONG_CITIES if not [a for a in cities.get(city, ()) if a.strip()]]
    if missing:
        problems.append(f"{len(missing)} 个城市没有登记邮箱：{'、'.join(missing)} / "
                        f"{len(missing)} cities without an address")
    owners: dict[str, list[str]] = {}
    for city, addresses in cities.items():
        for address in addresses:
            key = address.strip().lower()
            if not key:
                continue
            _name, parsed = parseaddr(key)
            if parsed != key or "@" not in key or key.startswith("@") or key.endswith("@") or " " in key:
                problems.append(f"{city} 的邮箱“{address}”格式不正确 / malformed address {address!r}")
            if city not in owners.setdefault(key, []):
                owners[key].append(city)
    for address, owner_cities in owners.items():
        if len(owner_cities) > 1:
            problems.append(f"邮箱 {address} 同时登记在 {'、'.join(owner_cities)} / address under two cities")
    return problems


# --------------------------------------------------------------------------- the checks


def run_checks(config_path: str | None, *, send_test: str | None = None,
               environ: Mapping[str, str] | None = None) -> list[CheckResult]:
    try:
        settings = load_settings(config_path, environ=environ)
    except ConfigError as exc:
        return [CheckResult("配置 Config", False, one_line(exc))]
    results = [CheckResult("配置 Config", True, str(settings.path))]
    results += [CheckResult("配置文件权限 Config file mode", False, one_line(w), False)
                for w in settings.config_warnings]
    results.append(_guard("数据库 Store", lambda: _check_store(settings)))
    for label, folder in (("归档目录 Archive folder", settings.archive_dir),
                          ("发件目录 Outbox folder", settings.outbox_dir)):
        results.append(_guard(label, lambda folder=folder: _check_writable(folder)))
    for account in settings.imap_accounts():
        results.extend(_check_imap(account))
    if not settings.imap_accounts():
        results.append(CheckResult("IMAP", True, f"未配置，读取本地邮件目录 {settings.maildir} / "
                                                 "not configured: the local Maildir is read", False))
    results.extend(_check_smtp(settings, send_test))
    results.append(CheckResult("告警 Alerts", bool(settings.alerts.to),
                               f"发往 to: {', '.join(settings.alerts.to)}" if settings.alerts.to else
                               "未配置 [alerts] to：服务异常时不会通知任何人 / nobody is mailed when the service is "
                               "unwell", False))
    results.append(_check_libreoffice())
    cities, source = _registered_cities(settings)
    problems = check_city_table(cities)
    results.append(CheckResult(f"城市邮箱表 Cities（{source}）", not problems,
                               "；".join(problems[:8]) + (f"（另有 {len(problems) - 8} 项 / and more）"
                                                         if len(problems) > 8 else "")
                               if problems else f"{len(GUANGDONG_CITIES)} 个地级市均已登记 / all 21 cities"))
    return results


def _registered_cities(settings: Settings) -> tuple[Mapping[str, Sequence[str]], str]:
    """The registered addresses the service routes by: the store's table (seeded from ``[cities]``).

    When the store cannot be opened (its own check fails above), the configured seed is checked instead."""
    from ingest.app import open_app

    try:
        app = open_app(settings, create=False)
    except Exception as exc:  # noqa: BLE001 - the store's failure is already a row of the table
        log.info("city table read from the configuration: %s", one_line(exc))
        return settings.cities, "config.toml"
    try:
        return app.registered_cities(), "数据库 store"
    finally:
        app.close()


def _guard(name: str, check: Callable[[], str], required: bool = True) -> CheckResult:
    try:
        return CheckResult(name, True, one_line(check()), required)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line in the table
        return CheckResult(name, False, one_line(exc) or exc.__class__.__name__, required)


def _check_store(settings: Settings) -> str:
    """The store is there at this build's schema (check creates and migrates nothing: init and migrate do)."""
    from store.db import make_engine, redact, require_schema

    engine = make_engine(settings.store_url, create_dirs=False)
    try:
        return f"{redact(settings.store_url)} schema {require_schema(engine)}"
    finally:
        engine.dispose()


def _check_writable(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".zxjyck-check-") as handle:
        handle.write(b"ok")
        handle.flush()
        os.fsync(handle.fileno())
    return f"{folder} 可写 / writable"


def _check_imap(account) -> list[CheckResult]:  # noqa: ANN001 - ingest.config.ImapSettings
    from imapclient import exceptions as imap_exc

    from ingest.sources.imap import choose_strategy
    from ingest.sources.imap_connection import TRANSIENT_ERRORS, connect, logout_quietly
    from ingest.sources.imap_errors import ImapAuthError, ImapTlsError
    from notify.transport import LOGIN_HINT

    where = f"{account.host}:{account.port}"
    label = f"IMAP {account.host} ({account.username})"
    try:
        client = connect(account)
    except ImapAuthError as exc:
        return [CheckResult(f"{label} 登录 login", False, one_line(f"{exc}{LOGIN_HINT}"))]
    except ImapTlsError as exc:
        return [CheckResult(f"{label} TLS", False, one_line(exc))]
    except TRANSIENT_ERRORS as exc:
        return [CheckResult(f"{label} 连接 connect", False, one_line(f"{where} unreachable / 无法连接: {exc}"))]
    except Exception as exc:  # noqa: BLE001
        return [CheckResult(f"{label} 连接 connect", False, one_line(f"{where}: {exc}"))]
    security = {"tls": "TLS, certificate verified / 证书有效", "starttls": "STARTTLS, certificate verified",
                "none": "no TLS / 未加密"}[account.security]
    results = [CheckResult(f"{label} 连接与登录 connect+login", True, f"{where}, {security}")]
    try:
        server_id = getattr(client, "zxjyck_server_id", None)
        if client.has_capability("ID"):
            results.append(CheckResult(f"{label} ID", server_id is not None,
                                       f"server: {server_id}" if server_id is not None else "ID refused"))
        else:
            results.append(CheckResult(f"{label} ID", True, "server offers no ID / 服务器不支持 ID", False))
        caps = sorted(c.decode() for c in client.capabilities())
        wanted = [c for c in ("IDLE", "MOVE", "UIDPLUS", "ID") if c in caps]
        results.append(CheckResult(f"{label} 能力 capabilities", True,
                                   f"{' '.join(wanted) or '-'}（共 {len(caps)} 项 / {len(caps)} in all）", False))
        info: dict = {}
        for folder, must_exist in ((account.folder, True), (account.processed_folder, False),
                                   (getattr(account, "sent_folder", None), False)):
            if not folder:
                continue
            name = f"{label} 文件夹 folder “{folder}”"
            try:
                if not must_exist and not client.folder_exists(folder):
                    results.append(CheckResult(name, True, "不存在，首次使用时创建 / created when first needed"))
                    continue
                selected = client.select_folder(folder)
                if folder == account.folder:
                    info = selected
                results.append(CheckResult(name, True, f"SELECT OK, {int(selected.get(b'EXISTS', 0))} 封 messages"))
            except imap_exc.IMAPClientError as exc:
                results.append(CheckResult(name, False, one_line(f"SELECT refused: {exc}")))
        if info:
            strategy = choose_strategy(client.has_capability, info.get(b"PERMANENTFLAGS", ()),
                                       account.processed_folder)
            waiting = "IDLE" if client.has_capability("IDLE") else \
                f"NOOP every {getattr(account, 'poll_interval_seconds', 60)} s"
            results.append(CheckResult(f"{label} 标记方式 marking", True,
                                       f"{strategy.describe()}; waiting: {waiting}"))
    except Exception as exc:  # noqa: BLE001
        results.append(CheckResult(f"{label}", False, one_line(exc)))
    finally:
        logout_quietly(client)
    return results


def _check_smtp(settings: Settings, send_test: str | None) -> list[CheckResult]:
    from ingest.outbound import transport_settings
    from notify.outbox import build_transport

    smtp = settings.smtp
    if smtp is None:
        detail = f"未配置，通知写入 {settings.outbox_dir} / not configured: notices are written as .eml files"
        results = [CheckResult("SMTP", True, detail, False)]
        if send_test:
            results.append(CheckResult("SMTP 测试邮件 test mail", False, "没有 [smtp]，无法发送 / no [smtp] section"))
        return results
    transport = build_transport(transport_settings(settings))
    label = f"SMTP {smtp.host}:{smtp.port}"
    if not send_test:
        return [_guard(f"{label} 连接与登录 connect+login",
                       lambda: f"{smtp.security}, " + (f"logged in as {smtp.username}" if smtp.username
                                                       else "no login configured") + f"; {transport.verify()}")]

    def send() -> str:
        msg = EmailMessage()
        msg["From"] = smtp.sender
        msg["To"] = send_test
        msg["Subject"] = "zxjyck 配置检查测试邮件 / configuration check"
        msg["Date"] = format_datetime(datetime.now().astimezone())
        msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or "zxjyck.local")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content("这是 zxjyck check 发出的测试邮件，无需回复。\nThis is a test mail from zxjyck check.\n")
        result = transport.send(msg)
        if result.refused:
            raise RuntimeError(f"refused: {result.refused}")
        return f"已发送至 sent to {send_test} ({result.message_id})"

    return [_guard(f"{label} 测试邮件 test mail", send)]


def _check_libreoffice() -> CheckResult:
    from parsers.formats.convert import soffice_path

    found = soffice_path()
    detail = found or ("未找到：.doc/.wps/.et/.rtf 等旧格式附件无法转换，需人工处理 / "
                       "not found: .doc/.wps/.et/.rtf attachments cannot be converted and wait for staff")
    return CheckResult("LibreOffice", bool(found), detail, required=False)


def all_required_pass(results: Sequence[CheckResult]) -> bool:
    return all(r.ok for r in results if r.required)
