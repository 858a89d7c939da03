"""Transactions on PostgreSQL: one pooled connection, one transaction, retried when transient."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from psycopg import errors
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
    def __init__(self, conn) -> None:
        self.ledger = PostgresLedger(conn)
        self.cards = PostgresCards(conn)
        self.outbox = PostgresOutbox(conn)


class PostgresTransactions:
    def __init__(self, pool: AsyncConnectionPool, attempts: int = 8) -> None:
        self._pool = pool
        self._attempts = attempts

    async def run(self, work: Callable[[PostgresUnitOfWork], Awaitable[T]]) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    return await work(PostgresUnitOfWork(conn))
            except TRANSIENT as exc:
                if attempt == self._attempts:
                    raise
                log.info("retrying transaction after %s (attempt %d)", type(exc).__name__, attempt)
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")
