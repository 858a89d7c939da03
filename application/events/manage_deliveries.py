"""Webhook deliveries for ops: list them (by status), see one with its attempts, retry one."""

from __future__ import annotations

import msgspec

from application.ports.clock import Clock
from application.ports.events import WebhookTransactions, WebhookUnitOfWork
from domain.events import Delivery, DeliveryAttempt, retry
from domain.shared.errors import Conflict, NotFound


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    deliveries: list[Delivery]
    next_before: str | None
    """The cursor of the next (older) page; None on the last page."""


class DeliveryDetail(msgspec.Struct, frozen=True, kw_only=True):
    delivery: Delivery
    attempts: list[DeliveryAttempt]


class ManageDeliveries:
    def __init__(self, transactions: WebhookTransactions, clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def page(self, status: str | None, before_id: str | None, limit: int) -> DeliveryPage:
        """Deliveries newest first; ``before_id`` is the previous page's ``next_before``."""

        async def work(uow: WebhookUnitOfWork) -> DeliveryPage:
            rows = await uow.deliveries.page(status, before_id, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            return DeliveryPage(deliveries=rows, next_before=rows[-1].id if more else None)

        return await self._transactions.run(work)

    async def get(self, delivery_id: str) -> DeliveryDetail:
        async def work(uow: WebhookUnitOfWork) -> DeliveryDetail:
            delivery = await uow.deliveries.get(delivery_id)
            if delivery is None:
                raise NotFound(f"no webhook delivery {delivery_id!r}", code="delivery_not_found")
            return DeliveryDetail(delivery=delivery, attempts=await uow.deliveries.attempts(delivery_id))

        return await self._transactions.run(work)

    async def retry(self, delivery_id: str) -> Delivery:
        """Make the delivery due now with a fresh round of attempts (failed, delivered or pending).
        A delivery being attempted right now is retried once that attempt is recorded; one of a
        deleted subscription is refused (``subscription_deleted``)."""

        async def work(uow: WebhookUnitOfWork) -> Delivery:
            found = await uow.deliveries.get(delivery_id)
            if found is None:
                raise NotFound(f"no webhook delivery {delivery_id!r}", code="delivery_not_found")
            # Subscription first, then delivery: the order deleting a subscription locks them in.
            subscription = await uow.subscriptions.get(found.subscription_id, lock=True)
            if subscription is None or not subscription.active:
                raise Conflict(f"the subscription of delivery {delivery_id} is deleted", code="subscription_deleted")
            delivery = await uow.deliveries.get(delivery_id, lock=True)
            assert delivery is not None  # deliveries are never deleted
            retried = retry(delivery, self._clock.now())
            await uow.deliveries.save([retried])
            return retried

        return await self._transactions.run(work)
