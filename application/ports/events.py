"""Ports of events and webhooks.

``Outbox`` lives in the core's unit of work (``uow.outbox``): a use case adds events in the same
transaction as the change they describe, so both commit or neither does. Everything after the
commit (routing events to subscriptions, delivery attempts, ops' views) goes through a separate
``WebhookTransactions`` unit of work, and the HTTP and signing work through ``WebhookSender``
and ``WebhookSigner``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import msgspec

from domain.events import Delivery, DeliveryAttempt, Event, Subscription

T = TypeVar("T")


class Outbox(Protocol):
    """Events written inside a unit of work: they exist once, and only if, it commits."""

    async def add(self, events: Sequence[Event]) -> None: ...


class RoutedEvents(Protocol):
    """The outbox seen from the dispatcher."""

    async def claim_unrouted(self, limit: int) -> list[Event]:
        """Up to ``limit`` committed events not routed yet, oldest first, locked for this unit of
        work; events another unit of work holds are skipped (``FOR UPDATE SKIP LOCKED``)."""
        ...

    async def mark_routed(self, event_ids: Sequence[str], at: datetime) -> None: ...

    async def get(self, event_id: str) -> Event | None: ...


class Subscriptions(Protocol):
    async def add(self, subscription: Subscription) -> None: ...

    async def get(self, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        """A subscription, active or deleted; ``lock`` holds it until the unit of work ends."""
        ...

    async def by_idempotency_key(self, key: str) -> Subscription | None: ...

    async def active(self, *, lock: bool = False) -> list[Subscription]:
        """Active subscriptions, oldest first; ``lock`` share-locks them (routing does, so a
        deletion waits for it and then cancels what it routed)."""
        ...

    async def save(self, subscription: Subscription) -> None:
        """Write an existing subscription's secrets, active flag and update time."""
        ...


class ClaimedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    delivery: Delivery
    event: Event
    subscription: Subscription


class Deliveries(Protocol):
    async def add(self, deliveries: Sequence[Delivery]) -> None:
        """New deliveries; one of an (event, subscription) pair that exists already is ignored."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[ClaimedDelivery]:
        """Up to ``limit`` pending deliveries due at ``now`` (soonest first), with their event and
        subscription, locked for this unit of work; deliveries another unit of work holds are
        skipped (``FOR UPDATE SKIP LOCKED``), so concurrent dispatchers never attempt one twice."""
        ...

    async def record(self, outcomes: Sequence[tuple[Delivery, DeliveryAttempt]]) -> None:
        """Store attempts and the deliveries' new states."""
        ...

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        """Write deliveries' new states (a retry, a cancellation) without an attempt."""
        ...

    async def get(self, delivery_id: str, *, lock: bool = False) -> Delivery | None: ...

    async def pending_of(self, subscription_id: str) -> list[Delivery]:
        """The subscription's pending deliveries, locked for this unit of work."""
        ...

    async def page(self, status: str | None, before_id: str | None, limit: int) -> list[Delivery]:
        """Deliveries newest first (by id), optionally of one status, with ids below ``before_id``."""
        ...

    async def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        """A delivery's attempts, first first."""
        ...


class WebhookUnitOfWork(Protocol):
    events: RoutedEvents
    subscriptions: Subscriptions
    deliveries: Deliveries


class WebhookTransactions(Protocol):
    """One transaction per ``run``: commits when ``work`` returns, rolls back when it raises.
    Transient conflicts may run ``work`` again."""

    async def run(self, work: Callable[[WebhookUnitOfWork], Awaitable[T]]) -> T: ...


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    status_code: int | None
    """The HTTP status received; None when no response came."""
    error: str | None = None
    """Why no usable response came (timeout, connection refused...), without secrets."""


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> SendResult:
        """POST ``body`` to ``url`` within ``timeout`` seconds. Never raises for a failed request:
        the failure is the result."""
        ...


class WebhookSigner(Protocol):
    def new_secret(self) -> str:
        """A fresh ``whsec_``-prefixed base64 signing secret."""
        ...

    def sign(self, secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` header: ``v1,<signature>`` per secret, space-separated."""
        ...
