"""Bring a database and its credentials to a runnable state: migrations, role passwords, keys."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from adapters.postgres import migrations as core_migrations
from adapters.postgres.api_keys import PostgresApiKeys
from adapters.postgres.database import Database
from adapters.postgres.migrator import migrate, set_role_password
from adapters.reveal_grants.jwt_signer import generate_signing_key
from adapters.system import SystemClock, SystemSecrets, UuidV7Ids
from application.access.manage_api_keys import ApiKeys, CreateApiKey, CreatedApiKey
from domain.access.model import App
from entrypoints.http.vault.auditing import AuditedApiKeys
from entrypoints.settings import CORE_DB_ROLE, VAULT_DB_ROLE, Settings
from vault import migrations as vault_migrations
from vault.audit.entry import Actor
from vault.audit.log import AuditLog
from vault.audit.store import PostgresAuditStore

FIRST_RUN_KEYS: list[tuple[App, str]] = [("core", "admin"), ("core", "app"), ("core", "ops"), ("vault", "admin")]
# What each service presents to the other: the core calls the vault as role "core"; the vault
# forwards network authorizations to the core as role "network".
SERVICE_KEYS: dict[str, tuple[App, str]] = {
    "BURSAR_VAULT_API_KEY": ("vault", "core"),
    "BURSAR_CORE_API_KEY": ("core", "network"),
}


SCHEMAS = {"core": core_migrations.DIRECTORY, "vault": vault_migrations.DIRECTORY}


def migrate_schemas(admin_url: str) -> list[str]:
    """Apply the core's and the vault's migrations; returns the names applied now."""
    return [
        f"{namespace}/{m.version:04d}_{m.name}"
        for namespace, directory in SCHEMAS.items()
        for m in migrate(admin_url, namespace, directory)
    ]


def migrate_all(settings: Settings) -> list[str]:
    """Apply every migration and give the application roles their passwords, when configured."""
    admin = settings.database.require_admin()
    applied = migrate_schemas(admin)
    if settings.database.core_password:
        set_role_password(admin, CORE_DB_ROLE, settings.database.core_password)
    if settings.database.vault_password:
        set_role_password(admin, VAULT_DB_ROLE, settings.database.vault_password)
    return applied


@dataclass
class KeyAdmin:
    """API-key administration for the CLI, connecting with each app's own database role."""

    settings: Settings

    async def create(self, app: App, role: str, name: str = "") -> CreatedApiKey:
        async with self._service(app) as service:
            return await service.create(CreateApiKey(role=role, name=name))

    async def revoke(self, app: App, key_id: str):
        async with self._service(app) as service:
            return await service.revoke(key_id)

    async def list(self, app: App):
        async with self._service(app) as service:
            return await service.list()

    async def is_valid(self, app: App, token_file: Path) -> bool:
        """Whether the file holds a live key of ``app`` (a fresh database invalidates old files)."""
        if not token_file.exists():
            return False
        async with self._service(app) as service:
            return await service.authenticate(token_file.read_text().strip()) is not None

    async def count_active(self, app: App) -> int:
        async with self._service(app) as service:
            return await service.count_active()

    def _service(self, app: App):
        return _ServiceScope(self.settings, app)


class _ServiceScope:
    def __init__(self, settings: Settings, app: App) -> None:
        url = settings.database.for_core() if app == "core" else settings.database.for_vault()
        self._db = Database(url, min_size=1, max_size=1, name=f"bursar-cli-{app}")
        self._app = app
        self._settings = settings

    async def __aenter__(self) -> ApiKeys | AuditedApiKeys:
        await self._db.open()
        repo = PostgresApiKeys(self._db.pool, schema=self._app)
        keys = ApiKeys(self._app, repo, SystemClock(), UuidV7Ids(), SystemSecrets())
        if self._app == "core":
            return keys
        audit = AuditLog(PostgresAuditStore(self._db.pool), SystemClock().now, origin=self._settings.audit_origin)
        return AuditedApiKeys(keys, audit, operator=Actor(id=getpass.getuser(), role="operator"))

    async def __aexit__(self, *exc: object) -> None:
        await self._db.close()


async def ensure_first_run_keys(settings: Settings) -> list[CreatedApiKey]:
    """On a database with no keys at all, create one key per FIRST_RUN_KEYS role (shown once)."""
    admin = KeyAdmin(settings)
    if await admin.count_active("core") or await admin.count_active("vault"):
        return []
    return [await admin.create(app, role, name=f"first-run {role}") for app, role in FIRST_RUN_KEYS]


async def ensure_service_keys(settings: Settings, secrets_dir: Path) -> dict[str, Path]:
    """Keys the two services use to call each other, kept in 0600 files; env var -> file."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    admin = KeyAdmin(settings)
    files = {}
    for env_name, (app, role) in SERVICE_KEYS.items():
        path = secrets_dir / f"{env_name.lower()}"
        if not await admin.is_valid(app, path):
            created = await admin.create(app, role, name=f"service {role}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(created.token)
        files[env_name] = path
    return files


def ensure_reveal_grant_keys(secrets_dir: Path) -> dict[str, Path]:
    """The core's reveal-grant signing key and the vault's copy of its public key, as 0600 files
    (made once); env var -> file. In production, keep the private key in the core's secret store."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path = secrets_dir / "reveal-grant-key.pem"
    public_path = secrets_dir / "reveal-grant-public-keys.pem"
    if not (private_path.exists() and public_path.exists()):
        private, public = generate_signing_key()
        for path, content in ((private_path, private), (public_path, public)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
    return {"BURSAR_REVEAL_GRANT_KEY": private_path, "BURSAR_REVEAL_GRANT_PUBLIC_KEYS": public_path}
