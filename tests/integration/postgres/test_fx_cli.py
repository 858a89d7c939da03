"""``bursar fx refresh`` stores the ECB rates of a file, a URL or the configured source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from click.testing import CliRunner

from adapters.postgres.database import Database
from adapters.postgres.fx import PostgresRates
from entrypoints.cli.main import cli

DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
    "<Cube><Cube time='2020-01-02'><Cube currency='SGD' rate='1.5111'/><Cube currency='MYR' rate='4.5868'/>"
    "</Cube></Cube></gesmes:Envelope>"
)


def stored(core_url: str, quote: str) -> list:
    async def read():
        db = Database(core_url, min_size=1, max_size=1)
        await db.open()
        try:
            return await PostgresRates(db.pool).latest("EUR", quote, datetime(2020, 1, 3, tzinfo=UTC))
        finally:
            await db.close()

    return asyncio.run(read())


def test_refresh_from_a_file(module_database, tmp_path):
    path = tmp_path / "eurofxref-hist.xml"
    path.write_text(DOCUMENT)
    env = {"DATABASE_URL": module_database.admin_url}
    result = CliRunner().invoke(cli, ["fx", "refresh", "--file", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"stored 2 rates from {path} (as of 2020-01-02)"
    [sgd] = stored(module_database.core_url, "SGD")
    assert (sgd.value, sgd.source, sgd.as_of) == (Decimal("1.5111"), "ECB", datetime(2020, 1, 2, 13, 10, tzinfo=UTC))


def test_refresh_from_the_configured_source(module_database, tmp_path):
    path = tmp_path / "configured.xml"
    path.write_text(DOCUMENT.replace("4.5868", "4.5901"))
    env = {"DATABASE_URL": module_database.admin_url, "BURSAR_FX_ECB_SOURCE": str(path)}
    result = CliRunner().invoke(cli, ["fx", "refresh"], env=env)
    assert result.exit_code == 0, result.output
    assert [r.value for r in stored(module_database.core_url, "MYR")] == [Decimal("4.5901")]


def test_refresh_failures_are_reported_without_a_traceback(module_database, tmp_path):
    env = {"DATABASE_URL": module_database.admin_url}
    both = CliRunner().invoke(cli, ["fx", "refresh", "--file", "x.xml", "--url", "https://example.invalid/"], env=env)
    assert both.exit_code == 2 and "not both" in both.output
    missing = CliRunner().invoke(cli, ["fx", "refresh", "--file", str(tmp_path / "absent.xml")], env=env)
    assert missing.exit_code == 1 and "cannot read the ECB rates" in missing.output
    refused = CliRunner().invoke(cli, ["fx", "refresh", "--url", "http://127.0.0.1:9/eurofxref-daily.xml"], env=env)
    assert refused.exit_code == 1 and "cannot fetch the ECB rates" in refused.output
    assert "Traceback" not in missing.output + refused.output
