"""A whole campaign of weekly mail: 21 cities over 13 weeks, ingested through the real path.

Every city mails its form (an .xlsx as fixtures/build_mail.py writes it) on the Monday after each week at
10:00 Guangdong time, before the 16:00 deadline, with these exceptions staff must see:

- 韶关市 sends nothing for weeks 3 and 4 (missing);
- 河源市 sends week 2 on Monday at 18:30 (late);
- 梅州市 sends week 5 with an unreadable headcount (待更正) and corrects it on Tuesday (corrected);
- 惠州市 sends week 6 with an unreadable headcount and never corrects it (pending);
- 广州市 sends week 7 twice before the deadline, the second with other figures (revised, on time);
- 汕尾市's week 8 comes from an address not registered for it (held for staff, pending).

The platform names are written as offices write them (spaces, full-width letters, quotes, 平台/APP
tails) and two applications (fixtures/mail 05 and 06) name 粤技通在线学习平台 and 南粤职培云.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from fixtures.build_mail import CST, XLSX, _periods, message, weekly_xlsx
from ingest.app import App
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from notify.transport import MemoryTransport
from parsers.cities import GUANGDONG_CITIES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

FIRST_WEEK = date(2020, 2, 17)
WEEKS = [FIRST_WEEK + timedelta(days=7 * k) for k in range(13)]
# Tuesday 2020-05-19 09:00 in Guangdong: the week of 2020-05-11 (the 13th) is the last whose deadline passed
NOW = datetime(2020, 5, 19, 1, 0, tzinfo=UTC)
PLATFORMS = ["粤技通在线学习平台", "粤技通 在线学习", "“南粤职培云”APP", "南粤职培云", "ＡＢＣ学堂网", "岭南匠心课堂"]


def address(city: str) -> str:
    return f"c{GUANGDONG_CITIES.index(city) + 1:02d}@example.gov.cn"


def cities_toml() -> str:
    lines = ["[cities]"] + [f'"{city}" = ["{address(city)}"]' for city in GUANGDONG_CITIES]
    return "\n".join(lines) + "\n"


def rows_for(i: int, k: int, bump: int = 0) -> list[tuple[str, object, str]]:
    """The enterprises of city ``i`` in week ``k``: 1 to 3 rows, headcounts that move from week to week."""
    city = GUANGDONG_CITIES[i]
    return [(f"{city[:-1]}第{k + 1}周企业{n + 1}有限公司", 10 + (i * 7 + k * 5 + n * 3) % 40 + bump,
             PLATFORMS[(i + k + n) % len(PLATFORMS)]) for n in range(1 + (i + k) % 3)]


def _mail(city: str, week: date, when: datetime, rows, sender: str | None = None, tag: str = "") -> bytes:
    p = _periods(week)
    i = GUANGDONG_CITIES.index(city)
    return message(sender or address(city), f"{city}企业职工线上适岗技能提升培训备案情况统计表（{p['subject']}）",
                   when, "附件为我市上周备案情况统计表，请查收。", f"<w{week:%m%d}-{i:02d}{tag}@example.gov.cn>",
                   [(f"{city}备案情况统计表.xlsx",
                     weekly_xlsx(city, rows, period=p["gz"], filled_by=f"填报人{(i + week.month) % 3 + 1}号",
                                 phone=f"0{750 + i}-8{week.month:02d}0000{i % 10}"), XLSX)])


def campaign_mail() -> dict[str, bytes]:
    mails: dict[str, bytes] = {}
    for k, week in enumerate(WEEKS):
        monday = week + timedelta(days=7)
        on_time = datetime.combine(monday, time(10, 0), CST)
        for i, city in enumerate(GUANGDONG_CITIES):
            name = f"{week:%m%d}-{i:02d}"
            when = on_time + timedelta(minutes=i)
            if city == "韶关市" and k in (3, 4):
                continue
            if city == "河源市" and k == 2:
                when = datetime.combine(monday, time(18, 30), CST)
            if city in ("梅州市", "惠州市") and k == (5 if city == "梅州市" else 6):
                bad = rows_for(i, k)
                bad[0] = (bad[0][0], "约一百", bad[0][2])
                mails[f"{name}-a.eml"] = _mail(city, week, when, bad)
                if city == "梅州市":
                    mails[f"{name}-b.eml"] = _mail(city, week, when + timedelta(days=1), rows_for(i, k), tag="b")
                continue
            if city == "广州市" and k == 7:
                mails[f"{name}-b.eml"] = _mail(city, week, when + timedelta(hours=5), rows_for(i, k, bump=100),
                                               tag="b")
            if city == "汕尾市" and k == 8:
                mails[f"{name}.eml"] = _mail(city, week, when, rows_for(i, k), sender="someone@qq.com")
                continue
            mails[f"{name}.eml"] = _mail(city, week, when, rows_for(i, k))
    return mails


def ingest_campaign(app: App, folder: Path, applications: bool = True) -> App:
    """The campaign's mail (and the sample applications) ingested into ``app``."""
    app.analyzer = InProcessAnalyzer()
    app.transport = MemoryTransport()
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in campaign_mail().items():
        (folder / name).write_bytes(raw)
    if applications:
        for eml in ("05-application-complete.eml", "06-application-missing-items.eml"):
            shutil.copy(FIXTURES / "mail" / eml, folder / eml)
    ingest_paths(app, [folder])
    return app


