"""The 21 cities' weekly mail over many weeks, delivered through the real ingest path (`zxjyck ingest`).

Every city has one registered address (``address``); ``weekly_mail`` writes a city's form for a week as an
.eml the way fixtures/build_mail.py does (the Received: stamp is the received time); ``deliver`` ingests a
batch of them with the App's clock set to the latest received time, so every notice is inside the reply
window and nothing depends on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

from fixtures.build_mail import XLSX, message, weekly_xlsx
from ingest.runtime.poll import ingest_paths
from parsers.cities import GUANGDONG_CITIES
from tests.conftest import write_config

CST = timezone(timedelta(hours=8))


def address(city: str) -> str:
    return f"city{GUANGDONG_CITIES.index(city) + 1:02d}@example.gov.cn"


CITIES_21_TOML = "[cities]\n" + "\n".join(f'"{c}" = ["{address(c)}"]' for c in GUANGDONG_CITIES) + "\n"


def config_21(folder: Path, store_url: str, extra: str = "") -> Path:
    return write_config(folder, store_url, extra=extra, cities=CITIES_21_TOML)


def period(week_start: date) -> str:
    end = week_start + timedelta(days=6)
    return f"{week_start.year}年{week_start.month}月{week_start.day}日-{end.year}年{end.month}月{end.day}日"


def received(week_start: date, day: int = 7, hour: int = 10, minute: int = 0) -> datetime:
    """Monday after the week (day 7) at 10:00 Asia/Shanghai: before the 16:00 deadline."""
    return datetime.combine(week_start + timedelta(days=day), time(hour, minute), CST)


def weekly_mail(city: str, week_start: date, rows: list[tuple[str, int, str]], when: datetime | None = None,
                subject: str | None = None, tag: str = "") -> bytes:
    when = when or received(week_start)
    data = weekly_xlsx(city, rows, period=period(week_start))
    n = GUANGDONG_CITIES.index(city)
    return message(address(city), subject or f"{city}{week_start:%m月%d日}周报", when, "请查收周报。",
                   f"<w{week_start:%Y%m%d}.{n}{tag}@example.gov.cn>", [(f"{city}周报.xlsx", data, XLSX)])


def deliver(app, folder: Path, mails: dict[str, bytes]) -> None:
    """Ingest the mails (name -> raw) through `zxjyck ingest`'s own path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in mails.items():
        (folder / name).write_bytes(raw)
    ingest_paths(app, [folder])


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def zero_mail(city: str, week_start: date, when: datetime | None = None) -> bytes:
    """The form with one merged row 本周无新增备案企业 and 合计 0, the mail saying 报零."""
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["企业职工线上适岗技能提升培训备案情况统计表"])
    ws.merge_cells("A1:D1")
    ws.append([f"地市名称：{city}", None, f"时间：{period(week_start)}"])
    ws.append(["序号", "企业名称", "备案人数", "培训平台名称"])
    ws.append(["本周无新增备案企业"])
    ws.merge_cells("A4:D4")
    ws.append(["合计", None, 0, None])
    buf = io.BytesIO()
    wb.save(buf)
    n = GUANGDONG_CITIES.index(city)
    return message(address(city), f"{city}{week_start:%m月%d日}周报（报零）", when or received(week_start), "本周报零。",
                   f"<z{week_start:%Y%m%d}.{n}@example.gov.cn>", [(f"{city}周报.xlsx", buf.getvalue(), XLSX)])
