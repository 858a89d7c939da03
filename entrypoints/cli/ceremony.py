"""``bursar ceremony``: key ceremonies under dual control (custodians, proposals, quorum).

Custodians' private keys stay on their own machines: ``custodian keygen`` and
``sign --proposal-file`` work offline; ``sign CEREMONY_ID`` signs locally and
sends only the signature.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from vault.ceremony import custodian_keys
from vault.ceremony.model import Ceremony, Step, StepKind
from vault.keys.model import KeyPurpose

T = TypeVar("T")
_OPERATOR = click.option("--operator", default=getpass.getuser, show_default="the OS user",
                         help="Who runs this (audited).")
_KEY_FILE = click.option("--key-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="The custodian's Ed25519 private key (PEM).")
_PASSPHRASE = click.option("--ask-passphrase", is_flag=True, help="The private key file is passphrase-protected.")


def _with_vault(work: Callable[..., Awaitable[T]]) -> T:
    from entrypoints.runtime.vault_session import run_with_vault

    return run_with_vault(work)


def _private_key(path: Path, ask: bool):
    passphrase = click.prompt("passphrase", hide_input=True).encode() if ask else None
    return custodian_keys.load_private_key(path, passphrase)


@click.group()
def ceremony() -> None:
    """Key ceremonies: M of N custodians approve every key operation."""


@ceremony.group()
def custodian() -> None:
    """Key custodians and their Ed25519 keys."""


@custodian.command("keygen")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@_PASSPHRASE
def custodian_keygen(name: str, directory: Path, ask_passphrase: bool) -> None:
    """Create NAME.key (private, 0600) and NAME.pub on this machine (offline)."""
    passphrase = click.prompt("passphrase", hide_input=True, confirmation_prompt=True).encode() if ask_passphrase else None
    directory.mkdir(parents=True, exist_ok=True)
    public = custodian_keys.create_key_files(directory / f"{name}.key", directory / f"{name}.pub", passphrase)
    click.echo(f"wrote {directory / f'{name}.key'} (keep it secret) and {directory / f'{name}.pub'}")
    click.echo(f"public key {public.hex()}")


@custodian.command("add")
@click.argument("name")
@click.option("--public-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_OPERATOR
def custodian_add(name: str, public_key: Path, operator: str) -> None:
    """Register a custodian by their public key; they then run `custodian ack`."""
    raw = custodian_keys.load_public_key(public_key)
    found = _with_vault(lambda v: v.ceremonies().register_custodian(name, raw, operator))
    click.echo(f"registered {found.name} ({found.id}); they must now run: bursar ceremony custodian ack {name}")


@custodian.command("ack")
@click.argument("name")
@_KEY_FILE
@_PASSPHRASE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def custodian_ack(name: str, key_file: Path, ask_passphrase: bool, yes: bool) -> None:
    """Sign the custodian's acknowledgement of the role with their own key."""
    key = _private_key(key_file, ask_passphrase)

    async def work(vault):
        found = await vault.ceremonies().store.custodian(name)
        click.echo(json.dumps(json.loads(found.acknowledgement), indent=2))
        if not yes:
            click.confirm("Sign this acknowledgement?", abort=True)
        return await vault.ceremonies().acknowledge(name, custodian_keys.sign_acknowledgement(key, found.acknowledgement))

    found = _with_vault(work)
    click.echo(f"{found.name} acknowledged at {found.acknowledged_at:%Y-%m-%dT%H:%M:%SZ}")


@custodian.command("list")
def custodian_list() -> None:
    """Registered custodians."""
    found = _with_vault(lambda v: v.ceremonies().store.custodians())
    for c in found:
        state = f"acknowledged {c.acknowledged_at:%Y-%m-%d}" if c.acknowledged else "NOT acknowledged"
        click.echo(f"{c.id}  {c.name:<16} {state:<24} {c.public_key.hex()[:16]}...")


@ceremony.command("propose")
@click.argument("kind", type=click.Choice([k.value for k in StepKind]))
@click.argument("purpose", type=click.Choice([p.value for p in KeyPurpose]))
@click.option("--version", type=int, help="The key version (activate, retire, destroy).")
@click.option("--backup", is_flag=True, help="generate/rotate: export a backup whose key is split among custodians.")
@click.option("--backup-id", help="restore_backup: the backup to restore.")
@_OPERATOR
def propose(kind: str, purpose: str, version: int | None, backup: bool, backup_id: str | None, operator: str) -> None:
    """Propose a step; custodians then sign it with `bursar ceremony sign`."""
    step = Step(kind=StepKind(kind), purpose=KeyPurpose(purpose), version=version, backup=backup, backup_id=backup_id)
    found = _with_vault(lambda v: v.ceremonies().propose(step, operator))
    _show(found)


