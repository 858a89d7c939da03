"""vault.batching.GroupCommit on its own: batching, per-item outcomes, splitting a failed batch,
shared failures and cancellation. (The database writes built on it: test_batched_writes.py.)"""

from __future__ import annotations

import asyncio

import pytest

from vault.batching import GroupCommit


class Refused(Exception):
    pass


class ConnectionLost(Exception):
    pass


class Recorder:
    """A write function that records its batches; items < 0 make the whole write raise, items
    that are multiples of 7 fail alone (an exception as their outcome)."""

    def __init__(self, delay: float = 0.001) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def write(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)  # a round trip: callers arriving now form the next batch
        if any(item < 0 for item in items):
            raise Refused(f"batch with {min(items)}")
        return [Refused(str(item)) if item and item % 7 == 0 else item * 10 for item in items]


async def _outcome(commit: GroupCommit, item: int):
    try:
        return await commit.submit(item)
    except Exception as exc:  # noqa: BLE001 - the outcome under test
        return exc


def test_a_lone_item_is_written_at_once():
    recorder = Recorder()

    async def scenario():
        commit = GroupCommit(recorder.write)
        return await commit.submit(3)

    assert asyncio.run(scenario()) == 30
    assert recorder.batches == [[3]]


def test_concurrent_items_share_batches_and_each_gets_its_own_result():
    recorder = Recorder()

    async def scenario():
        commit = GroupCommit(recorder.write, max_batch=50)
        results = await asyncio.gather(*(commit.submit(n) for n in range(1, 201) if n % 7))
        return commit, results

    commit, results = asyncio.run(scenario())
    assert results == [n * 10 for n in range(1, 201) if n % 7]
    assert commit.batches == len(recorder.batches) < 10
    assert all(len(batch) <= 50 for batch in recorder.batches)
    assert sorted(item for batch in recorder.batches for item in batch) == [n for n in range(1, 201) if n % 7]


def test_an_item_failing_alone_fails_only_its_caller():
    recorder = Recorder()

    async def scenario():
        commit = GroupCommit(recorder.write)
        return await asyncio.gather(*(_outcome(commit, n) for n in range(1, 16)))

    outcomes = asyncio.run(scenario())
    failed = {n for n, outcome in zip(range(1, 16), outcomes, strict=True) if isinstance(outcome, Refused)}
    assert failed == {7, 14}
    assert [o for o in outcomes if not isinstance(o, Refused)] == [n * 10 for n in range(1, 16) if n % 7]


def test_a_batch_that_raises_is_split_so_the_bad_item_fails_alone():
    recorder = Recorder()

    async def scenario():
        commit = GroupCommit(recorder.write)
        first = asyncio.ensure_future(commit.submit(1))  # written alone; the rest queue behind it
        await asyncio.sleep(0)
        rest = await asyncio.gather(*(_outcome(commit, n) for n in (2, 3, -4, 5, 14, 6)))
        return await first, rest

    first, rest = asyncio.run(scenario())
    assert first == 10
    assert rest[:3] == [20, 30, rest[2]] and isinstance(rest[2], Refused) and str(rest[2]) == "batch with -4"
    assert rest[3] == 50 and isinstance(rest[4], Refused) and rest[5] == 60
    assert recorder.batches[:2] == [[1], [2, 3, -4, 5, 14, 6]]  # then each item alone
    assert recorder.batches[2:] == [[2], [3], [-4], [5], [14], [6]]


def test_a_shared_failure_reaches_every_caller_without_retrying_each_item():
    calls = []

    async def write(items):
        calls.append(list(items))
        await asyncio.sleep(0.001)
        raise ConnectionLost("server closed the connection")

    async def scenario():
        commit = GroupCommit(write, shared_failures=(ConnectionLost,))
        first = asyncio.ensure_future(_outcome(commit, 0))
        await asyncio.sleep(0)
        return [await first, *await asyncio.gather(*(_outcome(commit, n) for n in range(1, 6)))]

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, ConnectionLost) for o in outcomes)
    assert calls == [[0], [1, 2, 3, 4, 5]]


def test_a_write_returning_the_wrong_number_of_outcomes_counts_as_failed_and_is_split():
    async def write(items):
        return [1]

    async def scenario():
        commit = GroupCommit(write)
        first = asyncio.ensure_future(commit.submit("a"))
        await asyncio.sleep(0)
        others = await asyncio.gather(*(_outcome(commit, x) for x in "bc"))
        return await first, others

    first, others = asyncio.run(scenario())
    assert first == 1
    assert others == [1, 1]  # split: alone, each gets its one outcome


def test_a_cancelled_caller_leaves_the_batch_and_the_others_alone():
    recorder = Recorder(delay=0.01)

    async def scenario():
        commit = GroupCommit(recorder.write)
        tasks = [asyncio.ensure_future(commit.submit(n)) for n in range(1, 6)]
        await asyncio.sleep(0.001)
        tasks[2].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        return done, await commit.submit(8)  # the writer is still usable afterwards

    done, later = asyncio.run(scenario())
    assert isinstance(done[2], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 2] == [10, 20, 40, 50]
    assert later == 80
    assert any(3 in batch for batch in recorder.batches)  # written all the same


def test_max_batch_is_respected():
    recorder = Recorder()

    async def scenario():
        commit = GroupCommit(recorder.write, max_batch=4)
        return await asyncio.gather(*(commit.submit(n) for n in range(1, 30) if n % 7))

    asyncio.run(scenario())
    assert max(len(batch) for batch in recorder.batches) == 4


@pytest.mark.parametrize("size", [1, 2, 37])
def test_every_item_is_written_exactly_once(size):
    recorder = Recorder(delay=0)

    async def scenario():
        commit = GroupCommit(recorder.write, max_batch=size)
        return await asyncio.gather(*(commit.submit(n) for n in range(1, 100) if n % 7))

    asyncio.run(scenario())
    written = [item for batch in recorder.batches for item in batch]
    assert sorted(written) == [n for n in range(1, 100) if n % 7]
