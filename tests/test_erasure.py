"""`zxjyck erase`: after it, nothing of the person is left in the store (every table; the SQLite file's
bytes), the archive or the exports, and the province's figures are those of before."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from ingest.outputs.export import export_state
from ingest.pipeline.analyse import InProcessAnalyzer
from ingest.runtime.poll import ingest_paths
from ingest.workflows.erasure import erase
from ingest.workflows.staff import NotAllowed, audit
from tests.conftest import FIXTURES, write_config
from tests.test_backup import zx
from zxjyck.calendar import zone

TZ = zone("Asia/Shanghai")
PERSON = "apply@nyzp.example.com"  # sends an application (fixtures/mail/06) naming 王五 as its contact
TRACES = (PERSON, "王五", "020-87654321", "某某路1号")


@pytest.fixture
def app(app):
    app.analyzer = InProcessAnalyzer()
    return app


def every_value(engine) -> str:
    """Every value of every table, as text."""
    found = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                found.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(found)


def figures(doc: dict) -> list:
    return [(r["city"], r["week_start"], r["status"], r["total_headcount"], r["rows"]) for r in doc["weekly_reports"]]


def test_erase_by_address_leaves_nothing_of_the_person(app) -> None:
    ingest_paths(app, sorted((FIXTURES / "mail").glob("*.eml")))
    audit(app, "staff1", "view", f"looked at the mail of {PERSON}")
    before = export_state(app.engine, TZ)
    assert all(t in every_value(app.engine) for t in TRACES)

    preview = erase(app, "dpo", email=PERSON.upper())
    assert len(preview.messages) == 1 and preview.originals == 1 and len(preview.applications) == 1
    assert all(t in every_value(app.engine) for t in TRACES), "the preview changes nothing"

    erase(app, "dpo", email=PERSON, apply=True)
    values = every_value(app.engine)
    assert not [t for t in TRACES if t in values]
    after = export_state(app.engine, TZ)
    assert not [t for t in TRACES if t in json.dumps(after, ensure_ascii=False)]
    assert figures(after) == figures(before)
    assert [a["organization"] for a in after["applications"]] == [a["organization"] for a in before["applications"]]
    assert [a["complete"] for a in after["applications"]] == [a["complete"] for a in before["applications"]]
    assert len(after["messages"]) == len(before["messages"])
    with app.engine.connect() as conn:
        entry = conn.execute(text("SELECT detail FROM audit WHERE action = 'erase'")).scalar_one()
    assert hashlib.sha256(PERSON.encode()).hexdigest() in entry


def test_a_registered_city_address_is_not_erased(app) -> None:
    with pytest.raises(NotAllowed, match="地市"):
        erase(app, "dpo", email="gzrsj@example.gov.cn", apply=True)


@pytest.mark.integration
def test_erase_on_the_command_line_clears_the_file_archive_and_exports(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///var/zxjyck.db")
    zx(config, "ingest", str(FIXTURES / "mail"))
    week = zx(config, "export", "--format", "xlsx", "--week", "2020-02-17", "--out", str(tmp_path / "w0.xlsx"))
    assert week.returncode == 0
    archive = tmp_path / "var" / "archive"
    assert any(PERSON.encode() in p.read_bytes() for p in archive.rglob("*.eml"))

    shown = zx(config, "erase", "--email", PERSON)
    assert "将删除 would erase" in shown.stdout and "申报联系信息 applications (contact fields): 1" in shown.stdout
    assert any(PERSON.encode() in p.read_bytes() for p in archive.rglob("*.eml")), "only shown, not done"
    done = zx(config, "erase", "--email", PERSON, "--yes")
    assert "已删除 erased: sha256:" in done.stdout and PERSON not in done.stdout

    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("zxjyck.db*"))
    for trace in TRACES:
        for spelling in (trace.encode(), json.dumps(trace)[1:-1].encode()):
            assert spelling not in db_bytes, trace
    assert len(list(archive.rglob("*.eml"))) == 7
    assert not any(PERSON.encode() in p.read_bytes() for p in archive.rglob("*.eml"))
    exported = zx(config, "export", "--format", "json").stdout
    assert not [t for t in TRACES if t in exported]
    for args in (["--applications"], ["--week", "2020-02-17"]):
        out = tmp_path / f"{args[0]}.xlsx"
        zx(config, "export", "--format", "xlsx", *args, "--out", str(out))
        with zipfile.ZipFile(out) as z:
            xml = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        assert not [t for t in TRACES if t in xml]


def test_erase_an_organisation_by_credit_code(app) -> None:
    ingest_paths(app, sorted((FIXTURES / "mail").glob("*.eml")))
    before = export_state(app.engine, TZ)
    plan = erase(app, "dpo", credit_code="91440101ma59abcd1x")
    assert len(plan.applications) == 1 and len(plan.messages) == 1 and PERSON in plan.terms
    erase(app, "dpo", credit_code="91440101MA59ABCD1X", apply=True)
    assert not [t for t in TRACES if t in every_value(app.engine)]
    after = export_state(app.engine, TZ)
    erased = next(a for a in after["applications"] if a["credit_code"] == "91440101MA59ABCD1X")
    assert (erased["organization"], erased["contact"], erased["phone"]) == ("广东南粤职培科技有限公司", "", "")
    other = next(a for a in after["applications"] if a["credit_code"] != "91440101MA59ABCD1X")
    assert other == next(a for a in before["applications"] if a["credit_code"] != "91440101MA59ABCD1X")
    assert figures(after) == figures(before)
