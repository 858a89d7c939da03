"""``bursar audit``: export the vault's audit log, and verify an export offline."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from vault.audit.verify import load_verifier_keys, verify_export


@click.group()
def audit() -> None:
    """The vault's tamper-evident audit log."""


@audit.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--operator", default=getpass.getuser, show_default="the OS user", help="Who exports (audited).")
def audit_export(directory: Path, operator: str) -> None:
    """Write entries, signed checkpoints and verifier keys to DIRECTORY (a checkpoint is signed now)."""
    from entrypoints.runtime.vault_session import run_with_vault
    from vault.audit.entry import Actor
    from vault.audit.export import export_audit

    async def work(vault):
        keys = await vault.keys().verifier_keys()
        return await export_audit(vault.audit(), keys, directory, Actor(id=operator, role="operator"),
                                  lambda: datetime.now(UTC))

    summary = run_with_vault(work)
    click.echo(f"exported {summary.entries} entries and {summary.checkpoints} checkpoints to {summary.directory}")
    click.echo(f"head {summary.head}")


@audit.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verifier keys from a trusted source (default: the export's own verifier-keys.txt).")
def audit_verify(directory: Path, public_key: Path | None) -> None:
    """Check an export offline (no database, no HSM); exit 1 naming the first broken entry."""
    keys = load_verifier_keys(public_key) if public_key else None
    if keys is None:
        click.echo("note: using the export's own verifier keys; pass --public-key from a trusted source", err=True)
    result = verify_export(directory, keys)
    click.echo(result.summary())
    sys.exit(0 if result.valid else 1)
