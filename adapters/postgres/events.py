"""Webhooks on PostgreSQL (``core.events`` and ``core.webhook_*``, migration 0006).

The outbox itself (``PostgresOutbox``, in ``outbox.py``) writes events on the connection of the
core's unit of work. What follows the commit lives here. The dispatcher's claims use
``FOR UPDATE SKIP LOCKED``:
several dispatchers (one per core process) share the work without waiting for each other and
never hold the same event or delivery at once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from adapters.postgres.transactions import TransactionRunner
from application.ports.events import ClaimedDelivery
from domain.events import Delivery, DeliveryAttempt, Event, Subscription


def _columns(rows: Sequence[Sequence[Any]], width: int) -> tuple[list[Any], ...]:
    """Row tuples to one list per column, as ``unnest`` wants them."""
    return tuple([row[i] for row in rows] for i in range(width))


_decode_data = msgspec.json.Decoder(dict[str, Any]).decode

_EVENT_COLS = "id, type, created_at, data::text"
_SUBSCRIPTION_COLS = ("id, url, description, event_types, secret, previous_secret, previous_secret_expires_at, "
                      "active, created_at, updated_at, idempotency_key")
_DELIVERY_COLS = ("id, event_id, event_type, subscription_id, status, attempts, round_start, next_attempt_at, "
                  "last_attempt_at, last_status_code, last_error, delivered_at, created_at, updated_at")
_ATTEMPT_COLS = "delivery_id, attempt, started_at, finished_at, status_code, error, succeeded"


@functools.cache
def _names(cols: str) -> tuple[str, ...]:
    return tuple(c.strip().split("::")[0] for c in cols.split(","))


def _prefixed(alias: str, cols: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))


def _event(row: Sequence[Any]) -> Event:
    return Event(id=row[0], type=row[1], created_at=row[2], data=_decode_data(row[3]))


def _subscription(row: Sequence[Any]) -> Subscription:
    values = dict(zip(_names(_SUBSCRIPTION_COLS), row, strict=True))
    values["event_types"] = tuple(values["event_types"])
    return Subscription(**values)


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(**dict(zip(_names(_DELIVERY_COLS), row, strict=True)))


class _Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._conn.execute(query, params)  # type: ignore[arg-type]
        return await cur.fetchall()

    async def _one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self._conn.execute(query, params)  # type: ignore[arg-type]
        return await cur.fetchone()


class PostgresRoutedEvents(_Repository):
    async def claim_unrouted(self, limit: int) -> list[Event]:
        rows = await self._all(
            f"SELECT {_EVENT_COLS} FROM core.events WHERE routed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        )
        return [_event(r) for r in rows]

    async def mark_routed(self, event_ids: Sequence[str], at: datetime) -> None:
        if event_ids:
            await self._conn.execute("UPDATE core.events SET routed_at = %s WHERE id = ANY(%s::text[])",
                                     (at, list(event_ids)))

    async def get(self, event_id: str) -> Event | None:
        row = await self._one(f"SELECT {_EVENT_COLS} FROM core.events WHERE id = %s", (event_id,))
        return _event(row) if row else None


class PostgresSubscriptions(_Repository):
    async def add(self, subscription: Subscription) -> None:
        s = subscription
        await self._conn.execute(
            f"INSERT INTO core.webhook_subscriptions ({_SUBSCRIPTION_COLS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (s.id, s.url, s.description, list(s.event_types), s.secret, s.previous_secret,
             s.previous_secret_expires_at, s.active, s.created_at, s.updated_at, s.idempotency_key),
        )

    async def get(self, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        row = await self._one(f"SELECT {_SUBSCRIPTION_COLS} FROM core.webhook_subscriptions WHERE id = %s"
                              + (" FOR UPDATE" if lock else ""), (subscription_id,))
        return _subscription(row) if row else None

    async def by_idempotency_key(self, key: str) -> Subscription | None:
        row = await self._one(f"SELECT {_SUBSCRIPTION_COLS} FROM core.webhook_subscriptions WHERE idempotency_key = %s",
                              (key,))
        return _subscription(row) if row else None

    async def active(self, *, lock: bool = False) -> list[Subscription]:
        rows = await self._all(f"SELECT {_SUBSCRIPTION_COLS} FROM core.webhook_subscriptions WHERE active "
                               "ORDER BY created_at, id" + (" FOR SHARE" if lock else ""))
        return [_subscription(r) for r in rows]

    async def save(self, subscription: Subscription) -> None:
        s = subscription
        await self._conn.execute(
            "UPDATE core.webhook_subscriptions SET secret = %s, previous_secret = %s, previous_secret_expires_at = %s, "
            "active = %s, updated_at = %s WHERE id = %s",
            (s.secret, s.previous_secret, s.previous_secret_expires_at, s.active, s.updated_at, s.id),
        )


class PostgresDeliveries(_Repository):
    async def add(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await self._conn.execute(
            "INSERT INTO core.webhook_deliveries (id, event_id, event_type, subscription_id, status, next_attempt_at, "
            "created_at, updated_at) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], "
            "%s::timestamptz[], %s::timestamptz[]) ON CONFLICT (event_id, subscription_id) DO NOTHING",
            _columns([(d.id, d.event_id, d.event_type, d.subscription_id, d.status, d.next_attempt_at, d.created_at,
                       d.updated_at) for d in deliveries], 8),
        )

    async def claim_due(self, now: datetime, limit: int) -> list[ClaimedDelivery]:
        rows = await self._all(
            f"SELECT {_prefixed('d', _DELIVERY_COLS)}, {_prefixed('e', _EVENT_COLS)}, "
            f"{_prefixed('s', _SUBSCRIPTION_COLS)} "
            "FROM core.webhook_deliveries d "
            "JOIN core.events e ON e.id = d.event_id "
            "JOIN core.webhook_subscriptions s ON s.id = d.subscription_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= %s "
            "ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED",
            (now, limit),
        )
        nd, ne = len(_names(_DELIVERY_COLS)), len(_names(_EVENT_COLS))
        return [
            ClaimedDelivery(delivery=_delivery(r[:nd]), event=_event(r[nd:nd + ne]), subscription=_subscription(r[nd + ne:]))
            for r in rows
        ]

    async def record(self, outcomes: Sequence[tuple[Delivery, DeliveryAttempt]]) -> None:
        if not outcomes:
            return
        await self._conn.execute(
            f"INSERT INTO core.webhook_delivery_attempts ({_ATTEMPT_COLS}) "
            "SELECT * FROM unnest(%s::text[], %s::int[], %s::timestamptz[], %s::timestamptz[], %s::int[], %s::text[], "
            "%s::boolean[])",
            _columns([(a.delivery_id, a.attempt, a.started_at, a.finished_at, a.status_code, a.error, a.succeeded)
                      for _, a in outcomes], 7),
        )
        await self.save([d for d, _ in outcomes])

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await self._conn.execute(
            "UPDATE core.webhook_deliveries d SET status = u.status, attempts = u.attempts, round_start = u.round_start, "
            "next_attempt_at = u.next_attempt_at, last_attempt_at = u.last_attempt_at, "
            "last_status_code = u.last_status_code, last_error = u.last_error, delivered_at = u.delivered_at, "
            "updated_at = u.updated_at "
            "FROM unnest(%s::text[], %s::text[], %s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[], "
            "%s::int[], %s::text[], %s::timestamptz[], %s::timestamptz[]) "
            "AS u(id, status, attempts, round_start, next_attempt_at, last_attempt_at, last_status_code, last_error, "
            "delivered_at, updated_at) WHERE d.id = u.id",
            _columns([(d.id, d.status, d.attempts, d.round_start, d.next_attempt_at, d.last_attempt_at,
                       d.last_status_code, d.last_error, d.delivered_at, d.updated_at) for d in deliveries], 10),
        )

    async def get(self, delivery_id: str, *, lock: bool = False) -> Delivery | None:
        row = await self._one(f"SELECT {_DELIVERY_COLS} FROM core.webhook_deliveries WHERE id = %s"
                              + (" FOR UPDATE" if lock else ""), (delivery_id,))
        return _delivery(row) if row else None

    async def pending_of(self, subscription_id: str) -> list[Delivery]:
        rows = await self._all(
            f"SELECT {_DELIVERY_COLS} FROM core.webhook_deliveries WHERE subscription_id = %s AND status = 'pending' "
            "ORDER BY id FOR UPDATE", (subscription_id,))
        return [_delivery(r) for r in rows]

    async def page(self, status: str | None, before_id: str | None, limit: int) -> list[Delivery]:
        rows = await self._all(
            f"SELECT {_DELIVERY_COLS} FROM core.webhook_deliveries "
            "WHERE (%(status)s::text IS NULL OR status = %(status)s) AND (%(before)s::text IS NULL OR id < %(before)s) "
            "ORDER BY id DESC LIMIT %(limit)s",
            {"status": status, "before": before_id, "limit": limit},  # type: ignore[arg-type]
        )
        return [_delivery(r) for r in rows]

    async def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        rows = await self._all(f"SELECT {_ATTEMPT_COLS} FROM core.webhook_delivery_attempts WHERE delivery_id = %s "
                               "ORDER BY attempt", (delivery_id,))
        return [DeliveryAttempt(**dict(zip(_names(_ATTEMPT_COLS), r, strict=True))) for r in rows]


class PostgresWebhookUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.events = PostgresRoutedEvents(conn)
        self.subscriptions = PostgresSubscriptions(conn)
        self.deliveries = PostgresDeliveries(conn)


class PostgresWebhookTransactions(TransactionRunner):
    """WebhookTransactions on a pool: one connection and transaction per run, retried when transient."""

    unit_of_work = PostgresWebhookUnitOfWork
    label = "webhook transaction"
