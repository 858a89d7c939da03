"""Transactions on PostgreSQL: one pooled connection, one transaction, retried when transient.

Each bounded context's unit of work runs on ``TransactionRunner`` (the core's: ``unit_of_work.py``).

BEGIN travels with the transaction's first statement. psycopg opens a transaction with a round trip
of its own (it waits for BEGIN's answer even in pipeline mode), one in four of a ledger batch's.
So the connection runs in autocommit mode and the transaction is explicit: the first statement
of the work (or its first pipeline) goes out preceded by ``BEGIN`` in the same round trip
(``_BeginFirst``), and the runner sends ``COMMIT`` or ``ROLLBACK`` at the end.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from psycopg import AsyncConnection, AsyncCursor, errors, pq
from psycopg_pool import AsyncConnectionPool


T = TypeVar("T")
log = logging.getLogger(__name__)

# Conflicts that a fresh attempt resolves: lock cycles, serialization, and a concurrent insert
# of the same id (the retry reads the winner's row and answers "exists").
TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation, errors.LockNotAvailable)


class TransactionRunner:
    """Transactions on a pool: one connection and transaction per run, retried when transient.

    Each bounded context runs its own unit of work this way: subclasses name it (``unit_of_work``).
    """

    unit_of_work: Callable[[AsyncConnection], Any]
    label = "transaction"

    def __init__(self, pool: AsyncConnectionPool, attempts: int = 8) -> None:
        self._pool = pool
        self._attempts = attempts

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._pool.connection() as conn:
                    return await _in_transaction(conn, lambda: work(self.unit_of_work(conn)))
            except TRANSIENT as exc:
                if attempt == self._attempts:
                    raise
                log.info("retrying %s after %s (attempt %d)", self.label, type(exc).__name__, attempt)
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")


_IDLE = pq.TransactionStatus.IDLE
_FAILED = pq.TransactionStatus.INERROR
_PIPELINE_OFF = pq.PipelineStatus.OFF


async def _in_transaction(conn: AsyncConnection, work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` in one transaction on ``conn``: BEGIN sent with its first statement, COMMIT after
    it (nothing when it sent no statement), ROLLBACK when it raises."""
    await conn.set_autocommit(True)  # no round trip: the connection is idle
    conn.cursor_factory = _BeginFirst
    conn._bursar_begin, conn._bursar_done = True, False  # type: ignore[attr-defined]
    try:
        result = await work()
        begun = not conn._bursar_begin  # type: ignore[attr-defined]
        conn._bursar_begin = False  # type: ignore[attr-defined]
        if begun and conn.pgconn.transaction_status != _IDLE:  # unless its last writes carried COMMIT
            if conn.pgconn.transaction_status == _FAILED:  # COMMIT would quietly roll back
                raise errors.InFailedSqlTransaction("the work went on after a database error it caught; nothing was committed")
            await AsyncCursor(conn).execute("COMMIT")
        return result
    except BaseException:
        conn._bursar_begin = False  # type: ignore[attr-defined]
        try:
            if conn.pgconn.pipeline_status == _PIPELINE_OFF and conn.pgconn.transaction_status != _IDLE:
                await AsyncCursor(conn).execute("ROLLBACK")
        except Exception:  # a broken connection: the pool discards it
            await conn.close()
        raise
    finally:
        conn._bursar_done = False  # type: ignore[attr-defined]
        conn.cursor_factory = AsyncCursor
        if not conn.closed:
            try:
                await conn.set_autocommit(False)
            except Exception:
                await conn.close()


@asynccontextmanager
async def final_writes(conn: AsyncConnection) -> AsyncIterator[None]:
    """The work's last writes with the COMMIT after them, in one pipeline. Outside the runner's
    explicit transaction (``_in_transaction``) it is a plain pipeline."""
    async with conn.pipeline():
        yield
        if getattr(conn, "_bursar_begin", None) is False:  # begun by the runner
            conn._bursar_done = True  # type: ignore[attr-defined]  # nothing may follow
            await AsyncCursor(conn).execute("COMMIT")


class _BeginFirst(AsyncCursor):
    """A cursor that, while its connection's explicit transaction has not begun, sends ``BEGIN``
    in the same round trip as the statement (pipeline mode), or in the pipeline the caller opened.
    COPY and ``executemany`` get BEGIN as a round trip of their own first. Every way a cursor
    sends a statement is covered: one that skipped BEGIN would run outside the transaction."""

    async def _begin(self) -> bool:
        """Queue BEGIN if it is due; True when the caller must open a pipeline to send it with."""
        conn = self.connection
        if getattr(conn, "_bursar_done", False):  # it would run outside the committed transaction
            raise errors.ProgrammingError("a statement after the unit of work's last writes")
        if not getattr(conn, "_bursar_begin", False):
            return False
        conn._bursar_begin = False  # type: ignore[attr-defined]
        if conn.pgconn.pipeline_status != _PIPELINE_OFF:
            await AsyncCursor(conn).execute("BEGIN")  # goes out with the caller's pipeline
            return False
        return True

    async def execute(self, query, params=None, **kwargs):  # type: ignore[override]
        if await self._begin():
            async with self.connection.pipeline():
                await AsyncCursor(self.connection).execute("BEGIN")
                await super().execute(query, params, **kwargs)
            return self  # the results arrived as the pipeline ended
        return await super().execute(query, params, **kwargs)

    async def executemany(self, query, params_seq, **kwargs):  # type: ignore[override]
        if await self._begin():
            await AsyncCursor(self.connection).execute("BEGIN")
        return await super().executemany(query, params_seq, **kwargs)

    def stream(self, query, params=None, **kwargs):  # type: ignore[override]
        raise NotImplementedError("streaming results inside a unit of work is not supported")

    def copy(self, statement, params=None, **kwargs):  # type: ignore[override]
        conn = self.connection
        if getattr(conn, "_bursar_begin", False):
            return _BeginThenCopy(conn, super().copy(statement, params, **kwargs))
        return super().copy(statement, params, **kwargs)


class _BeginThenCopy:
    """``copy``'s context manager, entered after BEGIN has been sent on its own."""

    def __init__(self, conn: AsyncConnection, inner: AbstractAsyncContextManager[Any]) -> None:
        self._conn, self._inner = conn, inner

    async def __aenter__(self):
        self._conn._bursar_begin = False  # type: ignore[attr-defined]
        await AsyncCursor(self._conn).execute("BEGIN")
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc):
        return await self._inner.__aexit__(*exc)
