"""One contract for the outbox and the webhook store, run in memory and on PostgreSQL.

Driven through the use cases (the core's ``Transactions`` for the outbox, ``Dispatcher``,
``ManageSubscriptions``, ``ManageDeliveries``) with an injected clock, a fixed jitter and a
scripted sender. The PostgreSQL run has a database of its own, emptied before each test: a
dispatcher claims every due event and delivery, so it must not see other tests' rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import msgspec
import pytest

from adapters.memory.events import EventState, InMemoryWebhookTransactions
from adapters.memory.ledger import InMemoryTransactions
from adapters.postgres.database import Database
from adapters.postgres.events import PostgresWebhookTransactions
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import UuidV7Ids
from adapters.webhooks.signing import StandardWebhookSigner
from application.events.dispatch import Dispatcher
from application.events.manage_deliveries import ManageDeliveries
from application.events.manage_subscriptions import ManageSubscriptions, NewSubscription
from application.ports.events import WebhookTransactions
from application.ports.unit_of_work import Transactions
from domain.events import AUTHORIZATION_APPROVED, CARD_CREATED, TRANSACTION_CLEARED, Event, RetryPolicy
from domain.ledger import AccountFlags, NewAccount, open_account
from domain.shared.errors import Conflict, NotFound
from tests.webhook_support import FakeClock, FakeSender, events_database, hand_verify

POLICY = RetryPolicy(max_attempts=3, backoff_base=10, backoff_max=1000)
JITTER = 0.5  # each delay is then exactly 3/4 of its ceiling
ids = UuidV7Ids()


@dataclass
class Stack:
    transactions: Transactions
    webhooks: WebhookTransactions
    dispatcher: Dispatcher
    subscriptions: ManageSubscriptions
    deliveries: ManageDeliveries
    sender: FakeSender
    clock: FakeClock

    def event(self, type: str = CARD_CREATED, **data) -> Event:
        return Event(id=ids.new_id(), type=type, created_at=self.clock.now(), data={"id": "card-1", **data})

    async def publish(self, *events: Event) -> None:
        async def work(uow) -> None:
            await uow.outbox.add(list(events))

        await self.transactions.run(work)

    async def subscribe(self, path: str, *types: str) -> tuple[str, str]:
        created = await self.subscriptions.create(NewSubscription(url=f"https://app.example{path}", event_types=types))
        return created.subscription.id, created.subscription.secret

    async def stored_event(self, event_id: str) -> Event | None:
        async def work(uow) -> Event | None:
            return await uow.events.get(event_id)

        return await self.webhooks.run(work)

    async def all_deliveries(self, status: str | None = None):
        return (await self.deliveries.page(status, None, 1000)).deliveries


@pytest.fixture(scope="module")
def events_db(postgres_server_uri: str):
    with events_database(postgres_server_uri, "bursar_events_contract") as db:
        yield db


def _stack(transactions: Transactions, webhooks: WebhookTransactions) -> Stack:
    clock, sender, signer = FakeClock(), FakeSender(), StandardWebhookSigner()
    return Stack(
        transactions=transactions, webhooks=webhooks,
        dispatcher=Dispatcher(webhooks, sender, signer, clock, ids, POLICY, timeout=5, batch_size=50,
                              jitter=lambda: JITTER),
        subscriptions=ManageSubscriptions(webhooks, signer, clock, ids),
        deliveries=ManageDeliveries(webhooks, clock), sender=sender, clock=clock,
    )


@pytest.fixture(params=["memory", "postgres"])
def events_run(request):
    def run(scenario: Callable[[Stack], Awaitable[None]]) -> None:
        async def main() -> None:
            if request.param == "memory":
                state = EventState()
                await scenario(_stack(InMemoryTransactions(events=state), InMemoryWebhookTransactions(state)))
                return
            events_db = request.getfixturevalue("events_db")
            events_db.clear()
            db = Database(events_db.core_url, min_size=1, max_size=4, name="bursar-events-contract")
            await db.open()
            try:
                await scenario(_stack(PostgresTransactions(db.pool), PostgresWebhookTransactions(db.pool)))
            finally:
                await db.close()

        asyncio.run(main())

    return run


# --- The outbox commits and rolls back with its unit of work -------------------------------------


def test_outbox_events_commit_with_the_change_they_describe(events_run):
    async def scenario(s: Stack) -> None:
        account = open_account(NewAccount(id=ids.new_id(), currency="USD", name="card", flags=AccountFlags(),
                                          overdraft_limit=None, metadata={}), s.clock.now())
        event = s.event(account_id=account.id, amount=1250, nested={"mcc": "5411", "tags": ["a", "b"]})

        async def work(uow) -> None:
            await uow.ledger.insert_account(account)
            await uow.outbox.add([event])

        await s.transactions.run(work)

        async def read(uow):
            return await uow.ledger.get_account(account.id)

        assert await s.transactions.run(read) is not None
        assert await s.stored_event(event.id) == event
        assert await s.dispatcher.route() == 1

    events_run(scenario)


def test_outbox_events_roll_back_with_the_change_they_describe(events_run):
    async def scenario(s: Stack) -> None:
        await s.subscribe("/all")
        account = open_account(NewAccount(id=ids.new_id(), currency="USD", name="card", flags=AccountFlags(),
                                          overdraft_limit=None, metadata={}), s.clock.now())
        event = s.event()

        async def work(uow) -> None:
            await uow.ledger.insert_account(account)
            await uow.outbox.add([event])
            raise RuntimeError("the use case failed after writing")

        with pytest.raises(RuntimeError):
            await s.transactions.run(work)

        async def read(uow):
            return await uow.ledger.get_account(account.id)

        assert await s.transactions.run(read) is None
        assert await s.stored_event(event.id) is None
        assert await s.dispatcher.run_once() == (0, 0)
        assert s.sender.sent == []

    events_run(scenario)


def test_an_empty_add_writes_nothing(events_run):
    async def scenario(s: Stack) -> None:
        await s.publish()
        assert await s.dispatcher.route() == 0

    events_run(scenario)


# --- Routing -------------------------------------------------------------------------------------


def test_routing_fans_out_to_matching_active_subscriptions_once(events_run):
    async def scenario(s: Stack) -> None:
        every, _ = await s.subscribe("/every")
        cards, _ = await s.subscribe("/cards", CARD_CREATED)
        gone, _ = await s.subscribe("/gone")
        await s.subscriptions.delete(gone)
        created, cleared = s.event(CARD_CREATED), s.event(TRANSACTION_CLEARED)
        await s.publish(created, cleared)

        assert await s.dispatcher.route() == 2
        assert await s.dispatcher.route() == 0  # routed once
        pairs = sorted((d.subscription_id, d.event_id, d.event_type, d.status) for d in await s.all_deliveries())
        assert pairs == sorted([
            (every, created.id, CARD_CREATED, "pending"), (every, cleared.id, TRANSACTION_CLEARED, "pending"),
            (cards, created.id, CARD_CREATED, "pending"),
        ])

    events_run(scenario)


def test_a_subscription_receives_events_routed_after_it_exists(events_run):
    async def scenario(s: Stack) -> None:
        before = s.event()
        await s.publish(before)
        assert await s.dispatcher.route() == 1
        sub, _ = await s.subscribe("/late")
        after = s.event()
        await s.publish(after)
        await s.dispatcher.run_once()
        assert [json.loads(x.body)["id"] for x in s.sender.sent] == [after.id]
        assert [d.subscription_id for d in await s.all_deliveries()] == [sub]

    events_run(scenario)


# --- Delivering ------------------------------------------------------------------------------------


def test_each_delivery_is_signed_json_of_the_event(events_run):
    async def scenario(s: Stack) -> None:
        _, secret = await s.subscribe("/hooks")
        event = s.event(AUTHORIZATION_APPROVED, amount=1999, merchant={"name": "Café", "mcc": "5812"})
        await s.publish(event)
        assert await s.dispatcher.run_once() == (1, 1)
        [sent] = s.sender.sent
        assert sent.url == "https://app.example/hooks" and sent.timeout == 5
        assert msgspec.json.decode(sent.body, type=Event) == event
        assert sent.headers["webhook-id"] == event.id
        assert sent.headers["webhook-timestamp"] == str(int(s.clock.now().timestamp()))
        assert sent.headers["content-type"] == "application/json"
        assert hand_verify(secret, sent.headers, sent.body)
        [delivery] = await s.all_deliveries()
        assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("delivered", 1, s.clock.now())

    events_run(scenario)


def test_failures_back_off_exponentially_until_delivered(events_run):
    async def scenario(s: Stack) -> None:
        await s.subscribe("/flaky")
        s.sender.script["https://app.example/flaky"] = [500, None, 200]
        event = s.event()
        await s.publish(event)
        start = s.clock.now()

        assert await s.dispatcher.run_once() == (1, 1)
        [d] = await s.all_deliveries()
        assert (d.status, d.attempts, d.last_status_code, d.next_attempt_at) == (
            "pending", 1, 500, start + timedelta(seconds=7.5))  # 10 s ceiling, jitter 0.5 -> 3/4

        s.clock.advance(7.4)
        assert await s.dispatcher.deliver() == 0  # not due yet
        s.clock.advance(0.1)
        assert await s.dispatcher.deliver() == 1
        [d] = await s.all_deliveries()
        assert (d.status, d.attempts, d.last_status_code, d.last_error) == ("pending", 2, None, "no response within 10 s")
        assert d.next_attempt_at == s.clock.now() + timedelta(seconds=15)  # 20 s ceiling

        s.clock.advance(15)
        assert await s.dispatcher.deliver() == 1
        detail = await s.deliveries.get(d.id)
        assert detail.delivery.status == "delivered"
        assert [(a.attempt, a.status_code, a.succeeded) for a in detail.attempts] == [
            (1, 500, False), (2, None, False), (3, 200, True)]
        ids_sent = {x.headers["webhook-id"] for x in s.sender.sent}
        assert ids_sent == {event.id} and len({x.body for x in s.sender.sent}) == 1  # same message each time

    events_run(scenario)


def test_the_last_allowed_failure_fails_and_ops_can_retry(events_run):
    async def scenario(s: Stack) -> None:
        await s.subscribe("/down")
        s.sender.script["https://app.example/down"] = [503, 503, 503]
        await s.publish(s.event())
        await s.dispatcher.route()
        for _ in range(3):
            assert await s.dispatcher.deliver() == 1
            s.clock.advance(1000)
        [failed] = await s.all_deliveries("failed")
        assert (failed.attempts, failed.next_attempt_at, failed.last_error) == (3, None, "HTTP 503")
        assert await s.dispatcher.deliver() == 0

        retried = await s.deliveries.retry(failed.id)
        assert (retried.status, retried.next_attempt_at) == ("pending", s.clock.now())
        assert await s.dispatcher.deliver() == 1
        detail = await s.deliveries.get(failed.id)
        assert detail.delivery.status == "delivered"
        assert [a.attempt for a in detail.attempts] == [1, 2, 3, 4]
        with pytest.raises(NotFound):
            await s.deliveries.retry(ids.new_id())

    events_run(scenario)


def test_deleting_a_subscription_cancels_its_pending_deliveries(events_run):
    async def scenario(s: Stack) -> None:
        sub, _ = await s.subscribe("/bye")
        s.sender.script["https://app.example/bye"] = [500, 500]
        await s.publish(s.event(), s.event())
        await s.dispatcher.run_once()
        assert await s.subscriptions.delete(sub) == 2
        assert {d.status for d in await s.all_deliveries()} == {"cancelled"}
        s.clock.advance(10_000)
        assert await s.dispatcher.run_once() == (0, 0)
        [one, _] = await s.all_deliveries()
        with pytest.raises(Conflict) as refused:
            await s.deliveries.retry(one.id)
        assert refused.value.code == "subscription_deleted"
        with pytest.raises(NotFound):
            await s.subscriptions.delete(sub)
        assert await s.subscriptions.list() == []

    events_run(scenario)


def test_rotation_signs_with_both_secrets_during_the_grace_period(events_run):
    async def scenario(s: Stack) -> None:
        sub, old = await s.subscribe("/rotating")
        rotated = await s.subscriptions.rotate_secret(sub)
        assert rotated.secret != old and rotated.previous_secret_expires_at == s.clock.now() + timedelta(hours=24)
        await s.publish(s.event())
        await s.dispatcher.run_once()
        s.clock.advance(24 * 3600)
        await s.publish(s.event())
        await s.dispatcher.run_once()
        first, second = s.sender.sent
        assert len(first.headers["webhook-signature"].split()) == 2
        assert hand_verify(old, first.headers, first.body) and hand_verify(rotated.secret, first.headers, first.body)
        assert len(second.headers["webhook-signature"].split()) == 1
        assert not hand_verify(old, second.headers, second.body)
        assert hand_verify(rotated.secret, second.headers, second.body)
        with pytest.raises(NotFound):
            await s.subscriptions.rotate_secret(ids.new_id())

    events_run(scenario)


# --- Subscriptions and ops' views ----------------------------------------------------------------------


def test_creation_is_idempotent_on_its_key(events_run):
    async def scenario(s: Stack) -> None:
        first = await s.subscriptions.create(NewSubscription(url="https://a.example/h", event_types=[CARD_CREATED],
                                                             description="cards app", idempotency_key="k1"))
        again = await s.subscriptions.create(NewSubscription(url="https://a.example/h", event_types=[CARD_CREATED],
                                                             description="cards app", idempotency_key="k1"))
        assert first.created and not again.created
        assert again.subscription == first.subscription
        with pytest.raises(Conflict) as conflict:
            await s.subscriptions.create(NewSubscription(url="https://a.example/other", idempotency_key="k1"))
        assert conflict.value.code == "idempotency_conflict"
        other = await s.subscriptions.create(NewSubscription(url="https://a.example/h", idempotency_key="k2"))
        assert other.created and other.subscription.id != first.subscription.id
        assert [x.id for x in await s.subscriptions.list()] == [first.subscription.id, other.subscription.id]

    events_run(scenario)


def test_deliveries_page_newest_first_by_status(events_run):
    async def scenario(s: Stack) -> None:
        await s.subscribe("/ok")
        await s.subscribe("/ko")
        s.sender.script["https://app.example/ko"] = [500] * 5
        await s.publish(*(s.event() for _ in range(5)))
        await s.dispatcher.run_once()
        everything = await s.all_deliveries()
        assert len(everything) == 10 and [d.id for d in everything] == sorted((d.id for d in everything), reverse=True)

        seen, cursor = [], None
        while True:
            page = await s.deliveries.page("pending", cursor, 2)
            seen += page.deliveries
            if page.next_before is None:
                break
            cursor = page.next_before
        assert len(seen) == 5 and {d.status for d in seen} == {"pending"}
        assert [d.id for d in seen] == sorted((d.id for d in seen), reverse=True)
        assert len((await s.deliveries.page("delivered", None, 100)).deliveries) == 5
        with pytest.raises(NotFound):
            await s.deliveries.get(ids.new_id())

    events_run(scenario)
