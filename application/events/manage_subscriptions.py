"""Webhook subscriptions (role ``admin``): create, list, delete, rotate the signing secret.

The signing secret is shown when a subscription is created and when it is rotated, never in a
list. Creation is idempotent on an optional key (the HTTP layer scopes it to the caller's
credential): a repeat with the same definition gets the same subscription back, a different one
is ``idempotency_conflict``. Deleting a subscription keeps its deliveries' history and cancels
the pending ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.events import WebhookSigner, WebhookTransactions, WebhookUnitOfWork
from domain.events import Subscription, cancel, deactivate, new_subscription, rotate_secret
from domain.shared.errors import Conflict, NotFound


class NewSubscription(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    event_types: Sequence[str] = ()
    """Empty: every event type."""
    description: str = ""
    idempotency_key: str | None = None


class CreatedSubscription(msgspec.Struct, frozen=True, kw_only=True):
    subscription: Subscription
    created: bool
    """False when ``idempotency_key`` named an existing subscription with the same definition."""


class ManageSubscriptions:
    def __init__(self, transactions: WebhookTransactions, signer: WebhookSigner, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._signer = signer
        self._clock = clock
        self._ids = ids

    async def create(self, cmd: NewSubscription) -> CreatedSubscription:
        subscription = new_subscription(
            id=self._ids.new_id(), url=cmd.url, event_types=tuple(cmd.event_types), description=cmd.description,
            secret=self._signer.new_secret(), now=self._clock.now(), idempotency_key=cmd.idempotency_key,
        )

        async def work(uow: WebhookUnitOfWork) -> CreatedSubscription:
            if cmd.idempotency_key is not None:
                earlier = await uow.subscriptions.by_idempotency_key(cmd.idempotency_key)
                if earlier is not None:
                    if not earlier.same_definition(subscription.url, subscription.event_types, subscription.description):
                        raise Conflict("this Idempotency-Key created a subscription with a different definition",
                                       code="idempotency_conflict")
                    return CreatedSubscription(subscription=earlier, created=False)
            await uow.subscriptions.add(subscription)
            return CreatedSubscription(subscription=subscription, created=True)

        return await self._transactions.run(work)

    async def list(self) -> list[Subscription]:
        """Active subscriptions, oldest first."""

        async def work(uow: WebhookUnitOfWork) -> list[Subscription]:
            return await uow.subscriptions.active()

        return await self._transactions.run(work)

    async def delete(self, subscription_id: str) -> int:
        """Deactivate the subscription and cancel its pending deliveries; returns how many."""

        async def work(uow: WebhookUnitOfWork) -> int:
            subscription = await self._active(uow, subscription_id)
            now = self._clock.now()
            await uow.subscriptions.save(deactivate(subscription, now))
            pending = await uow.deliveries.pending_of(subscription_id)
            await uow.deliveries.save([cancel(d, now) for d in pending])
            return len(pending)

        return await self._transactions.run(work)

    async def rotate_secret(self, subscription_id: str) -> Subscription:
        """A new signing secret; the old one keeps signing (alongside) for ``SECRET_GRACE``."""
        new_secret = self._signer.new_secret()

        async def work(uow: WebhookUnitOfWork) -> Subscription:
            rotated = rotate_secret(await self._active(uow, subscription_id), new_secret, self._clock.now())
            await uow.subscriptions.save(rotated)
            return rotated

        return await self._transactions.run(work)

    @staticmethod
    async def _active(uow: WebhookUnitOfWork, subscription_id: str) -> Subscription:
        subscription = await uow.subscriptions.get(subscription_id, lock=True)
        if subscription is None or not subscription.active:
            raise NotFound(f"no webhook subscription {subscription_id!r}", code="subscription_not_found")
        return subscription
