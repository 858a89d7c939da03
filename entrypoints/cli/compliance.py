"""``bursar compliance``: sanctions list versions and re-screening, for operators."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import click

T = TypeVar("T")


@click.group()
def compliance() -> None:
    """Sanctions lists and screening (see docs/compliance.md)."""


@compliance.command("ingest-list")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rescreen/--no-rescreen", default=True, show_default=True,
              help="Screen every subject again against the newest version afterwards.")
def ingest_list(directory: Path | None, rescreen: bool) -> None:
    """Store the OFAC SDN list in DIRECTORY (sdn.csv, alt.csv, add.csv) as a new version.

    DIRECTORY defaults to BURSAR_SANCTIONS_DIR, else the 17-entry sample shipped with Bursar. The
    same files again store nothing (the version is a digest of their contents)."""
    from adapters.compliance_data import SAMPLE_LIST_DIR
    from adapters.sanctions_ofac import OfacFormatError, load_ofac_list
    from entrypoints.settings import Settings

    directory = directory or Settings.from_env().sanctions_dir
    if directory is None:
        directory = SAMPLE_LIST_DIR
        click.echo("no DIRECTORY or BURSAR_SANCTIONS_DIR: using the sample list shipped with Bursar (17 entries)",
                   err=True)
    started = time.perf_counter()
    try:
        sanctions_list = load_ofac_list(directory)
    except OfacFormatError as exc:
        raise click.ClickException(str(exc)) from None
    read_seconds = time.perf_counter() - started

    async def work(container) -> None:
        started = time.perf_counter()
        ingested = await container.compliance_ingest_list()(sanctions_list)
        v = ingested.version
        if ingested.created:
            click.echo(f"stored {v.source} {v.version} as list version {v.id}: {v.entry_count:,} entries, "
                       f"{v.alias_count:,} aliases (read in {read_seconds:.2f} s, stored in "
                       f"{time.perf_counter() - started:.2f} s)")
        else:
            click.echo(f"{v.source} {v.version} is already stored as list version {v.id}: nothing to store")
        if rescreen:
            await _rescreen(container)

    _run(work)


@compliance.command("rescreen")
def rescreen_command() -> None:
    """Screen every subject not yet screened against the newest list version (resumable)."""
    _run(_rescreen)


@compliance.command("lists")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def lists(limit: int) -> None:
    """Stored list versions, newest first (the first one is the one screening uses)."""

    async def work(container) -> None:
        page = await container.compliance_read().list_versions(limit=limit)
        for v in page.items:
            click.echo(f"{v.id:>4}  {v.source:<10} {v.version:<24} {v.entry_count:>7,} entries {v.alias_count:>7,} "
                       f"aliases  {v.ingested_at:%Y-%m-%d %H:%M:%SZ}")
        if not page.items:
            click.echo("no list stored: run `bursar compliance ingest-list`")

    _run(work)


async def _rescreen(container) -> None:
    started = time.perf_counter()
    await container.compliance_screener().get()
    built = time.perf_counter() - started
    summary = await container.compliance_rescreen()()
    v = summary.list_version
    click.echo(f"index of list version {v.id} ready in {built:.2f} s; re-screened {summary.screened:,} subjects in "
               f"{time.perf_counter() - started - built:.2f} s: {len(summary.changes):,} status changes, "
               f"{summary.cases_opened:,} cases opened")
    for change in summary.changes:
        case = f"  (case {change.case_id})" if change.case_id else ""
        click.echo(f"  {change.subject_id}  {change.from_status or '-'} -> {change.to_status}{case}")


def _run(work: Callable[..., Awaitable[T]]) -> T:
    """Run ``work(container)`` against the core's database: DATABASE_URL, else the embedded server."""
    import psycopg
    from dependency_injector import providers

    from entrypoints.containers import CoreContainer
    from entrypoints.runtime import embedded_postgres
    from entrypoints.settings import Settings

    async def run(settings: Settings) -> T:
        container = CoreContainer()
        container.settings.override(providers.Object(settings))
        database = container.database()
        await database.open()
        try:
            return await work(container)
        finally:
            await database.close()

    with ExitStack() as stack:
        embedded_postgres.use_unless_configured(Settings.from_env().data_dir / "pg", stack)
        try:
            return asyncio.run(run(Settings.from_env()))
        except psycopg.errors.UndefinedTable:
            raise click.ClickException("the compliance tables are missing: run `bursar db migrate` first") from None
