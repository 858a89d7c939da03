"""Transactions on PostgreSQL: one pooled connection, one transaction, retried when transient."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.cards import PostgresCards
from adapters.postgres.ledger import PostgresLedger
from adapters.postgres.outbox import PostgresOutbox

T = TypeVar("T")
log = logging.getLogger(__name__)

# Conflicts that a fresh attempt resolves: lock cycles, serialization, and a concurrent insert
# of the same id (the retry reads the winner's row and answers "exists").
TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation, errors.LockNotAvailable)


class PostgresUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.ledger = PostgresLedger(conn)
        self.cards = PostgresCards(conn)
        self.outbox = PostgresOutbox(conn)

    def writes(self) -> AbstractAsyncContextManager[None]:
        """psycopg's pipeline mode: the statements go out together, the results come back together."""
        return self._conn.pipeline()


class PostgresTransactions:
    """Transactions on a pool: one connection and transaction per run, retried when transient.

    Each bounded context runs its own unit of work this way: subclasses name it (``unit_of_work``).
    """

    unit_of_work: Callable[[AsyncConnection], Any] = PostgresUnitOfWork
    label = "transaction"

    def __init__(self, pool: AsyncConnectionPool, attempts: int = 8) -> None:
        self._pool = pool
        self._attempts = attempts

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    return await work(self.unit_of_work(conn))
            except TRANSIENT as exc:
                if attempt == self._attempts:
                    raise
                log.info("retrying %s after %s (attempt %d)", self.label, type(exc).__name__, attempt)
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")
