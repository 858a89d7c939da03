"""The dispatcher on PostgreSQL against a real local HTTP receiver.

- retries with backoff (injected clock) against a receiver that fails twice, then accepts;
- events committed by a process that never dispatched them, and a dispatcher killed (SIGKILL)
  while its request is in flight: a new dispatcher delivers them, with the same ``webhook-id``;
- several dispatchers at once (``FOR UPDATE SKIP LOCKED``): each delivery attempted once.

The receiver checks every signature by hand (``hand_verify``) and again with the Standard
Webhooks reference verifier. The module has a database of its own, emptied before each test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from standardwebhooks import Webhook

from adapters.postgres.database import Database
from adapters.postgres.events import PostgresWebhookTransactions
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import SystemClock, UuidV7Ids
from adapters.webhooks import HttpxWebhookSender, StandardWebhookSigner
from application.events.dispatch import Dispatcher
from application.events.manage_subscriptions import ManageSubscriptions, NewSubscription
from domain.events import CARD_CREATED, TRANSACTION_CLEARED, Event, RetryPolicy
from tests.webhook_support import FakeClock, Receiver, body_of, events_database

ROOT = Path(__file__).resolve().parents[3]
ids = UuidV7Ids()


@pytest.fixture(scope="module")
def events_db(postgres_server_uri: str):
    with events_database(postgres_server_uri, "bursar_webhooks") as db:
        yield db


@pytest.fixture
def db_url(events_db) -> str:
    events_db.clear()
    return events_db.core_url


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def dispatcher(pool, clock, *, batch_size: int = 50, policy: RetryPolicy | None = None) -> Dispatcher:
    return Dispatcher(PostgresWebhookTransactions(pool), HttpxWebhookSender(), StandardWebhookSigner(), clock, ids,
                      policy or RetryPolicy(max_attempts=5, backoff_base=5, backoff_max=60), timeout=30,
                      batch_size=batch_size, jitter=lambda: 0.5)


async def subscribe(pool, clock, receiver: Receiver, path: str, *types: str) -> str:
    created = await ManageSubscriptions(PostgresWebhookTransactions(pool), StandardWebhookSigner(), clock, ids).create(
        NewSubscription(url=receiver.url + path, event_types=types))
    receiver.secrets[path] = created.subscription.secret
    return created.subscription.secret


async def commit_events(pool, *events: Event) -> None:
    async def work(uow) -> None:
        await uow.outbox.add(list(events))

    await PostgresTransactions(pool).run(work)


def event(clock, type: str = CARD_CREATED) -> Event:
    return Event(id=ids.new_id(), type=type, created_at=clock.now(), data={"card": {"id": "card-1", "last4": "4242"}})


def delivery_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT d.event_id, d.status, d.attempts, "
                            "(SELECT array_agg(a.status_code ORDER BY a.attempt) FROM core.webhook_delivery_attempts a "
                            " WHERE a.delivery_id = d.id) FROM core.webhook_deliveries d ORDER BY d.id").fetchall()


def now_whole_seconds() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_retries_with_backoff_until_the_receiver_accepts(db_url, receiver):
    receiver.respond = lambda path, n: 500 if n <= 2 else 204
    clock = FakeClock(now_whole_seconds())
    start = int(clock.now().timestamp())

    async def main() -> None:
        db = Database(db_url, min_size=1, max_size=4)
        await db.open()
        try:
            secret = await subscribe(db.pool, clock, receiver, "/hooks")
            d = dispatcher(db.pool, clock)
            e = event(clock)
            await commit_events(db.pool, e)

            assert await d.run_once() == (1, 1)
            assert delivery_rows(db_url) == [(e.id, "pending", 1, [500])]
            clock.advance(3.7)  # the first retry is due 3.75 s later (5 s ceiling, jitter 0.5)
            assert await d.deliver() == 0
            clock.advance(0.05)
            assert await d.deliver() == 1
            assert delivery_rows(db_url) == [(e.id, "pending", 2, [500, 500])]
            clock.advance(7.5)  # then 7.5 s (10 s ceiling)
            assert await d.deliver() == 1
            assert delivery_rows(db_url) == [(e.id, "delivered", 3, [500, 500, 204])]
            clock.advance(3600)
            assert await d.run_once() == (0, 0)
        finally:
            await db.close()
        return secret, e

    secret, e = asyncio.run(main())
    assert len(receiver.requests) == 3
    for r in receiver.requests:
        assert r.verified  # by hand
        assert Webhook(secret).verify(r.body, r.headers) == body_of(r)  # by the reference verifier
        assert r.headers["webhook-id"] == e.id
        assert body_of(r) == {"id": e.id, "type": "card.created", "created_at": e.created_at.isoformat().replace("+00:00", "Z"),
                              "data": {"card": {"id": "card-1", "last4": "4242"}}}
    # Each attempt is signed at its own time: 0, 3.75 and 11.25 s after the first, in whole seconds.
    assert [int(r.headers["webhook-timestamp"]) for r in receiver.requests] == [start + s for s in (0, 3, 11)]


def test_events_committed_before_a_crash_are_delivered_by_the_next_dispatcher(db_url, receiver):
    clock = SystemClock()

    async def before_the_crash() -> list[Event]:
        db = Database(db_url, min_size=1, max_size=2)
        await db.open()
        await subscribe(db.pool, clock, receiver, "/cards", CARD_CREATED, TRANSACTION_CLEARED)
        events = [event(clock), event(clock, TRANSACTION_CLEARED)]
        await commit_events(db.pool, *events)
        await db.close()  # the process goes away without ever dispatching
        return events

    async def after_restart() -> tuple[int, int]:
        db = Database(db_url, min_size=1, max_size=2)
        await db.open()
        try:
            return await dispatcher(db.pool, clock).run_once()
        finally:
            await db.close()

    events = asyncio.run(before_the_crash())
    assert receiver.requests == []
    assert asyncio.run(after_restart()) == (2, 2)
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(e.id for e in events)
    assert all(r.verified for r in receiver.requests)
    assert {row[1] for row in delivery_rows(db_url)} == {"delivered"}


DISPATCHER_PROCESS = textwrap.dedent("""
    import asyncio, sys
    from adapters.postgres.database import Database
    from adapters.postgres.events import PostgresWebhookTransactions
    from adapters.system import SystemClock, UuidV7Ids
    from adapters.webhooks import HttpxWebhookSender, StandardWebhookSigner
    from application.events.dispatch import Dispatcher
    from domain.events import RetryPolicy

    async def main():
        db = Database(sys.argv[1], min_size=1, max_size=2)
        await db.open()
        await Dispatcher(PostgresWebhookTransactions(db.pool), HttpxWebhookSender(), StandardWebhookSigner(),
                         SystemClock(), UuidV7Ids(), RetryPolicy(), timeout=120, batch_size=10,
                         jitter=lambda: 0.5).run_forever(0.05)

    asyncio.run(main())
