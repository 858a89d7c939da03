"""``bursar fx``: exchange rates from the command line (for cron, or a first load by hand)."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

import click

from adapters.rates_ecb import EcbRateSource, EcbRatesError, ecb_source_at
from application.fx.refresh_rates import RefreshedRates


@click.group()
def fx() -> None:
    """Foreign exchange rates."""


@fx.command("refresh")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read an ECB reference-rates XML file (e.g. the bundled snapshot, or a historical file).")
@click.option("--url", default=None, help="Download the ECB XML from this URL.")
def fx_refresh(file: Path | None, url: str | None) -> None:
    """Fetch the ECB euro reference rates and store them (default: BURSAR_FX_ECB_SOURCE).

    Safe to repeat: a rate already stored for the same day is replaced by itself.
    """
    from entrypoints.runtime import embedded_postgres
    from entrypoints.settings import Settings

    if file is not None and url is not None:
        raise click.UsageError("give --file or --url, not both")
    with ExitStack() as stack:
        embedded_postgres.use_unless_configured(Settings.from_env().data_dir / "pg", stack)
        settings = Settings.from_env()
        if url is not None:
            source = EcbRateSource(url=url)
        elif file is not None:
            source = EcbRateSource(path=file)
        else:
            source = ecb_source_at(settings.fx.ecb_source)
        try:
            refreshed = asyncio.run(_refresh(settings.database.for_core(), source))
        except EcbRatesError as exc:
            raise click.ClickException(str(exc)) from None
    days = sorted({r.as_of.date().isoformat() for r in refreshed.rates}, reverse=True)
    click.echo(f"stored {len(refreshed.rates)} rates from {source.location}" + (f" (as of {', '.join(days)})" if days else ""))


async def _refresh(core_url: str, source: EcbRateSource) -> RefreshedRates:
    from adapters.postgres.database import Database
    from adapters.postgres.fx import PostgresRates
    from adapters.system import SystemClock
    from application.fx.refresh_rates import RefreshRates

    database = Database(core_url, min_size=1, max_size=1, name="bursar-cli-fx")
    await database.open()
    try:
        return await RefreshRates(source, PostgresRates(database.pool), SystemClock())()
    finally:
        await database.close()
