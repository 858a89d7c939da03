"""``bursar compliance``: ingesting OFAC files as list versions, re-screening subjects, listing versions."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.compliance_data import SAMPLE_LIST_DIR
from adapters.postgres.compliance import PostgresComplianceTransactions
from adapters.postgres.database import Database
from adapters.system import SystemClock, UuidV7Ids
from application.compliance.current_screener import CurrentScreener
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.screen_subject import ScreenSubject
from domain.compliance import SanctionsEntry, SanctionsList
from domain.compliance.subjects import Party
from entrypoints.cli.main import cli


@pytest.fixture
def cli_env(database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database.admin_url)
    monkeypatch.delenv("BURSAR_SANCTIONS_DIR", raising=False)
    return database


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def a_new_sample(tmp_path: Path) -> Path:
    """The shipped sample with one alias more: the same list, as a version never stored before."""
    directory = tmp_path / "ofac"
    shutil.copytree(SAMPLE_LIST_DIR, directory)
    with (directory / "alt.csv").open("a", encoding="utf-8") as f:
        f.write(f'\n10278,{uuid.uuid4().int % 10**8},"aka","BNC {uuid.uuid4().hex[:6].upper()}",-0-')
    return directory


def screen_subject_against_a_list_without_him(database, subject: str) -> str:
    async def main() -> str:
        db = Database(database.core_url, min_size=1, max_size=2)
        await db.open()
        try:
            tx = PostgresComplianceTransactions(db.pool)
            other = SanctionsEntry(uid="1", name="SOMEBODY ELSE", entity_type="individual")
            await IngestSanctionsList(tx, SystemClock())(SanctionsList(source="TEST", version=uuid.uuid4().hex,
                                                                       entries=(other,)))
            screen = ScreenSubject(tx, CurrentScreener(tx), SystemClock(), UuidV7Ids())
            return (await screen(Party(subject_id=subject, name="Elvis Logan Morey"))).subject.status
        finally:
            await db.close()

    return asyncio.run(main())


def test_ingest_list_stores_a_version_once_and_rescreens(cli_env, tmp_path):
    subject = f"cli-{uuid.uuid4().hex[:8]}"
    assert screen_subject_against_a_list_without_him(cli_env, subject) == "clear"
    directory = a_new_sample(tmp_path)

    first = run("compliance", "ingest-list", str(directory))

    assert "as list version" in first and ": 17 entries, 14 aliases" in first
    assert f"  {subject}  clear -> review  (case " in first
    again = run("compliance", "ingest-list", str(directory), "--no-rescreen")
    assert "is already stored as list version" in again and "re-screened" not in again
    version = first.split("as list version ")[1].split(":")[0]
    assert again.split("as list version ")[1].split(":")[0] == version
    assert run("compliance", "lists").splitlines()[0].split()[:2] == [version, "OFAC-SDN"]
    assert "re-screened 0 subjects" in run("compliance", "rescreen")


def test_the_default_directory_and_unreadable_ones(cli_env, tmp_path, monkeypatch):
    directory = a_new_sample(tmp_path)
    run("compliance", "ingest-list", str(directory), "--no-rescreen")
    monkeypatch.setenv("BURSAR_SANCTIONS_DIR", str(directory))
    assert "is already stored" in run("compliance", "ingest-list", "--no-rescreen")

    (tmp_path / "empty").mkdir()
    refused = CliRunner().invoke(cli, ["compliance", "ingest-list", str(tmp_path / "empty")])
    assert refused.exit_code != 0 and "lacks sdn.csv, alt.csv, add.csv" in refused.output
