"""The core's unit of work on PostgreSQL: ledger, cards, outbox and monitored activity on one
connection, in one transaction (``transactions.py`` runs it)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from psycopg import AsyncConnection

from adapters.postgres.cards import PostgresCards
from adapters.postgres.compliance import PostgresActivity
from adapters.postgres.ledger import PostgresLedger
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.transactions import TransactionRunner, final_writes


class PostgresUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.ledger = PostgresLedger(conn)
        self.cards = PostgresCards(conn)
        self.outbox = PostgresOutbox(conn)
        self.activity = PostgresActivity(conn)

    def reads(self) -> AbstractAsyncContextManager[None]:
        """psycopg's pipeline mode: the queued statements go out when the block ends."""
        return self._conn.pipeline()

    def writes(self, *, last: bool = False) -> AbstractAsyncContextManager[None]:
        """psycopg's pipeline mode: the statements go out together, the results come back together;
        ``last`` sends the transaction's COMMIT in the same round trip."""
        return final_writes(self._conn) if last else self._conn.pipeline()


class PostgresTransactions(TransactionRunner):
    """The core's transactions (``PostgresUnitOfWork``)."""

    unit_of_work = PostgresUnitOfWork
