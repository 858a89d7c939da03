"""The core's database role cannot touch the vault's tables, and the other way round."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM vault.api_keys",
        "INSERT INTO vault.api_keys (id, app, role, name, secret_hash, created_at) VALUES ('x', 'vault', 'admin', 'x', 'x', now())",
        "UPDATE vault.api_keys SET revoked_at = now()",
        "DELETE FROM vault.api_keys",
        "CREATE TABLE vault.intruder (id int)",
    ],
)
def test_core_role_is_refused_on_vault_tables(database, statement):
    with psycopg.connect(database.core_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("bursar_core",)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)


def test_vault_role_is_refused_on_core_tables(database):
    with psycopg.connect(database.vault_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM core.api_keys")


def test_each_role_reads_its_own_tables(database):
    with psycopg.connect(database.core_url) as conn:
        conn.execute("SELECT count(*) FROM core.api_keys")
    with psycopg.connect(database.vault_url) as conn:
        conn.execute("SELECT count(*) FROM vault.api_keys")


def test_application_roles_cannot_delete_credentials(database):
    with psycopg.connect(database.core_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("DELETE FROM core.api_keys")
