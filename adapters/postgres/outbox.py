"""The transactional outbox on PostgreSQL (``core.events``, migration 0006).

``PostgresOutbox`` writes on the connection of the core's unit of work, so events commit or roll
back with the change they describe; the dispatcher (``events.py``) takes them from there.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from psycopg import AsyncConnection

from domain.events import Event

_encode = msgspec.json.Encoder().encode


class PostgresOutbox:
    """One statement per call, whatever the number of events."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, events: Sequence[Event]) -> None:
        if not events:
            return
        await self._conn.execute(  # the events as one JSON parameter: msgspec encodes them in C
            "INSERT INTO core.events (id, type, created_at, data) "
            "SELECT id, type, created_at, data FROM json_populate_recordset(NULL::core.events, %s::json)",
            (_encode(list(events)).decode(),),
        )
