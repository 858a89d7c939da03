"""Evaluate the alert rules of activity another context committed, soon and off its answers' path.

The cards context writes its activity in the transaction that moves the money (an approval with
its hold, a funding with its transfer), then asks (``ask``). Activity gathers for
``ALERTS_GATHER_SECONDS``, then one evaluation takes everything that waits, in rounds of
``ALERTS_PER_EVALUATION``: one evaluation, with its fixed cost in the database, per this much
time rather than per batch or per funding, and never on a request's path. One runs at a time per
process. A failure is logged: the sweeper (``MonitorActivity.evaluate_awaiting`` every few
seconds) evaluates what is left, as it does what a crash left.

At shutdown (``drain``) the evaluation under way finishes its round and stops: a backlog (after an
alert storm) is the sweeper's, of this process when it starts again or of another, so a restart
does not wait for it.
"""

from __future__ import annotations

import asyncio
import logging

from application.ports.compliance import ActivityMonitor

log = logging.getLogger("bursar.compliance.alerts")

ALERTS_PER_EVALUATION = 1_000
"""Activity evaluated for alerts per monitoring transaction, at most."""

ALERTS_GATHER_SECONDS = 0.1
"""How long activity gathers before its alert rules are evaluated."""


class AlertsSoon:
    def __init__(self, monitor: ActivityMonitor, *, gather_seconds: float = ALERTS_GATHER_SECONDS,
                 per_round: int = ALERTS_PER_EVALUATION) -> None:
        self._monitor = monitor
        self._gather = gather_seconds
        self._per_round = per_round
        self._running: asyncio.Future[None] | None = None  # the evaluation under way
        self._due = False
        self._stopping = False

    def ask(self) -> None:
        """Activity was committed: have its alert rules evaluated soon."""
        self._due = True
        if self._running is None:
            self._running = asyncio.ensure_future(self._evaluate())

    async def drain(self) -> None:
        """Finish the round under way, and stop evaluating (at shutdown)."""
        self._stopping = True
        while self._running is not None:
            await asyncio.shield(self._running)

    async def _evaluate(self) -> None:
        try:
            await asyncio.sleep(self._gather)
            while self._due:
                self._due = False
                while await self._monitor.evaluate_awaiting(self._per_round) == self._per_round and not self._stopping:
                    pass  # a full round: more may be waiting
                if self._stopping:  # one round at shutdown; a backlog is the sweeper's
                    break
        except Exception as exc:
            log.warning("could not evaluate the alert rules of recent activity (the sweeper will): %s",
                        exc.__class__.__name__)
        finally:
            self._running = None
