"""Runs ExpireHolds every few seconds for as long as the app lives."""

from __future__ import annotations

import asyncio
import logging

from application.ledger.expire_holds import ExpireHolds

log = logging.getLogger("bursar.ledger.sweeper")


async def sweep_forever(expire: ExpireHolds, interval: float) -> None:
    """Release due holds every ``interval`` seconds. A failed round is logged and retried;
    reads and transfers stay exact meanwhile, since they expire due holds themselves."""
    while True:
        try:
            released = await expire()
            if released:
                log.info("released expired holds", extra={"released": released})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweeping expired holds failed; retrying")
        await asyncio.sleep(interval)