""")


def test_a_dispatcher_killed_mid_delivery_loses_nothing(db_url, receiver):
    clock = SystemClock()
    receiver.hold.clear()  # the receiver keeps the first request waiting: the dispatcher is mid-send

    async def setup() -> Event:
        db = Database(db_url, min_size=1, max_size=2)
        await db.open()
        try:
            await subscribe(db.pool, clock, receiver, "/hooks")
            e = event(clock)
            await commit_events(db.pool, e)
            return e
        finally:
            await db.close()

    e = asyncio.run(setup())
    proc = subprocess.Popen([sys.executable, "-c", DISPATCHER_PROCESS, db_url], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    try:
        assert receiver.wait_for(1, timeout=60), proc.stderr.read().decode() if proc.poll() is not None else "no request"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    receiver.hold.set()
    # The killed attempt left nothing behind: no attempt recorded, the delivery still pending.
    [(event_id, status, attempts, codes)] = delivery_rows(db_url)
    assert (event_id, status, attempts, codes) == (e.id, "pending", 0, None)

    async def new_process() -> None:
        db = Database(db_url, min_size=1, max_size=2)
        await db.open()
        try:
            d = dispatcher(db.pool, clock)
            for _ in range(300):  # until PostgreSQL has ended the dead process's transaction
                if await d.deliver():
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the pending delivery never became claimable")
        finally:
            await db.close()

    asyncio.run(new_process())
    assert delivery_rows(db_url) == [(e.id, "delivered", 1, [200])]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == e.id  # the receiver dedupes on it
    assert first.body == second.body and first.verified and second.verified


def test_concurrent_dispatchers_never_attempt_the_same_delivery(db_url, receiver):
    """Six deliveries, two dispatchers taking three at a time. The receiver holds every request
    until six arrived at once: only possible if each dispatcher skipped the rows the other holds."""
    clock = FakeClock(now_whole_seconds())
    receiver.hold.clear()

    async def main() -> tuple[list[int], list[int], bool, list[int]]:
        dbs = [Database(db_url, min_size=1, max_size=2) for _ in range(3)]
        for db in dbs:
            await db.open()
        try:
            await subscribe(dbs[0].pool, clock, receiver, "/hooks")
            await commit_events(dbs[0].pool, *(event(clock) for _ in range(6)))
            a, b = dispatcher(dbs[1].pool, clock, batch_size=3), dispatcher(dbs[2].pool, clock, batch_size=3)
            routed = await asyncio.gather(a.route(), b.route())
            assert sorted(routed) == [3, 3]

            async def release_when_all_six_are_held() -> bool:
                all_six = await asyncio.to_thread(receiver.wait_for, 6, 60)
                receiver.hold.set()
                return all_six

            *attempted, all_six = await asyncio.gather(a.deliver(), b.deliver(), release_when_all_six_are_held())
            again = await asyncio.gather(a.run_once(), b.run_once())
            return routed, attempted, all_six, [n for pair in again for n in pair]
        finally:
            for db in dbs:
                await db.close()

    routed, attempted, all_six, again = asyncio.run(main())
    assert all_six, f"only {len(receiver.requests)} requests were in flight at once"
    assert attempted == [3, 3] and again == [0, 0, 0, 0]
    assert len(receiver.requests) == 6
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 6
    rows = delivery_rows(db_url)
    assert len(rows) == 6 and {(status, attempts, tuple(codes)) for _, status, attempts, codes in rows} == {
        ("delivered", 1, (200,))}
