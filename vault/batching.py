"""Group commit: the database writes of concurrent requests, made together.

A :class:`GroupCommit` collects the items its concurrent callers submit and hands them to one
``write`` call: one statement and one commit for the lot instead of one each. There is no timer.
A caller who finds nothing being written starts a batch at once; callers who arrive while a
batch is being written queue, and everything queued becomes the next batch (at most
``max_batch`` items). A lone request is therefore written immediately, and a busy vault writes
whatever arrived during the previous round trip.

``write(items)`` returns one outcome per item, in order: a result, or an exception instance that
is raised to that item's caller only. If ``write`` raises instead, the batch is split and every
item is written alone, so one bad item fails its own caller and nobody else's -- unless the
exception is one of ``shared_failures``, which say nothing about any one item (a lost
connection, a pool timeout): then every caller of the batch gets it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[list[T]], Awaitable[Sequence["R | BaseException"]]]


class GroupCommit(Generic[T, R]):
    def __init__(
        self, write: Write, *, max_batch: int = 500, shared_failures: tuple[type[Exception], ...] = ()
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._shared_failures = shared_failures
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # write calls made (for tests)

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is pending; returns its outcome once written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._run(batch)
        finally:
            self._writer = None
            for _, future in self._queue:  # only when cancelled (the loop is shutting down)
                future.cancel()
            self._queue.clear()

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        try:
            outcomes = await self._write([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(outcomes)} outcomes")
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, self._shared_failures):
                for entry in batch:  # find the bad item: each is written (and fails or not) alone
                    await self._run([entry])
                return
            outcomes = [exc] * len(batch)
        except BaseException:  # cancelled mid-write: nobody may wait forever
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller went away (cancelled); the write stands
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
