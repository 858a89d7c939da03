"""The transaction runner: BEGIN goes out with the work's first statement, however that statement is
sent, and the work is one transaction that commits when it returns and rolls back when it raises."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg import pq

from adapters.postgres.database import Database
from adapters.postgres.unit_of_work import PostgresTransactions


@pytest.fixture(scope="module")
def probe_table(database) -> str:
    table = f"core.tx_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO bursar_core")
    return table


def _run_uow(database, work):
    """``work(unit of work)`` through the runner, on a pool of one connection."""
    async def main():
        db = Database(database.core_url, min_size=1, max_size=1)
        await db.open()
        try:
            return await PostgresTransactions(db.pool).run(work)
        finally:
            await db.close()

    return asyncio.run(main())


def _run(database, work):
    """``work(connection)`` through the runner."""
    return _run_uow(database, lambda uow: work(uow._conn))


def _count(database, table: str, key: str) -> int:
    with psycopg.connect(database.admin_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE id LIKE %s", (f"{key}%",)).fetchone()[0]


class _Undo(Exception):
    pass


def _first_statement(kind: str, table: str, key: str):
    """A work whose first statement is sent in one of the ways adapters send statements."""

    async def first(conn) -> None:
        if kind == "execute":
            await conn.execute(f"INSERT INTO {table} (id) VALUES (%s)", (f"{key}-1",))
        elif kind == "pipeline":
            async with conn.pipeline():
                await conn.execute(f"INSERT INTO {table} (id) VALUES (%s)", (f"{key}-1",))
        elif kind == "cursor":
            await conn.cursor().execute(f"INSERT INTO {table} (id) VALUES (%s)", (f"{key}-1",))
        elif kind == "executemany":
            await conn.cursor().executemany(f"INSERT INTO {table} (id) VALUES (%s)", [(f"{key}-1",)])
        elif kind == "copy":
            async with conn.cursor().copy(f"COPY {table} (id) FROM STDIN") as copy:
                await copy.write_row((f"{key}-1",))

    return first


KINDS = ["execute", "pipeline", "cursor", "executemany", "copy"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_statement_opens_the_transaction_and_a_failure_undoes_it(database, probe_table, kind):
    key = f"undo-{kind}-{uuid.uuid4().hex[:6]}"
    first = _first_statement(kind, probe_table, key)

    async def work(conn):
        await first(conn)
        assert conn.pgconn.transaction_status == pq.TransactionStatus.INTRANS  # inside BEGIN, not autocommitted
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-2",))
        raise _Undo

    with pytest.raises(_Undo):
        _run(database, work)
    assert _count(database, probe_table, key) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_work_that_returns_commits_everything_it_wrote(database, probe_table, kind):
    key = f"keep-{kind}-{uuid.uuid4().hex[:6]}"
    first = _first_statement(kind, probe_table, key)

    async def work(conn):
        await first(conn)
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-2",))
        return "done"

    assert _run(database, work) == "done"
    assert _count(database, probe_table, key) == 2


def test_a_database_error_rolls_back_and_the_connection_serves_the_next_transaction(database, probe_table):
    key = f"err-{uuid.uuid4().hex[:6]}"

    async def failing(conn):
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-1",))
        await conn.execute(f"INSERT INTO {probe_table} (id, n) VALUES (%s, NULL)", (f"{key}-2",))  # NOT NULL

    async def main():
        db = Database(database.core_url, min_size=1, max_size=1)  # one connection: the same one twice
        await db.open()
        try:
            transactions = PostgresTransactions(db.pool)
            with pytest.raises(psycopg.errors.NotNullViolation):
                await transactions.run(lambda uow: failing(uow._conn))

            async def after(uow):
                await uow._conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-3",))
                return uow._conn.autocommit

            return await transactions.run(after)
        finally:
            await db.close()

    assert asyncio.run(main()) is True  # explicit transactions on an autocommit connection
    assert _count(database, probe_table, key) == 1


def test_a_work_that_sends_nothing_commits_nothing(database):
    async def work(conn):
        return conn.pgconn.transaction_status

    assert _run(database, work) == pq.TransactionStatus.IDLE


def test_a_work_that_swallows_a_database_error_is_not_reported_committed(database, probe_table):
    key = f"swallow-{uuid.uuid4().hex[:6]}"

    async def work(conn):
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-1",))
        try:
            await conn.execute(f"INSERT INTO {probe_table} (id, n) VALUES (%s, NULL)", (f"{key}-2",))
        except psycopg.errors.NotNullViolation:
            pass  # the transaction is aborted all the same
        return "done"

    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        _run(database, work)
    assert _count(database, probe_table, key) == 0



def test_the_last_writes_carry_the_commit(database, probe_table):
    key = f"last-{uuid.uuid4().hex[:6]}"

    async def work(uow):
        conn = uow._conn
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-1",))
        async with uow.writes(last=True):
            await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-2",))
        return conn.pgconn.transaction_status  # committed with the block: nothing left open

    assert _run_uow(database, work) == pq.TransactionStatus.IDLE
    assert _count(database, probe_table, key) == 2


def test_a_failure_in_the_last_writes_commits_nothing(database, probe_table):
    key = f"lastfail-{uuid.uuid4().hex[:6]}"

    async def work(uow):
        conn = uow._conn
        await conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-1",))
        async with uow.writes(last=True):
            await conn.execute(f"INSERT INTO {probe_table} (id, n) VALUES (%s, NULL)", (f"{key}-2",))

    with pytest.raises(psycopg.errors.NotNullViolation):
        _run_uow(database, work)
    assert _count(database, probe_table, key) == 0


def test_nothing_may_follow_the_last_writes(database, probe_table):
    key = f"after-{uuid.uuid4().hex[:6]}"

    async def work(uow):
        async with uow.writes(last=True):
            await uow._conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-1",))
        await uow._conn.execute(f"INSERT INTO {probe_table} (id) VALUES (%s)", (f"{key}-2",))  # outside any transaction

    with pytest.raises(psycopg.errors.ProgrammingError, match="after the unit of work's last writes"):
        _run_uow(database, work)
    assert _count(database, probe_table, key) == 1  # the committed block stands; the stray insert never ran
