"""Dispatcher behaviour that needs no database: a sender that raises is one failed attempt, and
an idle dispatcher does nothing."""

from __future__ import annotations

import asyncio

from adapters.memory.events import EventState, InMemoryWebhookTransactions
from adapters.memory.ledger import InMemoryTransactions
from adapters.system import UuidV7Ids
from adapters.webhooks.signing import StandardWebhookSigner
from application.events.dispatch import Dispatcher
from application.events.manage_deliveries import ManageDeliveries
from application.events.manage_subscriptions import ManageSubscriptions, NewSubscription
from domain.events import CARD_CREATED, Event, RetryPolicy
from tests.webhook_support import FakeClock

ids = UuidV7Ids()


class RaisingSender:
    async def post(self, url, body, headers, timeout):
        raise RuntimeError("bug in a sender")


def test_a_sender_that_raises_fails_the_attempt_and_the_dispatcher_goes_on() -> None:
    async def main() -> None:
        state, clock = EventState(), FakeClock()
        webhooks = InMemoryWebhookTransactions(state)
        signer = StandardWebhookSigner()
        await ManageSubscriptions(webhooks, signer, clock, ids).create(NewSubscription(url="https://a.example/h"))

        async def work(uow) -> None:
            await uow.outbox.add([Event(id=ids.new_id(), type=CARD_CREATED, created_at=clock.now(), data={})])

        await InMemoryTransactions(events=state).run(work)
        dispatcher = Dispatcher(webhooks, RaisingSender(), signer, clock, ids, RetryPolicy(backoff_base=1),
                                timeout=1, batch_size=10, jitter=lambda: 0.0)
        assert await dispatcher.run_once() == (1, 1)
        [delivery] = (await ManageDeliveries(webhooks, clock).page(None, None, 10)).deliveries
        assert (delivery.status, delivery.attempts, delivery.last_error) == (
            "pending", 1, "sender error: RuntimeError")
        assert await dispatcher.run_once() == (0, 0)  # not due for another 0.5 s

    asyncio.run(main())


class FlakyTransactions:
    """Fails its first run (a database blip), then behaves."""

    def __init__(self, inner: InMemoryWebhookTransactions) -> None:
        self.inner, self.failures = inner, 1

    async def run(self, work):
        if self.failures:
            self.failures -= 1
            raise OSError("database went away")
        return await self.inner.run(work)


def test_run_forever_survives_a_failed_round_and_stops_when_cancelled() -> None:
    from tests.webhook_support import FakeSender

    async def main() -> None:
        state, clock, sender = EventState(), FakeClock(), FakeSender()
        webhooks = InMemoryWebhookTransactions(state)
        signer = StandardWebhookSigner()
        await ManageSubscriptions(webhooks, signer, clock, ids).create(NewSubscription(url="https://a.example/h"))

        async def work(uow) -> None:
            await uow.outbox.add([Event(id=ids.new_id(), type=CARD_CREATED, created_at=clock.now(), data={})])

        await InMemoryTransactions(events=state).run(work)
        dispatcher = Dispatcher(FlakyTransactions(webhooks), sender, signer, clock, ids, RetryPolicy(), timeout=1,
                                batch_size=10, jitter=lambda: 0.0)
        task = asyncio.create_task(dispatcher.run_forever(0.001))
        for _ in range(5000):  # wait for the round after the failed one
            if sender.sent:
                break
            await asyncio.sleep(0.001)
        task.cancel()
        [outcome] = await asyncio.gather(task, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError)
        assert len(sender.sent) == 1

    asyncio.run(main())
