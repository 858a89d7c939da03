"""``bursar run`` (what ``make run`` calls): the whole product on one machine.

Starts an embedded PostgreSQL under ``.data/pg`` unless ``DATABASE_URL`` is set, a private
SoftHSM2 token under ``.data/hsm`` unless HSM settings are given, applies migrations, creates
first-run API keys (printed once), then serves the core and the vault as two processes until
Ctrl-C, which stops everything it started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import httpx

from entrypoints.runtime import embedded_postgres
from entrypoints.runtime.bootstrap import (
    ensure_first_run_keys,
    ensure_reveal_grant_keys,
    ensure_service_keys,
    migrate_all,
)
from entrypoints.settings import Settings
from hsm.softhsm import ensure_dev_token


def prepare_environment(settings: Settings, stack: ExitStack, say=print) -> Settings:
    """Fill in DATABASE_URL and HSM settings with local services when absent; returns new settings."""
    data_dir = settings.data_dir
    started = time.perf_counter()
    if embedded_postgres.use_unless_configured(data_dir / "pg", stack):
        say(f"  postgres   embedded, {data_dir / 'pg'} ({time.perf_counter() - started:.1f}s)")
    else:
        say("  postgres   DATABASE_URL")
    if not (os.environ.get("BURSAR_HSM_PIN") or os.environ.get("BURSAR_HSM_PIN_FILE")):
        conf, pin_file = ensure_dev_token(data_dir / "hsm", label=os.environ.get("BURSAR_HSM_TOKEN_LABEL", "bursar"))
        os.environ["SOFTHSM2_CONF"] = str(conf)
        os.environ["BURSAR_HSM_PIN_FILE"] = str(pin_file)
        say(f"  hsm        SoftHSM2 token under {data_dir / 'hsm'}")
    else:
        say("  hsm        BURSAR_HSM_* settings")
    return Settings.from_env()


def run_stack() -> int:
    settings = Settings.from_env()
    print("Bursar: starting")
    with ExitStack() as stack:
        settings = prepare_environment(settings, stack)
        applied = migrate_all(settings)
        print(f"  migrations {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", up to date"))
        if settings.env == "development":
            for line in asyncio.run(_dev_keys(settings)):
                print(f"  keys       {line}")
        first_keys = asyncio.run(ensure_first_run_keys(settings))
        secrets_dir = settings.data_dir / "secrets"
        service_files = asyncio.run(ensure_service_keys(settings, secrets_dir))
        if not (settings.reveal_grant_key and settings.reveal_grant_public_keys):
            service_files |= ensure_reveal_grant_keys(secrets_dir)
        for env_name, path in service_files.items():
            os.environ[f"{env_name}_FILE"] = str(path)
            os.environ.pop(env_name, None)
        children = [_serve("core", settings.core_port), _serve("vault", settings.vault_port)]
        stack.callback(_stop, children)
        core = f"http://{settings.host}:{settings.core_port}"
        vault = f"http://{settings.host}:{settings.vault_port}"
        if not _wait_ready([core, vault], children):
            print("Bursar: a service did not become ready; see the log lines above", file=sys.stderr)
            return 1
        _banner(core, vault, first_keys)
        return _wait(children)


async def _dev_keys(settings: Settings) -> list[str]:
    from entrypoints.runtime.dev_ceremony import ensure_dev_keys
    from entrypoints.runtime.vault_session import open_vault

    async with open_vault(settings) as vault:
        return await ensure_dev_keys(vault, settings.data_dir / "custodians")


def _serve(app: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "entrypoints.cli.main", "serve", app, "--port", str(port)])


def _wait_ready(urls: list[str], children: list[subprocess.Popen], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        for url in list(pending):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    pending.remove(url)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    return not pending


def _banner(core: str, vault: str, keys) -> None:
    print(f"\nBursar is running.\n  core API   {core}   (docs: {core}/schema)\n  vault API  {vault}   (docs: {vault}/schema)")
    if keys:
        print("\nFirst-run API keys. They are shown this once; store them now:")
        for created in keys:
            print(f"  {created.key.app:<5} {created.key.role:<6} {created.token}")
    print("\nCtrl-C stops everything.", flush=True)


def _wait(children: list[subprocess.Popen]) -> int:
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    if not stopping:
        print("Bursar: a service exited unexpectedly; stopping", file=sys.stderr)
        return 1
    print("\nBursar: stopping", flush=True)
    return 0


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


