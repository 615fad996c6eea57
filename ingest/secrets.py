"""Where the passwords come from: the environment, files named by ``*_FILE`` variables, systemd credentials.

For ``[imap]``, ``[smtp]`` and ``[store] url`` the first of these that is set wins:

1. ``ZXJYCK_IMAP_PASSWORD`` / ``ZXJYCK_SMTP_PASSWORD`` / ``ZXJYCK_STORE_URL`` (the value itself);
2. ``ZXJYCK_IMAP_PASSWORD_FILE`` / ``ZXJYCK_SMTP_PASSWORD_FILE`` / ``ZXJYCK_STORE_URL_FILE`` (a file holding it);
3. the section's ``password_file = "/path"`` key ([imap], [smtp], each [[mailboxes]] entry);
4. a systemd credential ``$CREDENTIALS_DIRECTORY/<name>`` (``LoadCredential=`` in the unit): the section's
   ``password_credential = "name"`` key, else the default names ``imap_password``, ``smtp_password``,
   ``store_url`` (a default name that is absent is skipped; a named one must exist);
5. the value in config.toml itself.

Each ``[[mailboxes]]`` entry takes 3 to 5 (its own ``password_file`` / ``password_credential``). A file's one
trailing newline is dropped. The environment is read by ``ingest.config.load_settings`` only, which hands it
here. A config file that holds a password and is readable by group or others gets a warning
(``config_warnings``), shown by ``zxjyck check`` and logged by ``zxjyck run``.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path

from ingest.errors import IngestError

# section -> (its key, the environment variable, the default systemd credential name)
SECTIONS = {"imap": ("password", "ZXJYCK_IMAP_PASSWORD", "imap_password"),
            "smtp": ("password", "ZXJYCK_SMTP_PASSWORD", "smtp_password"),
            "store": ("url", "ZXJYCK_STORE_URL", "store_url")}
FILE_KEY, CREDENTIAL_KEY = "password_file", "password_credential"
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}")


class SecretError(IngestError):
    """A secret named by the configuration or the environment cannot be read (the text says which);
    ingest.config turns it into its ConfigError (exit 78)."""

    exit_code = 78


def _read(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{what}: cannot read {path}: {exc.__class__.__name__} / 无法读取密码文件 {path}") from exc
    return text[:-1] if text.endswith("\n") else text


def _credential(env: Mapping[str, str], name: str, *, required: bool, where: str) -> str | None:
    if not isinstance(name, str) or not _CREDENTIAL_NAME.fullmatch(name):
        raise SecretError(f"{where}.{CREDENTIAL_KEY}: not a credential name: {name!r} / 凭据名无效")
    folder = env.get("CREDENTIALS_DIRECTORY")
    path = Path(folder, name) if folder else None
    if path is None or not path.is_file():
        if required:
            raise SecretError(f"{where}.{CREDENTIAL_KEY}: no systemd credential {name!r} "
                              f"(CREDENTIALS_DIRECTORY={folder or 'unset'}) / 找不到 systemd 凭据 {name}")
        return None
    return _read(str(path), f"credential {name}")


def _resolve(table: dict, env: Mapping[str, str], where: str, var: str | None,
             default_credential: str | None) -> str | None:
    """The secret for one section from the sources 1-4 (None: keep the file's own value); pops 3 and 4's keys."""
    file_key, credential_key = table.pop(FILE_KEY, None), table.pop(CREDENTIAL_KEY, None)
    for key, value in ((FILE_KEY, file_key), (CREDENTIAL_KEY, credential_key)):
        if value is not None and not isinstance(value, str):
            raise SecretError(f"{where}.{key}: must be a string / 应为字符串")
    if var and env.get(var) is not None:
        return env[var]
    if var and env.get(f"{var}_FILE"):
        return _read(env[f"{var}_FILE"], f"{var}_FILE")
    if file_key:
        return _read(file_key, f"{where}.{FILE_KEY}")
    if credential_key:
        return _credential(env, credential_key, required=True, where=where)
    if default_credential:
        return _credential(env, default_credential, required=False, where=where)
    return None


def merge_secrets(data: dict, env: Mapping[str, str]) -> dict:
    """The parsed config.toml with every secret resolved (a new dict; ``data`` is not changed)."""
    data = dict(data)
    for section, (key, var, credential) in SECTIONS.items():
        if not isinstance(data.get(section), dict):
            if section != "store":
                continue  # a password for a section that is not configured
            data[section] = {}
        table = dict(data[section])
        if section == "store" and (FILE_KEY in table or CREDENTIAL_KEY in table):
            raise SecretError("store: use ZXJYCK_STORE_URL_FILE or the credential 'store_url' / "
                              "数据库地址请用 ZXJYCK_STORE_URL_FILE 或 systemd 凭据 store_url")
        value = _resolve(table, env, section, var, credential)
        if value is not None:
            table[key] = value
        data[section] = table
    if isinstance(data.get("mailboxes"), list):
        data["mailboxes"] = [_mailbox(entry, env, i) for i, entry in enumerate(data["mailboxes"])]
    return data


def _mailbox(entry: object, env: Mapping[str, str], index: int) -> object:
    if not isinstance(entry, dict):
        return entry  # validation names it
    table = dict(entry)
    value = _resolve(table, env, f"mailboxes.{index}", None, None)
    if value is not None:
        table["password"] = value
    return table


def holds_password(data: Mapping) -> bool:
    """Whether the parsed config.toml itself (before merging) holds a password or a store URL with one."""
    tables = [data.get("imap"), data.get("smtp"), *(data.get("mailboxes") or [])]
    if any(isinstance(t, dict) and isinstance(t.get("password"), str) and t["password"] for t in tables):
        return True
    url = (data.get("store") or {}).get("url") if isinstance(data.get("store"), dict) else None
    if isinstance(url, str) and "://" in url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return bool(make_url(url).password)
        except ArgumentError:
            return False
    return False


def exposure_warning(path: Path, data: Mapping) -> str | None:
    """A warning when ``path`` holds a password and group or others may read it; None otherwise."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o044 or not holds_password(data):
        return None
    return (f"{path} 含有密码，但同组或其他用户可读（权限 {mode:04o}），请 chmod 600，或改用 *_FILE 变量、"
            f"systemd 凭据 / {path} holds a password and is readable by group or others (mode {mode:04o}): "
            "chmod 600 it, or move the password to a *_FILE variable or a systemd credential")
