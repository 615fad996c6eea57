"""Configuration: ``config.toml`` read once, at start, into typed settings.

Keys are exactly those of ``docs/CONTRACT.md`` (plus the documented additions
below). An unknown key or a value of the wrong type is an error naming the key
and the file. Secrets may come from ``ZXJYCK_IMAP_PASSWORD``,
``ZXJYCK_SMTP_PASSWORD`` and ``ZXJYCK_STORE_URL`` (or their ``*_FILE`` forms and systemd credentials:
ingest.secrets), and ``ZXJYCK_NOW`` starts the clock at an
instant (zxjyck/clock.py); the environment is read
here and nowhere else (coding rule 5 of docs/DESIGN.md). Relative paths, including a relative
SQLite file in ``store.url``, are relative to the folder of the config file.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ingest.errors import IngestError
from zxjyck.calendar import (
    DEFAULT_DEADLINE_TIME,
    DEFAULT_DEADLINE_WEEKDAY,
    DEFAULT_TIMEZONE,
    Calendar,
    parse_hhmm,
    zone,
)
from zxjyck.clock import CLOCK_VARIABLE, Clock, clock_starting, parse_instant
from zxjyck.version import our_version

DEFAULT_CONFIG = "config.toml"


class ConfigError(IngestError):
    """The configuration file is missing, unreadable or invalid (exit 78, EX_CONFIG of sysexits.h: the
    systemd units' RestartPreventExitStatus=78 stops a restart loop that cannot succeed)."""

    exit_code = 78


# RFC 2971 ID fields sent after LOGIN (163.com refuses SELECT until it gets them); [imap] id replaces them.
DEFAULT_IMAP_ID = {"name": "zxjyck", "version": our_version(), "vendor": "zxjyck",
                   "support-email": "zxjyck@163.com"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SourceSettings(_Section):
    maildir: str = "mailbox"
    # A message larger than this is stored (and can be read from the archive) but not parsed: staff are told.
    max_message_mb: int = Field(50, ge=1, le=2048)
    # How many messages' attachments are parsed at once (one sandbox each, at most one per core). 1 was the
    # fastest on a backlog of weekly workbooks (README, performance); more helps where scans and PDFs dominate.
    parse_workers: int = Field(1, ge=1, le=64)


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
    sent_folder: str | None = None  # APPEND a copy of every notice sent (e.g. "已发送"), flagged \\Seen
    id: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_IMAP_ID))  # RFC 2971 ID sent after LOGIN
    # delete ingested mail from the server this many days after it arrived, once its archived copy is in the
    # store (ingest/sources/imap_expunge.py); none: never
    expunge_after_days: int | None = Field(None, ge=1)

    @field_validator("id")
    @classmethod
    def _id_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            for part in (key, text):
                if not (0 < len(part) <= 1024 and part.isascii() and part.isprintable()) or any(c in part for c in '"\\'):
                    raise ValueError("ID fields must be printable ASCII without quotes or backslashes, "
                                     "at most 1024 characters")
        if len(value) > 30:
            raise ValueError("at most 30 ID fields (RFC 2971)")
        return value


class SmtpSettings(_Section):
    host: str
    port: int = 465
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    timeout_seconds: float = Field(30, gt=0)
    ca_file: str | None = None
    max_per_minute: int = Field(10, ge=1)  # send-rate cap: a burst is spread, the account is not throttled


class StoreSettings(_Section):
    url: SecretStr = SecretStr("sqlite:///var/zxjyck.db")
    archive_dir: str = "var/archive"
    # none: the store, archive, exports and backups are 0600/0700; a group name: 0640/0750 and that group
    group: str | None = None

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str | None) -> str | None:
        import grp

        if value is not None:
            try:
                grp.getgrnam(value)
            except KeyError as exc:
                raise ValueError(f"no such group on this machine: {value!r}") from exc
        return value


# --- retention: how long each kind of data is kept (zxjyck purge; the daemon runs it daily) ---------------
MIN_AUDIT_DAYS = 180  # 网络安全法 art. 21: network logs at least six months


class RetentionSettings(_Section):
    archive_years: int = Field(10, ge=1, le=100)  # raw mail and attachments: records of an official process
    outbox_days: int = Field(365, ge=30)  # the text of notices sent (the row, its subject and status stay)
    operational_days: int = Field(180, ge=7)  # poll runs and login failures
    audit_days: int = 1095  # the audit log; never under MIN_AUDIT_DAYS

    @field_validator("audit_days")
    @classmethod
    def _six_months(cls, value: int) -> int:
        if value < MIN_AUDIT_DAYS:
            raise ValueError(f"must be at least {MIN_AUDIT_DAYS} days (logs are kept at least six months)")
        return value


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
    digest_time: str = "08:30"  # in schedule.timezone

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        return _check_hhmm(value)


