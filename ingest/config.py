"""Configuration: ``config.toml`` read once, at start, into typed settings.

Keys are exactly those of ``CONTRACT.md`` (plus the documented additions
below). An unknown key or a value of the wrong type is an error naming the key
and the file. Secrets may come from ``ZXJYCK_IMAP_PASSWORD``,
``ZXJYCK_SMTP_PASSWORD`` and ``ZXJYCK_STORE_URL``; the environment is read
here and nowhere else (house rule 5). Relative paths, including a relative
SQLite file in ``store.url``, are relative to the folder of the config file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ingest.errors import IngestError

DEFAULT_CONFIG = "config.toml"


class ConfigError(IngestError):
    """The configuration file is missing, unreadable or invalid."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SourceSettings(_Section):
    maildir: str = "mailbox"


class ImapSettings(_Section):
    host: str
    port: int = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password: SecretStr = SecretStr("")
    folder: str = "INBOX"
    processed_folder: str | None = None  # move ingested mail there (default: only flag it)
    batch_size: int = Field(200, ge=1, le=5000)
    timeout_seconds: float = Field(60, gt=0)
    idle_seconds: int = Field(25 * 60, ge=10, le=29 * 60)  # IDLE renewed before the 29-minute limit
    poll_interval_seconds: int = Field(60, ge=1)  # when the server has no IDLE
    ca_file: str | None = None  # extra CA bundle to trust (self-hosted servers)


class SmtpSettings(_Section):
    host: str
    port: int = 465
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    timeout_seconds: float = Field(30, gt=0)
    ca_file: str | None = None


class StoreSettings(_Section):
    url: SecretStr = SecretStr("sqlite:///var/zxjyck.db")
    archive_dir: str = "var/archive"


class NotifySettings(_Section):
    reply_window_days: int = Field(7, ge=0)
    outbox_dir: str = "var/outbox"
    max_per_sender_per_day: int = Field(5, ge=0)
    max_attempts: int = Field(8, ge=1)
    bureau_name: str = "广东省职业训练局"
    contact_line: str = "联系邮箱：zxjyck@163.com"
    sender: str = "zxjyck@163.com"  # our address when there is no [smtp]; also never replied to


class StaffSettings(_Section):
    digest_to: list[str] = []
    digest_time: str = "08:30"  # Asia/Shanghai

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        return _check_hhmm(value)


class ScheduleSettings(_Section):
    timezone: str = "Asia/Shanghai"
    deadline_weekday: int = Field(0, ge=0, le=6)  # 0 = Monday, the day after the reporting week
    deadline_time: str = "16:00"

    @field_validator("deadline_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        return _check_hhmm(value)


class WebSettings(_Section):
    bind: str = "127.0.0.1:8080"  # HOST:PORT of the staff console (zxjyck web)
    session_hours: float = Field(12, gt=0, le=24 * 31)  # a console session ends this long after login

    @field_validator("bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_bind(value)
        return value


def parse_bind(value: str) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 as "[::1]:8080") -> (host, port); ValueError when malformed."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def _check_hhmm(value: str) -> str:
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
        raise ValueError("must be a time HH:MM")
    return value


class _File(_Section):
    source: SourceSettings = SourceSettings()
    imap: ImapSettings | None = None
    mailboxes: list[ImapSettings] = []  # more IMAP mailboxes/folders, each as [imap] ([[mailboxes]] tables)
    smtp: SmtpSettings | None = None
    store: StoreSettings = StoreSettings()
    notify: NotifySettings = NotifySettings()
    staff: StaffSettings = StaffSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    cities: dict[str, list[str]] = {}
    web: WebSettings = WebSettings()


@dataclass(frozen=True)
class Settings:
    """Everything the service needs, resolved: absolute paths, secrets merged in."""

    path: Path
    base_dir: Path
    maildir: Path
    imap: ImapSettings | None
    smtp: SmtpSettings | None
    store_url: str
    archive_dir: Path
    outbox_dir: Path
    notify: NotifySettings
    staff: StaffSettings
    schedule: ScheduleSettings
    cities: Mapping[str, tuple[str, ...]]
    mailboxes: tuple[ImapSettings, ...] = ()
    web: WebSettings = WebSettings()

    def imap_accounts(self) -> list[ImapSettings]:
        """Every IMAP mailbox to read: [imap] first, then each [[mailboxes]] entry."""
        return [m for m in (self.imap, *self.mailboxes) if m is not None]

    def our_addresses(self) -> set[str]:
        found = {self.notify.sender.lower()}
        if self.smtp:
            found.add(self.smtp.sender.lower())
        for account in self.imap_accounts():
            if "@" in account.username:
                found.add(account.username.lower())
        return found

    def city_of_address(self, address: str) -> str | None:
        address = address.strip().lower()
        for city, addresses in self.cities.items():
            if address in addresses:
                return city
        return None


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{key}' / 未知配置项 '{key}'")
        else:
            lines.append(f"{path}: key '{key}': {err['msg']} / 配置项 '{key}' 取值无效")
    return "; ".join(lines)


def _resolve_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix):]).resolve())
    return url


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration file; raise ConfigError naming the key and the file."""
    env = os.environ if environ is None else environ
    cfg_path = Path(path or env.get("ZXJYCK_CONFIG") or DEFAULT_CONFIG).expanduser()
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{cfg_path}: configuration file not found / 找不到配置文件") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: not valid TOML: {exc} / 配置文件格式错误") from exc
    data = _merge_secrets(data, env)
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(cfg_path, exc)) from exc
    base = cfg_path.resolve().parent
    imap, smtp = _with_ca(parsed.imap, base), _with_ca(parsed.smtp, base)
    if imap is None and parsed.mailboxes:
        raise ConfigError(f"{cfg_path}: [[mailboxes]] needs an [imap] section first / 请先配置 [imap]")
    return Settings(
        path=cfg_path.resolve(),
        base_dir=base,
        maildir=(base / parsed.source.maildir).resolve(),
        imap=imap,
        smtp=smtp,
        store_url=_resolve_url(parsed.store.url.get_secret_value(), base),
        archive_dir=(base / parsed.store.archive_dir).resolve(),
        outbox_dir=(base / parsed.notify.outbox_dir).resolve(),
        notify=parsed.notify,
        staff=parsed.staff,
        schedule=parsed.schedule,
        cities={city: tuple(a.strip().lower() for a in addrs) for city, addrs in parsed.cities.items()},
        mailboxes=tuple(_with_ca(m, base) for m in parsed.mailboxes),
        web=parsed.web,
    )


def _with_ca(section, base: Path):
    """The section with its ca_file made absolute (relative to the config file's folder)."""
    if section is None or not section.ca_file:
        return section
    return section.model_copy(update={"ca_file": str((base / section.ca_file).resolve())})


def _merge_secrets(data: dict, env: Mapping[str, str]) -> dict:
    data = dict(data)
    for section, key, var in (("imap", "password", "ZXJYCK_IMAP_PASSWORD"),
                              ("smtp", "password", "ZXJYCK_SMTP_PASSWORD"),
                              ("store", "url", "ZXJYCK_STORE_URL")):
        value = env.get(var)
        if value is None:
            continue
        if section in ("imap", "smtp") and not isinstance(data.get(section), dict):
            continue  # a password for a section that is not configured
        data[section] = {**(data.get(section) or {}), key: value}
    return data