@ceremony.command("sign")
@click.argument("ceremony_id", required=False)
@click.option("--custodian", "name", help="Your custodian name (to submit the signature).")
@click.option("--proposal-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sign a proposal file offline and print the signature (no database needed).")
@_KEY_FILE
@_PASSPHRASE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def sign(ceremony_id: str | None, name: str | None, proposal_file: Path | None, key_file: Path,
         ask_passphrase: bool, yes: bool) -> None:
    """Approve a proposal with your private key (the key never leaves this machine)."""
    key = _private_key(key_file, ask_passphrase)
    if proposal_file is not None:
        digest, signature = custodian_keys.sign_proposal(key, proposal_file.read_text(encoding="utf-8").strip())
        click.echo(f"step hash {digest}\nsignature {signature.hex()}")
        return
    if not (ceremony_id and name):
        raise click.UsageError("give CEREMONY_ID and --custodian, or --proposal-file to sign offline")

    async def work(vault):
        found = await vault.ceremonies().store.ceremony(ceremony_id)
        click.echo(json.dumps(json.loads(found.proposal), indent=2))
        click.echo(f"step hash {found.step_hash}")
        if not yes:
            click.confirm("Approve exactly this step?", abort=True)
        _, signature = custodian_keys.sign_proposal(key, found.proposal)
        return await vault.ceremonies().approve(ceremony_id, name, signature)

    found = _with_vault(work)
    click.echo(f"approved; {len(found.approvals)} approval(s) so far")


@ceremony.command("approve")
@click.argument("ceremony_id")
@click.option("--custodian", "name", required=True)
@click.option("--signature", required=True, help="Hex signature from `sign --proposal-file`.")
def approve(ceremony_id: str, name: str, signature: str) -> None:
    """Submit a signature made offline."""
    found = _with_vault(lambda v: v.ceremonies().approve(ceremony_id, name, bytes.fromhex(signature)))
    click.echo(f"approved; {len(found.approvals)} approval(s) so far")


@ceremony.command("execute")
@click.argument("ceremony_id")
@click.option("--shares-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write each custodian's backup share (steps with --backup).")
@click.option("--share", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A custodian's share file (restore_backup; give M of them).")
@_OPERATOR
def execute(ceremony_id: str, shares_dir: Path | None, share_files: tuple[Path, ...], operator: str) -> None:
    """Run an approved step on the HSM and sign its transcript."""
    shares_in = [path.read_text(encoding="utf-8").strip() for path in share_files]
    outcome = _with_vault(lambda v: v.ceremonies().execute(ceremony_id, operator, shares_in=shares_in))
    if outcome.shares:
        directory = shares_dir or Path(f"shares-{ceremony_id}")
        directory.mkdir(parents=True, exist_ok=True)
        for name, share in outcome.shares.items():
            path = directory / f"{name}.share"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(share + "\n")
        click.echo(f"backup shares written to {directory}/: hand each custodian their own file, then delete them")
    _show(outcome.ceremony)


@ceremony.command("show")
@click.argument("ceremony_id")
@click.option("--proposal-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the proposal to sign offline.")
@click.option("--transcript-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the signed transcript.")
def show(ceremony_id: str, proposal_out: Path | None, transcript_out: Path | None) -> None:
    """A ceremony: its proposal, approvals, and transcript once executed."""
    found = _with_vault(lambda v: v.ceremonies().store.ceremony(ceremony_id))
    if proposal_out:
        proposal_out.write_text(found.proposal + "\n", encoding="utf-8")
    if transcript_out and found.transcript:
        transcript_out.write_text(json.dumps({
            "transcript": json.loads(found.transcript),
            "canonical": found.transcript,
            "signature": found.transcript_signature.hex() if found.transcript_signature else None,
            "sha256": found.transcript_hash,
        }, indent=2) + "\n", encoding="utf-8")
    _show(found)


@ceremony.command("list")
def list_ceremonies() -> None:
    """Every ceremony, oldest first."""
    found = _with_vault(lambda v: v.ceremonies().store.ceremonies(None, 1000))
    for c in found:
        step = c.step()
        click.echo(f"{c.id}  {c.status:<9} {c.kind:<15} {step.purpose:<14} approvals={len(c.approvals)}")


def _show(found: Ceremony) -> None:
    click.echo(f"ceremony   {found.id}")
    click.echo(f"status     {found.status}")
    click.echo(f"step hash  {found.step_hash}")
    click.echo(f"expires    {found.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    click.echo(f"approvals  {', '.join(a.custodian_id for a in found.approvals) or 'none'}")
    if found.transcript_hash:
        click.echo(f"transcript sha256 {found.transcript_hash}")
    if found.failure:
        click.echo(f"failure    {found.failure}")
    click.echo(json.dumps(json.loads(found.proposal), indent=2))
