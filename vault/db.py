"""How the vault's hot paths talk to PostgreSQL: whole batches, few round trips.

On these machines a round trip to PostgreSQL costs the client 150-300 us of CPU (psycopg and the
event loop), about as much as handling an HTTP request; so a batch is written in as few round
trips as possible.

- **Rows as one JSON parameter** (:func:`json_rows`). msgspec encodes the whole batch in C;
  PostgreSQL turns it into rows of the target table's type, keys being column names (a missing
  key is NULL, not the column's default)::

      INSERT INTO vault.cards SELECT * FROM json_populate_recordset(NULL::vault.cards, %s::json)

  ``bytea`` columns take PostgreSQL's hex input format (:func:`bytea`), ``timestamptz`` columns
  RFC 3339 text (what msgspec writes for an aware datetime), ``jsonb`` columns the JSON value.
  One array parameter per column (``unnest``) spent most of its time in psycopg's array dumpers.
- **Autocommit** (:func:`autocommit`). A statement on a connection in autocommit mode is its own
  transaction: one round trip. In psycopg's default mode the ``BEGIN`` and the ``COMMIT`` are two
  more. A transaction of several statements says ``BEGIN`` and ``COMMIT`` itself, in the same
  messages as its first and last statements (several statements without parameters, or with
  client-side binding, ``psycopg.AsyncClientCursor``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from psycopg import AsyncConnection, OperationalError
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

_encode = msgspec.json.Encoder().encode

# Failures of a batched write that say nothing about any one item of it (connection lost, pool
# timeout, serialization failure): see vault.batching.
SHARED_FAILURES: tuple[type[Exception], ...] = (OperationalError,)


def json_rows(rows: Any) -> str:
    """The rows (msgspec structs or dicts) as one JSON text."""
    return _encode(rows).decode()


def bytea(data: bytes) -> str:
    """``data`` in PostgreSQL's hex input format for ``bytea``."""
    return "\\x" + data.hex()


@asynccontextmanager
async def autocommit(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode, given back to the pool as it was lent.

    A transaction the caller opened with ``BEGIN`` and did not finish (an error in between) is
    rolled back.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            try:
                if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                    await conn.rollback()
                await conn.set_autocommit(False)
            except Exception:  # a broken connection: closed, the pool replaces it
                await conn.close()
