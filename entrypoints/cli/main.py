"""The ``bursar`` command line: operators' tool for running, migrating and administering Bursar."""

from __future__ import annotations

import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from domain.shared.errors import DomainError
from entrypoints.cli.audit import audit
from entrypoints.cli.ceremony import ceremony
from entrypoints.cli.compliance import compliance
from entrypoints.cli.fx import fx
from entrypoints.settings import ConfigError, Settings
from hsm.errors import HsmError
from vault.errors import VaultError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Bursar: an open card-issuing core and its PCI vault."""


@cli.command()
def run() -> None:
    """Run the whole product locally (what `make run` calls)."""
    from entrypoints.runtime.stack import run_stack

    sys.exit(run_stack())


@cli.command()
@click.argument("app", type=click.Choice(["core", "vault"]))
@click.option("--host", default=None, help="Bind address (default BURSAR_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default BURSAR_CORE_PORT/BURSAR_VAULT_PORT).")
@click.option("--workers", type=int, default=1, show_default=True)
def serve(app: str, host: str | None, port: int | None, workers: int) -> None:
    """Serve one app with uvicorn (used by `bursar run` and compose.yaml)."""
    import uvicorn

    from entrypoints.observability.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, service=f"bursar-{app}")
    factory = "entrypoints.http.core.app:create_core_app" if app == "core" else "entrypoints.http.vault.app:create_vault_app"
    uvicorn.run(
        factory,
        factory=True,
        host=host or settings.host,
        port=port or (settings.core_port if app == "core" else settings.vault_port),
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


@cli.group()
def db() -> None:
    """Database administration."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations of the core and the vault (idempotent)."""
    from entrypoints.runtime.bootstrap import migrate_all

    with _database() as settings:
        applied = migrate_all(settings)
    click.echo("\n".join(f"applied {name}" for name in applied) or "up to date")


@cli.group()
def keys() -> None:
    """API keys: each has one role and belongs to one app (core or vault)."""


_APP = click.option("--app", "app", type=click.Choice(["core", "vault"]), required=True)


@keys.command("create")
@_APP
@click.option("--role", required=True, help="core: app, ops, network, reveal, auditor, admin; vault: core, reveal, network, auditor, admin")
@click.option("--name", default="", help="A label for humans.")
def keys_create(app: str, role: str, name: str) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from entrypoints.runtime.bootstrap import KeyAdmin

    with _database() as settings:
        created = asyncio.run(KeyAdmin(settings).create(app, role, name))  # type: ignore[arg-type]
    click.echo(f"id      {created.key.id}\nrole    {created.key.role}\nkey     {created.token}")
    click.echo("The key is shown this once.", err=True)


@keys.command("revoke")
@_APP
@click.argument("key_id")
def keys_revoke(app: str, key_id: str) -> None:
    """Revoke a key (takes effect within BURSAR_API_KEY_CACHE_SECONDS)."""
    from entrypoints.runtime.bootstrap import KeyAdmin

    with _database() as settings:
        key = asyncio.run(KeyAdmin(settings).revoke(app, key_id))  # type: ignore[arg-type]
    click.echo(f"revoked {key.id} ({key.role}) at {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}")


@keys.command("list")
@_APP
def keys_list(app: str) -> None:
    """List keys (never their secrets)."""
    from entrypoints.runtime.bootstrap import KeyAdmin

    with _database() as settings:
        found = asyncio.run(KeyAdmin(settings).list(app))  # type: ignore[arg-type]
    for key in found:
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"{key.id}  {key.role:<8} {state:<18} {key.name}")


@cli.group()
def hsm() -> None:
    """HSM administration."""


@hsm.command("init-token")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where the token lives (default: $BURSAR_DATA_DIR/hsm).")
@click.option("--label", default="bursar", show_default=True)
def hsm_init_token(directory: Path | None, label: str) -> None:
    """Create a private SoftHSM2 token for development or tests (never the system token directory)."""
    from hsm.softhsm import ensure_dev_token

    directory = directory or Settings.from_env().data_dir / "hsm"
    conf, pin_file = ensure_dev_token(directory, label=label)
    click.echo(f"export SOFTHSM2_CONF={conf}\nexport BURSAR_HSM_TOKEN_LABEL={label}\nexport BURSAR_HSM_PIN_FILE={pin_file}")


@hsm.command("keys")
def hsm_keys() -> None:
    """The vault's key inventory: purpose, version, state, KCV (never key material)."""
    from entrypoints.runtime.vault_session import run_with_vault

    records = run_with_vault(lambda v: v.key_store().all())
    for r in records:
        check = f"{r.kcv} ({r.kcv_algorithm})" if r.kcv else f"public key {r.public_key.hex()[:16]}..."
        click.echo(f"{r.purpose:<14} v{r.version:<3} {r.state:<13} {r.algorithm:<12} {check}")


@cli.group()
def vault() -> None:
    """The vault's card data."""


@vault.command("rewrap")
@click.option("--batch", type=int, default=100, show_default=True, help="Data keys per database round.")
def vault_rewrap(batch: int) -> None:
    """Rewrap every data key under the active KEK version (no PAN is decrypted); safe to interrupt and rerun."""
    from entrypoints.runtime.vault_session import run_with_vault

    def show(done: int, total: int) -> None:
        click.echo(f"\rrewrapped {done}/{total}", nl=False)

    moved = run_with_vault(lambda v: v.data_keys().rewrap(batch=batch, progress=show))
    click.echo(f"\n{moved} data keys now under the active KEK" if moved else "every data key is under the active KEK")


@cli.command()
def demo() -> None:
    """Run the card flow against the running stack (make run) and print each step."""
    from entrypoints.runtime.demo import DemoFailed, run_demo, verify_audit_log

    with _database() as settings:
        click.echo(f"Bursar demo against {settings.core_url} (core) and {settings.vault_url} (vault)")
        try:
            run_demo(settings, click.echo, verify_audit_log)
        except DemoFailed as exc:
            raise click.ClickException(str(exc)) from None
    click.echo("The demo's API keys are revoked.")


cli.add_command(ceremony)
cli.add_command(audit)
cli.add_command(compliance)
cli.add_command(fx)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", type=click.Choice(["ledger", "screening", "vault", "authorization", "all"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(name: str, args: tuple[str, ...]) -> None:
    """Run a benchmark from bench/ (a source checkout); see docs/performance.md."""
    try:
        from bench import authorization, ledger, screening
        from bench import vault as vault_bench
    except ImportError:
        raise click.ClickException("benchmarks live in the source checkout's bench/ folder") from None
    for bench_name, module in (("ledger", ledger), ("screening", screening), ("vault", vault_bench),
                               ("authorization", authorization)):
        if name in (bench_name, "all"):
            module.main(list(args))


class _database:
    """Settings with a database: DATABASE_URL, or else the embedded server under .data/pg."""

    def __enter__(self) -> Settings:
        from entrypoints.runtime import embedded_postgres

        self._stack = ExitStack()
        embedded_postgres.use_unless_configured(Settings.from_env().data_dir / "pg", self._stack)
        return Settings.from_env()

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except (ConfigError, DomainError, VaultError, HsmError) as exc:
        click.echo(f"bursar: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
