"""Versioned SQL migrations.

Files named ``NNNN_description.sql`` in a directory are applied in order, each in its own
transaction, while a session-level advisory lock keeps concurrent migrators apart. Applied
versions are recorded (with a checksum) in ``public.bursar_migrations`` under a namespace, so the
core and the vault keep separate histories in one database. Re-running applies nothing; an
applied file that changed afterwards is refused rather than silently diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

_LOCK_KEY = 0x6275727361720001  # "bursar" + 1, fits in a bigint
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version")
    return found


def migrate(url: str, namespace: str, directory: Path) -> list[Migration]:
    """Apply pending migrations of ``namespace``; returns the ones applied now."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS public.bursar_migrations (
                       namespace text NOT NULL,
                       version integer NOT NULL,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (namespace, version))"""
            )
            rows = conn.execute(
                "SELECT version, checksum FROM public.bursar_migrations WHERE namespace = %s", (namespace,)
            ).fetchall()
            done = dict(rows)
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{namespace} migration {migration.version:04d}_{migration.name} was changed "
                            "after it was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]  # trusted files shipped with Bursar
                    conn.execute(
                        "INSERT INTO public.bursar_migrations (namespace, version, name, checksum) VALUES (%s, %s, %s, %s)",
                        (namespace, migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def set_role_password(url: str, role: str, password: str) -> None:
    """Give an application role a login password (for deployments without socket trust)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(password)))
