"""Webhook routes: subscriptions (role ``admin``) and deliveries (roles ``ops`` and ``admin``).

A subscription's signing secret is in the responses that create it and rotate it, never in a
list. Creating one is repeat-safe with an ``Idempotency-Key`` header (scoped to the caller's API
key): the same key and definition return the same subscription, another definition is ``409
idempotency_conflict``. The dispatcher runs in every core process's lifespan (``webhook_lifespan``)
unless ``BURSAR_WEBHOOK_POLL_SECONDS=0``. See docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Litestar, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, Parameter
from msgspec import Meta

from application.events.manage_deliveries import ManageDeliveries
from application.events.manage_subscriptions import ManageSubscriptions, NewSubscription
from domain.events import Delivery, DeliveryAttempt, DeliveryStatus, EventType, Subscription
from entrypoints.containers import CoreContainer
from entrypoints.http.security import current_principal, roles

log = logging.getLogger("bursar.webhooks")

Url = Annotated[
    str,
    Meta(min_length=10, max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$",
         description="the endpoint Bursar POSTs events to (http or https)"),
]
Limit = Annotated[int, Parameter(ge=1, le=200)]
Cursor = Annotated[str | None, Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", max_length=128, min_length=1,
                    description="Repeat-safe creation; scoped to your API key."),
]


class SubscriptionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: Url
    events: Annotated[list[EventType], Meta(max_length=16)] | None = None
    """The event types to receive; omitted or empty: every type."""
    description: Annotated[str, Meta(max_length=200)] = ""


class SubscriptionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    events: list[str]
    """Empty: every event type."""
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None
    """While set and in the future, deliveries are signed with the previous secret too."""

    @classmethod
    def fields_of(cls, s: Subscription) -> dict:
        return dict(id=s.id, url=s.url, events=list(s.event_types), description=s.description, active=s.active,
                    created_at=s.created_at, updated_at=s.updated_at,
                    previous_secret_expires_at=s.previous_secret_expires_at)

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(**cls.fields_of(s))


class SubscriptionSecretOut(SubscriptionOut, frozen=True, kw_only=True):
    secret: str
    """The signing secret (``whsec_`` + base64). Shown here only: store it now."""

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionSecretOut:
        return cls(**cls.fields_of(s), secret=s.secret)


class SubscriptionList(msgspec.Struct, frozen=True):
    data: list[SubscriptionOut]
    next_cursor: str | None


class SubscriptionDeletedOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    deleted: bool
    cancelled_deliveries: int
    """Pending deliveries of the subscription, cancelled with it."""


class AttemptOut(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    succeeded: bool

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptOut:
        return cls(attempt=a.attempt, started_at=a.started_at, finished_at=a.finished_at,
                   duration_ms=round((a.finished_at - a.started_at).total_seconds() * 1000),
                   status_code=a.status_code, error=a.error, succeeded=a.succeeded)


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    event_id: str
    event_type: str
    subscription_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[AttemptOut] | None = None
    """Every attempt, first first (one delivery only)."""

    @classmethod
    def of(cls, d: Delivery, attempts: list[DeliveryAttempt] | None = None) -> DeliveryOut:
        return cls(
            id=d.id, event_id=d.event_id, event_type=d.event_type, subscription_id=d.subscription_id, status=d.status,
            attempts=d.attempts, next_attempt_at=d.next_attempt_at, last_attempt_at=d.last_attempt_at,
            last_status_code=d.last_status_code, last_error=d.last_error, delivered_at=d.delivered_at,
            created_at=d.created_at, updated_at=d.updated_at,
            attempt_log=None if attempts is None else [AttemptOut.of(a) for a in attempts],
        )


class DeliveryList(msgspec.Struct, frozen=True):
    data: list[DeliveryOut]
    next_cursor: str | None


def _scoped_key(request: Request, idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    scope = f"{current_principal(request).key_id}\n{idempotency_key}".encode()
    return hashlib.sha256(scope).hexdigest()


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/subscriptions", opt=roles("admin"), summary="Subscribe an endpoint to events; the response shows its signing secret once")
    async def create_subscription(
        self, request: Request, state: State, data: JSONBody[SubscriptionIn], idempotency_key: IdempotencyKey = None
    ) -> Response[SubscriptionSecretOut]:
        manage: ManageSubscriptions = state.container.webhook_subscriptions()
        result = await manage.create(NewSubscription(
            url=data.url, event_types=tuple(data.events or ()), description=data.description,
            idempotency_key=_scoped_key(request, idempotency_key),
        ))
        if result.created:
            log.info("webhook subscription %s created by key %s", result.subscription.id, current_principal(request).key_id)
        return Response(SubscriptionSecretOut.of(result.subscription), status_code=201 if result.created else 200)

    @get("/subscriptions", opt=roles("admin"), summary="Active subscriptions, oldest first (never their secrets)")
    async def list_subscriptions(self, state: State, limit: Limit = 100, cursor: Cursor = None) -> SubscriptionList:
        manage: ManageSubscriptions = state.container.webhook_subscriptions()
        rows = [s for s in await manage.list() if cursor is None or s.id > cursor]
        rows.sort(key=lambda s: s.id)
        page = rows[:limit]
        return SubscriptionList(data=[SubscriptionOut.of(s) for s in page],
                                next_cursor=page[-1].id if len(rows) > limit else None)

    @delete("/subscriptions/{subscription_id:str}", opt=roles("admin"), status_code=200,
            summary="Delete a subscription: no more deliveries; pending ones are cancelled, history is kept")
    async def delete_subscription(self, request: Request, state: State, subscription_id: FromPath[str]) -> SubscriptionDeletedOut:
        manage: ManageSubscriptions = state.container.webhook_subscriptions()
        cancelled = await manage.delete(subscription_id)
        log.info("webhook subscription %s deleted by key %s (%d pending deliveries cancelled)", subscription_id,
                 current_principal(request).key_id, cancelled)
        return SubscriptionDeletedOut(id=subscription_id, deleted=True, cancelled_deliveries=cancelled)

    @post("/subscriptions/{subscription_id:str}/rotate-secret", opt=roles("admin"), status_code=200,
          summary="A new signing secret, shown once; the previous one also signs for 24 hours")
    async def rotate_secret(self, request: Request, state: State, subscription_id: FromPath[str]) -> SubscriptionSecretOut:
        manage: ManageSubscriptions = state.container.webhook_subscriptions()
        rotated = await manage.rotate_secret(subscription_id)
        log.info("webhook subscription %s secret rotated by key %s", subscription_id, current_principal(request).key_id)
        return SubscriptionSecretOut.of(rotated)

    @get("/deliveries", opt=roles("ops", "admin"), summary="Deliveries, newest first, optionally of one status")
    async def list_deliveries(
        self, state: State, status: FromQuery[DeliveryStatus | None] = None, limit: Limit = 50, cursor: Cursor = None
    ) -> DeliveryList:
        manage: ManageDeliveries = state.container.webhook_deliveries()
        page = await manage.page(status, cursor, limit)
        return DeliveryList(data=[DeliveryOut.of(d) for d in page.deliveries], next_cursor=page.next_before)

    @get("/deliveries/{delivery_id:str}", opt=roles("ops", "admin"), summary="A delivery with every attempt")
    async def get_delivery(self, state: State, delivery_id: FromPath[str]) -> DeliveryOut:
        manage: ManageDeliveries = state.container.webhook_deliveries()
        detail = await manage.get(delivery_id)
        return DeliveryOut.of(detail.delivery, detail.attempts)

    @post("/deliveries/{delivery_id:str}/retry", opt=roles("ops"), status_code=200,
          summary="Attempt a delivery again now, with a fresh round of retries")
    async def retry_delivery(self, request: Request, state: State, delivery_id: FromPath[str]) -> DeliveryOut:
        manage: ManageDeliveries = state.container.webhook_deliveries()
        delivery = await manage.retry(delivery_id)
        log.info("webhook delivery %s retried by key %s", delivery_id, current_principal(request).key_id)
        return DeliveryOut.of(delivery)


def webhook_lifespan(container: CoreContainer) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Run the dispatcher for as long as the app lives (unless the poll interval is 0), after the
    database opened; on shutdown, stop it (an attempt in flight rolls back and is sent again later)."""

    @asynccontextmanager
    async def dispatching(app: Litestar) -> AsyncIterator[None]:
        settings = container.settings().webhooks
        sender = container.webhook_sender()
        task = None
        if settings.poll_seconds > 0:
            task = asyncio.create_task(container.webhook_dispatcher().run_forever(settings.poll_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await sender.close()

    return dispatching
