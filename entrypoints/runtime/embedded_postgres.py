"""An embedded PostgreSQL under ``.data/pg`` for development and tests (the ``pgserver`` package).

It listens on a Unix socket only. ``pgserver`` counts the processes holding a handle across the
machine and stops the server when the last one exits, so ``bursar`` CLI commands can share the
server that ``make run`` started.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


class EmbeddedPostgresError(Exception):
    pass


def start(directory: Path):
    """Start (or join) the embedded server; returns the pgserver handle."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only development machines need it
    except ImportError as exc:  # pragma: no cover - depends on the platform
        raise EmbeddedPostgresError(
            "the embedded PostgreSQL needs the 'pgserver' package (Python <= 3.12, Linux x86_64 or macOS); "
            "set DATABASE_URL to use another server"
        ) from exc
    directory.mkdir(parents=True, exist_ok=True)
    for logger in ("pgserver", "pgserver.postgres_server"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    server = pgserver.get_server(directory, cleanup_mode="stop")
    _configure(server.get_uri())
    return server


# Settings for a write-heavy ledger that a running server takes on a reload (written as SHOW
# prints them). With the default max_wal_size (1 GB) a benchmark's writes forced a checkpoint
# every 30 s, and the full-page images written after each one slowed everything that followed.
_SETTINGS = {"max_wal_size": "8GB", "checkpoint_timeout": "15min"}


def _configure(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        stale = [name for name, value in _SETTINGS.items()
                 if conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0] != value]
        for name in stale:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(_SETTINGS[name])))
        if stale:
            conn.execute("SELECT pg_reload_conf()")


def use_unless_configured(directory: Path, stack: ExitStack, database: str = "bursar") -> bool:
    """Point DATABASE_URL at the embedded server (started or joined, released with ``stack``)
    unless it is already set; returns whether the embedded server is in use."""
    if os.environ.get("DATABASE_URL"):
        return False
    server = start(directory)
    stack.callback(server.cleanup)
    os.environ["DATABASE_URL"] = ensure_database(server.get_uri(), database)
    return True


def ensure_database(server_uri: str, name: str) -> str:
    """Create database ``name`` if missing; returns a URL for it."""
    with psycopg.connect(server_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_uri, name)


def drop_database(server_uri: str, name: str) -> None:
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def with_database(uri: str, name: str) -> str:
    """``uri`` pointing at database ``name`` (keeps the socket/host query parameters)."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)