class ScheduleSettings(_Section):
    """The one configured time zone and the weekly deadline (the rules themselves: zxjyck.calendar)."""

    timezone: str = DEFAULT_TIMEZONE
    deadline_weekday: int = Field(DEFAULT_DEADLINE_WEEKDAY, ge=0, le=6)  # 0 = Monday
    deadline_time: str = DEFAULT_DEADLINE_TIME

    @field_validator("deadline_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        return _check_hhmm(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    def calendar(self) -> Calendar:
        """Weeks, deadlines and local time in the configured zone."""
        return Calendar.of(self.timezone, self.deadline_weekday, self.deadline_time)


class BatchSettings(_Section):
    """One batch of the call for platforms: its name and the last day (inclusive) it takes applications."""

    name: str = Field(min_length=1, max_length=100)
    closes: date | None = None  # none: open-ended (常态征集), only for the last batch

    @field_validator("closes", mode="before")
    @classmethod
    def _date(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError as exc:
                raise ValueError("must be a date YYYY-MM-DD") from exc
        return value


DEFAULT_BATCHES = (BatchSettings(name="首批", closes=date(2020, 2, 28)), BatchSettings(name="常态征集"))


class ApplicationsSettings(_Section):
    # a basic form that arrived only as docx/xlsx needs a stamped scan or photo too (the notice's 加盖公章)
    require_stamped_form: bool = True
    batches: tuple[BatchSettings, ...] = DEFAULT_BATCHES
    # after `zxjyck publish`, each applicant of the batch is told its panel result (once per application and batch)
    notify_outcome: bool = False

    @field_validator("batches", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("batches")
    @classmethod
    def _ordered(cls, value: tuple[BatchSettings, ...]) -> tuple[BatchSettings, ...]:
        if not value:
            raise ValueError("needs at least one batch")
        if any(b.closes is None for b in value[:-1]):
            raise ValueError("only the last batch may be open-ended (no 'closes')")
        closes = [b.closes for b in value if b.closes is not None]
        if closes != sorted(set(closes)):
            raise ValueError("closing dates must be increasing")
        if len({b.name for b in value}) != len(value):
            raise ValueError("batch names must differ")
        return value

    def batch_number(self, name: str) -> int | None:
        """The batch's place in ``batches`` counting from 1 (第一批, 第二批…), None for a name not configured."""
        names = [b.name for b in self.batches]
        return names.index(name) + 1 if name in names else None

    def batch_on(self, day: date) -> str | None:
        """The batch an application whose materials became complete on ``day`` belongs to."""
        for batch in self.batches:
            if batch.closes is None or day <= batch.closes:
                return batch.name
        return None  # after the last closing date and no open-ended batch


class WebSettings(_Section):
    bind: str = "127.0.0.1:8080"  # HOST:PORT of the staff console (zxjyck web)
    session_hours: float = Field(12, gt=0, le=24 * 31)  # a console session ends this long after login
    # --- monitoring: GET /metrics (Prometheus text) only when on, and only to these client addresses/networks
    metrics: bool = False
    metrics_allow: list[str] = ["127.0.0.1", "::1"]
    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs); [] believes none
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an address or a network (CIDR)") from exc
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _list_of_addresses(cls, value: object) -> object:
        if isinstance(value, list):
            value = tuple(value)
        for item in value if isinstance(value, tuple) else ():
            try:
                ipaddress.ip_network(item, strict=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"not an address or CIDR: {item!r} / 不是 IP 地址或网段") from exc
        return value

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
    parse_hhmm(value)
    return value


class ReportsSettings(_Section):
    """Data sanity for weekly reports: a week older than this many weeks (before the mail) is a problem."""

    max_age_weeks: int = Field(8, ge=1, le=520)


# --- monitoring and alerts --------------------------------------------------------------------------------


class AlertsSettings(_Section):
    """Who is mailed when the service is unwell (ingest.runtime.alerts), and the thresholds."""

    to: list[str] = []  # administrators' addresses; empty: no alert mail (status and /healthz still tell)
    stalled_minutes: int = Field(30, ge=1)  # no successful poll for this long is an incident
    min_free_mb: int = Field(1024, ge=0)  # less free space than this where the store or archive lives

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, at, domain = address.strip().partition("@")
            if not (local and at and "." in domain) or any(c.isspace() or c in "<>,;\"'" for c in address.strip()):
                raise ValueError(f"{address!r} is not an e-mail address")
        return [a.strip() for a in value]


class LogSettings(_Section):
    """How the service's own log lines are written (to stderr: the journal or a file)."""

    format: Literal["text", "json"] = "text"


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
    reports: ReportsSettings = ReportsSettings()
    applications: ApplicationsSettings = ApplicationsSettings()
    web: WebSettings = WebSettings()
    alerts: AlertsSettings = AlertsSettings()
    log: LogSettings = LogSettings()
    retention: RetentionSettings = RetentionSettings()


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
    reports: ReportsSettings = ReportsSettings()
    applications: ApplicationsSettings = ApplicationsSettings()
    web: WebSettings = WebSettings()
    max_message_bytes: int = 50 * 1024 * 1024  # [source] max_message_mb
    parse_workers: int = 1  # [source] parse_workers
    alerts: AlertsSettings = AlertsSettings()
    log: LogSettings = LogSettings()
    retention: RetentionSettings = RetentionSettings()
    group: str | None = None  # [store] group: who besides the service's user may read its files
    clock_start: datetime | None = None  # ZXJYCK_NOW: the instant this process's clock starts at
    config_warnings: tuple[str, ...] = ()  # e.g. a password in a file others may read (check shows, run logs)

    def clock(self) -> Clock:
        """The service's clock: the real one, or the one ``ZXJYCK_NOW`` starts."""
        return clock_starting(self.clock_start)

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
            near = _nearest_key(err["loc"])
            if near:
                lines.append(f"{path}: unknown key '{key}', did you mean '{near}'? / 未知配置项 '{key}'，"
                             f"是否应为 '{near}'？")
            else:
                model = _section_model(err["loc"])
                valid = f" ({', '.join(model.model_fields)})" if model is not None else ""
                lines.append(f"{path}: unknown key '{key}' / 未知配置项 '{key}'{valid}")
        else:
            lines.append(f"{path}: key '{key}': {err['msg']} / 配置项 '{key}' 取值无效")
    return "; ".join(lines)


def _section_model(loc: tuple) -> type[BaseModel] | None:
    """The settings model that holds the key at ``loc`` (list indexes of [[mailboxes]] skipped)."""
    model: type[BaseModel] = _File
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field_info = model.model_fields.get(str(part))
        if field_info is None:
            return None
        inner = [a for a in (field_info.annotation, *typing.get_args(field_info.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        inner += [a for arg in typing.get_args(field_info.annotation) for a in typing.get_args(arg)
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return None
        model = inner[0]
    return model


def _nearest_key(loc: tuple) -> str | None:
    """The valid key nearest to an unknown one, spelt in full ("staff.digest_to"), or None."""
    model = _section_model(loc)
    if model is None:
        return None
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return ".".join([*(str(p) for p in loc[:-1]), close[0]]) if close else None


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
        raise ConfigError(f"{cfg_path}: cannot read: {exc} / 无法读取配置文件") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: not valid TOML: {exc} / 配置文件格式错误") from exc
    from ingest.secrets import exposure_warning

    exposed = exposure_warning(cfg_path, data)
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
        max_message_bytes=parsed.source.max_message_mb * 1024 * 1024,
        parse_workers=parsed.source.parse_workers,
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
        reports=parsed.reports,
        applications=parsed.applications,
        web=parsed.web,
        alerts=parsed.alerts,
        log=parsed.log,
        retention=parsed.retention,
        group=parsed.store.group,
        clock_start=_clock_start(env),
        config_warnings=(exposed,) if exposed else (),
    )


def _clock_start(env: Mapping[str, str]) -> datetime | None:
    text = env.get(CLOCK_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise ConfigError(f"{CLOCK_VARIABLE}: {exc} / {CLOCK_VARIABLE} 须为带时区的日期时间") from exc


def _with_ca(section, base: Path):
    """The section with its ca_file made absolute (relative to the config file's folder)."""
    if section is None or not section.ca_file:
        return section
    return section.model_copy(update={"ca_file": str((base / section.ca_file).resolve())})


def _merge_secrets(data: dict, env: Mapping[str, str]) -> dict:
    """Secrets from the environment, *_FILE files and systemd credentials (ingest.secrets)."""
    from ingest.secrets import SecretError, merge_secrets

    try:
        return merge_secrets(data, env)
    except SecretError as exc:
        raise ConfigError(str(exc)) from exc
