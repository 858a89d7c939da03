"""Shared fixtures: a real PostgreSQL database and a real SoftHSM2 token per test session.

PostgreSQL: ``DATABASE_URL`` (an admin connection) when set, else the embedded server under
``.data/pg``. Each session gets a fresh database with every migration applied, dropped at the
end. A missing service fails the tests with a message saying what to do; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from entrypoints.runtime import embedded_postgres
from entrypoints.settings import CORE_DB_ROLE, VAULT_DB_ROLE, Settings, role_url

pytest_plugins = ["tests.fixtures_hsm"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TestDatabase:
    admin_url: str
    core_url: str
    vault_url: str
    name: str


@pytest.fixture(scope="session")
def postgres_server_uri() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    try:
        server = embedded_postgres.start(ROOT / ".data" / "pg")
    except Exception as exc:  # a missing database is a failure, never a skip
        pytest.fail(f"cannot start the embedded PostgreSQL ({exc}); run `make test` or set DATABASE_URL", pytrace=False)
    yield server.get_uri()
    server.cleanup()


@contextmanager
def _fresh_database(server_uri: str) -> Iterator[TestDatabase]:
    """A new database with every migration applied, dropped afterwards."""
    from entrypoints.runtime.bootstrap import migrate_schemas

    name = f"bursar_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = embedded_postgres.ensure_database(server_uri, name)
    except Exception as exc:
        pytest.fail(f"PostgreSQL at DATABASE_URL is not reachable: {exc}", pytrace=False)
    migrate_schemas(admin)
    try:
        yield TestDatabase(
            admin_url=admin,
            core_url=role_url(admin, CORE_DB_ROLE, None),
            vault_url=role_url(admin, VAULT_DB_ROLE, None),
            name=name,
        )
    finally:
        embedded_postgres.drop_database(server_uri, name)


@pytest.fixture(scope="session")
def database(postgres_server_uri: str) -> Iterator[TestDatabase]:
    """The session's database, shared by its tests."""
    with _fresh_database(postgres_server_uri) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def module_database(postgres_server_uri: str) -> Iterator[TestDatabase]:
    """A database of the module's own, for tests that would change what the session's tests rely
    on (the rate book's first rates: a development core seeds an empty one)."""
    with _fresh_database(postgres_server_uri) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def stack_env(database: TestDatabase, softhsm_token, tmp_path_factory) -> dict[str, str]:
    """Environment variables that point both apps at the test database and token."""
    from entrypoints.runtime.bootstrap import ensure_reveal_grant_keys

    pin_file = tmp_path_factory.mktemp("pin") / "user.pin"
    pin_file.write_text(softhsm_token.pin)
    pin_file.chmod(0o600)
    grant_keys = ensure_reveal_grant_keys(tmp_path_factory.mktemp("secrets"))
    return {
        **{f"{name}_FILE": str(path) for name, path in grant_keys.items()},
        "DATABASE_URL": database.admin_url,
        "BURSAR_HSM_MODULE": softhsm_token.module_path,
        "BURSAR_HSM_TOKEN_LABEL": softhsm_token.token_label,
        "BURSAR_HSM_PIN_FILE": str(pin_file),
        "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"],
        "BURSAR_API_KEY_CACHE_SECONDS": "0",
        "BURSAR_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def vault_bootstrapped(stack_env, hsm, softhsm_token, tmp_path_factory) -> dict[str, str]:
    """The session database's vault with every key, made by the development key ceremony."""
    from dependency_injector import providers

    from entrypoints.containers import VaultContainer
    from entrypoints.runtime.dev_ceremony import ensure_dev_keys
    from entrypoints.settings import Settings

    container = VaultContainer()
    container.settings.override(providers.Object(Settings.from_env(stack_env)))
    container.hsm_config.override(providers.Object(softhsm_token))
    container.hsm.override(providers.Object(hsm))

    async def bootstrap() -> None:
        database = container.database()
        await database.open()
        try:
            await ensure_dev_keys(container, tmp_path_factory.mktemp("custodians"))
        finally:
            await container.audit().drain()
            await database.close()

    asyncio.run(bootstrap())
    return stack_env


@pytest.fixture(scope="session")
def running_stack(vault_bootstrapped, tmp_path_factory):
    """Both apps as real processes (uvicorn) on free ports, calling each other with service keys;
    yields ``(urls, settings, log directory)``."""
    stack_env = vault_bootstrapped
    core_port, vault_port = free_port(), free_port()
    env = {**os.environ, **stack_env, "BURSAR_CORE_PORT": str(core_port), "BURSAR_VAULT_PORT": str(vault_port),
           "BURSAR_LOG_LEVEL": "INFO"}
    settings = Settings.from_env(env)
    from entrypoints.runtime.bootstrap import ensure_service_keys

    for name, path in asyncio.run(ensure_service_keys(settings, tmp_path_factory.mktemp("secrets"))).items():
        env[f"{name}_FILE"] = str(path)
    settings = Settings.from_env(env)
    # A development core seeds an empty rate book from the bundled ECB snapshot, but the session's
    # database may already hold other tests' manual rates: refresh it as ops would, so the stack's
    # foreign-currency flows do not depend on which tests ran first.
    refreshed = subprocess.run([sys.executable, "-m", "entrypoints.cli.main", "fx", "refresh"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    logs = tmp_path_factory.mktemp("logs")
    procs = {
        app: subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli.main", "serve", app],
            cwd=ROOT, env=env, stdout=open(logs / f"{app}.out", "wb"), stderr=open(logs / f"{app}.log", "wb"),
        )
        for app in ("vault", "core")
    }
    urls = {"core": f"http://127.0.0.1:{core_port}", "vault": f"http://127.0.0.1:{vault_port}"}
    try:
        deadline = time.monotonic() + 30
        for app, url in urls.items():
            while True:
                assert procs[app].poll() is None, (logs / f"{app}.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{app} not ready: " + (logs / f"{app}.log").read_text()[-3000:]
                time.sleep(0.1)
        yield urls, settings, logs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=15)
