"""Post a batch of transfers, pending-transfer resolutions and reversals, atomically per chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from application.ports.clock import Clock
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.ledger import ItemResult, LedgerItem, execute_batch
from domain.shared.errors import InvalidInput

MAX_BATCH = 8190


def check_batch_size(items: Sequence[LedgerItem]) -> None:
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} items, not {len(items)}", code="batch_size_invalid")


class PostTransfers:
    def __init__(self, transactions: Transactions, clock: Clock) -> None:
        self._transactions = transactions
        self._clock = clock

    async def __call__(self, items: Sequence[LedgerItem]) -> list[ItemResult]:
        check_batch_size(items)

        async def work(uow: UnitOfWork) -> list[ItemResult]:
            now = self._clock.now()
            snapshot = await uow.ledger.lock_snapshot(items, now)
            outcome = execute_batch(items, snapshot, now)
            await uow.ledger.save(outcome)
            return outcome.results

        return await self._transactions.run(work)


class CoalescingPostTransfers:
    """Group commit: concurrent calls share transactions, as TigerBeetle batches its clients.

    A call's items are appended to a queue; whenever fewer than ``max_in_flight`` transactions
    are running, the queued calls (up to MAX_BATCH items in all) go into one batch. Results are
    exactly those of running the calls one after the other, in arrival order: ids are
    idempotency keys, so a repeated id in a later call reads as ``exists`` either way. A call
    whose last item is linked (an open chain) runs alone, so a chain never spans two calls. If
    a shared transaction fails outright, each of its calls is retried alone, so one caller's
    failure never becomes another's.
    """

    def __init__(self, post: PostTransfers, max_in_flight: int = 1) -> None:
        self._post = post
        self._max_in_flight = max_in_flight
        self._queue: list[tuple[Sequence[LedgerItem], asyncio.Future[list[ItemResult]]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, items: Sequence[LedgerItem]) -> list[ItemResult]:
        check_batch_size(items)
        future: asyncio.Future[list[ItemResult]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            group = self._take_group()
            self._in_flight += 1
            task = asyncio.ensure_future(self._run(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take_group(self) -> list[tuple[Sequence[LedgerItem], asyncio.Future[list[ItemResult]]]]:
        group = [self._queue.pop(0)]
        if group[0][0][-1].linked:
            return group
        total = len(group[0][0])
        while self._queue and total + len(self._queue[0][0]) <= MAX_BATCH and not self._queue[0][0][-1].linked:
            total += len(self._queue[0][0])
            group.append(self._queue.pop(0))
        return group

    async def _run(self, group) -> None:
        try:
            if len(group) == 1:
                await self._settle(group[0])
                return
            try:
                results = await self._post([item for items, _ in group for item in items])
            except Exception:
                for call in group:
                    await self._settle(call)
                return
            start = 0
            for items, future in group:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)
        finally:
            self._in_flight -= 1
            self._dispatch()

    async def _settle(self, call) -> None:
        items, future = call
        try:
            result = await self._post(items)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)
