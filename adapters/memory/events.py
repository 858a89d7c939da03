"""Events and webhooks in memory, for unit tests; the same contract suite as PostgreSQL.

``InMemoryOutbox`` keeps a unit of work's events to itself and publishes them to the shared
``EventState`` only when that unit of work commits (``InMemoryTransactions`` calls
``publish``), so no reader ever sees an event of a transaction that rolls back.
``InMemoryWebhookTransactions`` serialises its units of work with one lock (the in-memory stand-in
for row locks: a claimed delivery cannot be claimed again before its attempt is recorded) and
restores the state a failed unit of work began with.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from application.ports.events import ClaimedDelivery
from domain.events import Delivery, DeliveryAttempt, Event, Subscription
from domain.shared.errors import Conflict

T = TypeVar("T")


class EventState:
    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.routed_at: dict[str, datetime] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.attempts: dict[str, list[DeliveryAttempt]] = {}

    def copy(self) -> EventState:
        clone = copy.copy(self)
        clone.events, clone.routed_at = dict(self.events), dict(self.routed_at)
        clone.subscriptions, clone.deliveries = dict(self.subscriptions), dict(self.deliveries)
        clone.attempts = {k: list(v) for k, v in self.attempts.items()}
        return clone

    def restore(self, other: EventState) -> None:
        """Back to ``other``, keeping events published meanwhile (only outboxes add events, and
        they do it on their own transactions' commits)."""
        events = self.events
        self.__dict__.update(other.__dict__)
        self.events = events


class InMemoryOutbox:
    def __init__(self, state: EventState) -> None:
        self._state = state
        self._added: list[Event] = []

    async def add(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.id in self._state.events or any(e.id == event.id for e in self._added):
                raise Conflict(f"event {event.id} exists", code="event_exists")
        self._added.extend(events)

    def publish(self) -> None:
        """The unit of work committed: its events become visible."""
        for event in self._added:
            self._state.events[event.id] = event
        self._added = []


class InMemoryRoutedEvents:
    def __init__(self, state: EventState) -> None:
        self._s = state

    async def claim_unrouted(self, limit: int) -> list[Event]:
        return sorted((e for e in self._s.events.values() if e.id not in self._s.routed_at), key=lambda e: e.id)[:limit]

    async def mark_routed(self, event_ids: Sequence[str], at: datetime) -> None:
        for event_id in event_ids:
            self._s.routed_at.setdefault(event_id, at)

    async def get(self, event_id: str) -> Event | None:
        return self._s.events.get(event_id)


class InMemorySubscriptions:
    def __init__(self, state: EventState) -> None:
        self._s = state

    async def add(self, subscription: Subscription) -> None:
        if subscription.id in self._s.subscriptions:
            raise Conflict(f"subscription {subscription.id} exists", code="subscription_exists")
        self._s.subscriptions[subscription.id] = subscription

    async def get(self, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        return self._s.subscriptions.get(subscription_id)

    async def by_idempotency_key(self, key: str) -> Subscription | None:
        return next((s for s in self._s.subscriptions.values() if s.idempotency_key == key), None)

    async def active(self, *, lock: bool = False) -> list[Subscription]:
        return sorted((s for s in self._s.subscriptions.values() if s.active), key=lambda s: (s.created_at, s.id))

    async def save(self, subscription: Subscription) -> None:
        self._s.subscriptions[subscription.id] = subscription


class InMemoryDeliveries:
    def __init__(self, state: EventState) -> None:
        self._s = state

    async def add(self, deliveries: Sequence[Delivery]) -> None:
        taken = {(d.event_id, d.subscription_id) for d in self._s.deliveries.values()}
        for delivery in deliveries:
            if (delivery.event_id, delivery.subscription_id) not in taken:
                self._s.deliveries[delivery.id] = delivery
                taken.add((delivery.event_id, delivery.subscription_id))

    async def claim_due(self, now: datetime, limit: int) -> list[ClaimedDelivery]:
        due = sorted(
            (d for d in self._s.deliveries.values()
             if d.status == "pending" and d.next_attempt_at is not None and d.next_attempt_at <= now),
            key=lambda d: (d.next_attempt_at, d.id),
        )[:limit]
        return [ClaimedDelivery(delivery=d, event=self._s.events[d.event_id],
                                subscription=self._s.subscriptions[d.subscription_id]) for d in due]

    async def record(self, outcomes: Sequence[tuple[Delivery, DeliveryAttempt]]) -> None:
        for delivery, attempt in outcomes:
            attempts = self._s.attempts.setdefault(delivery.id, [])
            if any(a.attempt == attempt.attempt for a in attempts):
                raise Conflict(f"attempt {attempt.attempt} of delivery {delivery.id} exists", code="attempt_exists")
            attempts.append(attempt)
        await self.save([d for d, _ in outcomes])

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._s.deliveries[delivery.id] = delivery

    async def get(self, delivery_id: str, *, lock: bool = False) -> Delivery | None:
        return self._s.deliveries.get(delivery_id)

    async def pending_of(self, subscription_id: str) -> list[Delivery]:
        return sorted((d for d in self._s.deliveries.values()
                       if d.subscription_id == subscription_id and d.status == "pending"), key=lambda d: d.id)

    async def page(self, status: str | None, before_id: str | None, limit: int) -> list[Delivery]:
        rows = sorted((d for d in self._s.deliveries.values()
                       if (status is None or d.status == status) and (before_id is None or d.id < before_id)),
                      key=lambda d: d.id, reverse=True)
        return rows[:limit]

    async def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        return list(self._s.attempts.get(delivery_id, []))


class InMemoryWebhookUnitOfWork:
    def __init__(self, state: EventState) -> None:
        self.events = InMemoryRoutedEvents(state)
        self.subscriptions = InMemorySubscriptions(state)
        self.deliveries = InMemoryDeliveries(state)


class InMemoryWebhookTransactions:
    def __init__(self, state: EventState | None = None) -> None:
        self.state = state or EventState()
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[InMemoryWebhookUnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            before = self.state.copy()
            try:
                return await work(InMemoryWebhookUnitOfWork(self.state))
            except BaseException:
                self.state.restore(before)
                raise
