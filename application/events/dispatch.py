"""The webhook dispatcher: from committed outbox events to signed HTTP deliveries.

Two steps, each one transaction, safe to run in several processes at once:

1. ``route``: claim unrouted events (``FOR UPDATE SKIP LOCKED``), create one pending delivery
   per matching active subscription, mark the events routed.
2. ``deliver``: claim due pending deliveries (``FOR UPDATE SKIP LOCKED``), POST each signed
   event with a timeout, concurrently, and record every attempt with the delivery's next state
   (delivered; pending again after a jittered exponential backoff; or failed after the last
   allowed attempt). The claimed rows stay locked until the attempts are recorded, so another
   dispatcher never attempts the same delivery meanwhile.

Delivery is at least once. A process that dies after an event committed leaves the event
unrouted, or its deliveries pending: the next dispatcher to run picks them up. One that dies
between sending and recording rolls its transaction back, so the delivery is still pending and
is sent again, with the same ``webhook-id``, for the receiver to deduplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.events import (
    ClaimedDelivery,
    SendResult,
    WebhookSender,
    WebhookSigner,
    WebhookTransactions,
    WebhookUnitOfWork,
)
from domain.events import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Delivery,
    DeliveryAttempt,
    Event,
    RetryPolicy,
    after_attempt,
    new_delivery,
)

log = logging.getLogger("bursar.webhooks")

USER_AGENT = "Bursar-Webhooks/1"
_encode = msgspec.json.Encoder().encode


def webhook_body(event: Event) -> bytes:
    """The JSON a receiver gets: ``{"id", "type", "created_at", "data"}``, the same on every attempt."""
    return _encode(event)


class Dispatcher:
    def __init__(
        self,
        transactions: WebhookTransactions,
        sender: WebhookSender,
        signer: WebhookSigner,
        clock: Clock,
        ids: IdGenerator,
        policy: RetryPolicy,
        *,
        timeout: float,
        batch_size: int,
        jitter: Callable[[], float],
    ) -> None:
        """``jitter`` returns a number in [0, 1) (``random.random``; a constant in tests)."""
        self._transactions = transactions
        self._sender = sender
        self._signer = signer
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._timeout = timeout
        self._batch_size = batch_size
        self._jitter = jitter

    async def route(self) -> int:
        """Route one batch of committed events; returns how many events it routed."""

        async def work(uow: WebhookUnitOfWork) -> int:
            events = await uow.events.claim_unrouted(self._batch_size)
            if not events:
                return 0
            subscriptions = await uow.subscriptions.active(lock=True)
            now = self._clock.now()
            deliveries = [
                new_delivery(id=self._ids.new_id(), event=event, subscription=subscription, now=now)
                for event in events
                for subscription in subscriptions
                if subscription.wants(event.type)
            ]
            await uow.deliveries.add(deliveries)
            await uow.events.mark_routed([e.id for e in events], now)
            return len(events)

        return await self._transactions.run(work)

    async def deliver(self) -> int:
        """Attempt one batch of due deliveries; returns how many it attempted."""

        async def work(uow: WebhookUnitOfWork) -> int:
            claimed = await uow.deliveries.claim_due(self._clock.now(), self._batch_size)
            if not claimed:
                return 0
            outcomes = await asyncio.gather(*(self._attempt(c) for c in claimed))
            await uow.deliveries.record(outcomes)
            return len(outcomes)

        return await self._transactions.run(work)

    async def run_once(self) -> tuple[int, int]:
        """Route, then deliver, one batch each: ``(events routed, deliveries attempted)``."""
        return await self.route(), await self.deliver()

    async def run_forever(self, interval: float) -> None:
        """Dispatch for as long as the app lives: at once while there is a full batch of work,
        otherwise every ``interval`` seconds. A failed round is logged and retried."""
        while True:
            try:
                routed, attempted = await self.run_once()
                if routed >= self._batch_size or attempted >= self._batch_size:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatching webhooks failed; retrying")
            await asyncio.sleep(interval)

    async def _attempt(self, claimed: ClaimedDelivery) -> tuple[Delivery, DeliveryAttempt]:
        event, subscription = claimed.event, claimed.subscription
        started = self._clock.now()
        timestamp = int(started.timestamp())
        body = webhook_body(event)
        headers = {
            HEADER_ID: event.id,
            HEADER_TIMESTAMP: str(timestamp),
            HEADER_SIGNATURE: self._signer.sign(subscription.signing_secrets(started), event.id, timestamp, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            result = await self._sender.post(subscription.url, body, headers, self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sender should not raise; if it does, it is this attempt's failure
            log.exception("webhook sender raised for delivery %s", claimed.delivery.id)
            result = SendResult(status_code=None, error=f"sender error: {type(exc).__name__}")
        outcome = after_attempt(
            claimed.delivery, policy=self._policy, started_at=started, finished_at=self._clock.now(),
            status_code=result.status_code, error=result.error, jitter=self._jitter(),
        )
        delivery = outcome[0]
        if delivery.status == "failed":
            log.warning("webhook delivery %s of event %s to subscription %s failed after %d attempts: %s",
                        delivery.id, event.id, subscription.id, delivery.attempts, delivery.last_error)
        return outcome
