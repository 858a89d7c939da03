"""Moving-window rate limits in process memory, for the reveal path.

A limit of ``N`` per ``T`` seconds admits a request when fewer than ``N`` requests with the same
key were admitted in the ``T`` seconds before it. Each key keeps the times of its admitted
requests (never more than ``N``, oldest first); keys idle for a whole window are swept once per
window. Checking and counting make no await, so they are atomic within the event loop.

This replaces ``limits``' asyncio memory storage, whose expiry task hops to a thread for every
key and whose window list grows at its front: on the reveal path it cost more than the rest of
the request together (py-spy, docs/performance.md).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from limits import parse


class MovingWindow:
    def __init__(self, amount: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if amount < 1 or seconds <= 0:
            raise ValueError("a rate limit admits at least 1 request per positive window")
        self.amount = amount
        self.seconds = seconds
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self._next_sweep = clock() + seconds

    @classmethod
    def parse(cls, text: str, clock: Callable[[], float] = time.monotonic) -> MovingWindow:
        """From ``limits`` notation: ``"10/minute"``, ``"100 per second"``, ``"5/2 hours"``."""
        item = parse(text)
        return cls(item.amount, float(item.get_expiry()), clock)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may be admitted again: 0 when it may be now."""
        now = self._clock()
        times = self._current(key, now)
        if times is None or len(times) < self.amount:
            return 0.0
        return max(times[0] + self.seconds - now, 0.0)

    def hit(self, key: str) -> None:
        """Count an admitted request (call only after :meth:`wait` returned 0)."""
        now = self._clock()
        times = self._current(key, now)
        if times is None:
            times = self._admitted[key] = deque()
        times.append(now)
        if now >= self._next_sweep:
            self._sweep(now)

    def __len__(self) -> int:
        return len(self._admitted)

    def _current(self, key: str, now: float) -> deque[float] | None:
        times = self._admitted.get(key)
        if times is not None:
            cutoff = now - self.seconds
            while times and times[0] <= cutoff:
                times.popleft()
        return times

    def _sweep(self, now: float) -> None:
        cutoff = now - self.seconds
        for key in [k for k, times in self._admitted.items() if not times or times[-1] <= cutoff]:
            del self._admitted[key]
        self._next_sweep = now + self.seconds
