"""Runs a periodic job (expiring holds and authorizations, evaluating monitoring alerts) every few
seconds for as long as the app lives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("bursar.ledger.sweeper")


async def sweep_forever(work: Callable[[], Awaitable[int]], interval: float,
                        what: str = "released expired holds") -> None:
    """Run ``work`` (it returns how many things it handled) every ``interval`` seconds. A failed
    round is logged and retried; the jobs are catch-up work (reads and transfers expire due holds
    themselves, an authorization asks for its alerts right after its commit), so nothing waits
    on them meanwhile."""
    while True:
        try:
            handled = await work()
            if handled:
                log.info(what, extra={"count": handled})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a sweep failed (%s); retrying", what)
        await asyncio.sleep(interval)