def expected_people(week: date, city: str) -> int:
    """The headcount a city's accepted report for ``week`` holds (the rules above)."""
    i, k = GUANGDONG_CITIES.index(city), WEEKS.index(week)
    return sum(int(r[1]) for r in rows_for(i, k, bump=100 if (city == "广州市" and k == 7) else 0))


# ---------------------------------------------------------------- fixtures (tests/conftest.py loads this module)


def _open(folder: Path, store_url: str):
    from ingest.app import open_app
    from ingest.config import load_settings
    from tests.conftest import Clock, write_config

    settings = load_settings(write_config(folder, store_url, cities=cities_toml()), environ={})
    app = open_app(settings, clock=Clock(NOW))
    app.analyzer, app.transport = InProcessAnalyzer(), MemoryTransport()
    return app


def _build(folder: Path, store_url: str) -> None:
    from ingest.workflows.staff import add_user
    from tests.web_support import ADMIN, STAFF

    app = _open(folder, store_url)
    try:
        ingest_campaign(app, folder / "mail-in")
        add_user(app, "test", ADMIN[0], "admin", ADMIN[1])
        add_user(app, "test", STAFF[0], "staff", STAFF[1])
    finally:
        app.close()


@pytest.fixture(scope="session")
def campaign_store(tmp_path_factory) -> Path:
    """The campaign in a SQLite store, ingested once a session (copied for each test by ``campaign``)."""
    folder = tmp_path_factory.mktemp("campaign")
    _build(folder, "sqlite:///var/zxjyck.db")
    return folder


@pytest.fixture
def campaign(campaign_store: Path, tmp_path: Path):
    """An App on a copy of the campaign store; its clock reads NOW (``app.clock.value`` moves it)."""
    folder = tmp_path / "campaign"
    shutil.copytree(campaign_store, folder, ignore=shutil.ignore_patterns("mail-in"))
    app = _open(folder, "sqlite:///var/zxjyck.db")
    yield app
    app.close()


@pytest.fixture(scope="module")
def campaign_pg(tmp_path_factory):
    """The campaign in a PostgreSQL schema of its own, for the module."""
    import uuid

    from sqlalchemy import create_engine, text

    from tests.conftest import PG_URL, _pg_schema_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    folder = tmp_path_factory.mktemp("campaign-pg")
    try:
        _build(folder, _pg_schema_url(schema))
        app = _open(folder, _pg_schema_url(schema))
        yield app
        app.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
