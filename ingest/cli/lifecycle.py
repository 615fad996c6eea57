"""`zxjyck init`, `zxjyck migrate` and `zxjyck --version`: creating a store and upgrading it, said aloud.

Only `init` (and the commands that take mail in: `run`, `poll`, `ingest`) create a store; only `migrate`
(and those three) change its schema. Every other command checks the schema revision with one query and
refuses a missing, older or newer store with one line (store.db.require_schema).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# the commands that may create the store and bring its schema up to date; every other one only reads it
CREATING_COMMANDS = frozenset({"init", "migrate", "run", "poll", "ingest"})


class VersionAction(argparse.Action):
    """`--version`: the version is read only when asked for (package metadata costs start-up time)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit / 显示版本号", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from zxjyck.version import our_version

        print(f"zxjyck {our_version()}")
        parser.exit()


def _made(folder: Path) -> bool:
    """Create ``folder`` (and its parents); whether it was new."""
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return not existed


def init(config: str | None) -> list[str]:
    """Create the store (at the newest schema), the archive and the outbox folder; idempotent. Lines to print."""
    from ingest.config import load_settings
    from store.db import make_engine, migrate, read_revision, redact, require_schema

    settings = load_settings(config)
    url = redact(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        if read_revision(engine) is None:
            migrate(engine)
            lines = [f"已创建数据库 created the store: {url} (schema {read_revision(engine)})"]
        else:
            lines = [f"数据库已存在 the store exists: {url} (schema {require_schema(engine)})"]
    finally:
        engine.dispose()
    for cn, en, folder in (("归档目录", "archive", settings.archive_dir), ("发件目录", "outbox", settings.outbox_dir)):
        lines.append(f"已创建{cn} created the {en}: {folder}" if _made(folder)
                     else f"{cn}已存在 the {en} exists: {folder}")
    return lines


def migrate(config: str | None) -> str:
    """Apply the pending migrations to an existing store; the line to print (from -> to, or already current)."""
    from ingest.config import load_settings
    from store.db import StoreMissing, make_engine, read_revision, redact, upgrade

    settings = load_settings(config)
    url = redact(settings.store_url)
    engine = make_engine(settings.store_url, create_dirs=False)
    try:
        if read_revision(engine) is None:
            raise StoreMissing(f"{url} 处没有 zxjyck 数据库，请先运行 zxjyck init / no zxjyck store at {url}: "
                               "run `zxjyck init` first")
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        return f"数据库结构已是最新 already current: {url} (schema {after})"
    return f"已升级数据库结构 migrated {url}: {before} -> {after}"
