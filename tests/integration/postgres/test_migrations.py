"""Migrations apply on an empty database, in order, once; edits to applied files are refused."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from adapters.postgres import migrations as core_migrations
from adapters.postgres.migrator import MigrationError, discover, migrate
from entrypoints.runtime import embedded_postgres
from vault import migrations as vault_migrations


@pytest.fixture
def empty_database(postgres_server_uri):
    name = f"bursar_mig_{uuid.uuid4().hex[:8]}"
    url = embedded_postgres.ensure_database(postgres_server_uri, name)
    yield url
    embedded_postgres.drop_database(postgres_server_uri, name)


def test_apply_on_empty_database_then_idempotent(empty_database):
    first_core = migrate(empty_database, "core", core_migrations.DIRECTORY)
    first_vault = migrate(empty_database, "vault", vault_migrations.DIRECTORY)
    assert [m.version for m in first_core] == [m.version for m in discover(core_migrations.DIRECTORY)]
    assert [m.version for m in first_vault] == [m.version for m in discover(vault_migrations.DIRECTORY)]
    assert migrate(empty_database, "core", core_migrations.DIRECTORY) == []
    assert migrate(empty_database, "vault", vault_migrations.DIRECTORY) == []
    with psycopg.connect(empty_database) as conn:
        recorded = conn.execute("SELECT namespace, count(*) FROM public.bursar_migrations GROUP BY 1 ORDER BY 1").fetchall()
    assert recorded == [("core", len(first_core)), ("vault", len(first_vault))]


def test_changed_applied_migration_is_refused(empty_database, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE public.t_first (id int);")
    migrate(empty_database, "scratch", tmp_path)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE public.t_first (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_database, "scratch", tmp_path)


def test_failed_migration_leaves_nothing_behind(empty_database, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE public.t_ok (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE public.t_half (id int); SELECT no_such_function();")
    with pytest.raises(psycopg.Error):
        migrate(empty_database, "scratch2", tmp_path)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT to_regclass('public.t_ok') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regclass('public.t_half')").fetchone() == (None,)
        versions = conn.execute("SELECT version FROM public.bursar_migrations WHERE namespace = 'scratch2'").fetchall()
    assert versions == [(1,)]


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_description"):
        discover(tmp_path)
