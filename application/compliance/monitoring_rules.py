"""The monitoring rule set in force: the newest stored version, or the shipped default (version 0).

Each process caches it for ``refresh_seconds``; ``replace`` stores a new version (who, when, why)
and takes effect at once in this process, within ``refresh_seconds`` in the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from application.ports.clock import Clock
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork
from domain.compliance.cases import require_reason
from domain.compliance.monitoring import RuleSet, RuleSetVersion


class MonitoringRules:
    def __init__(self, transactions: ComplianceTransactions, defaults: RuleSet, clock: Clock, *,
                 refresh_seconds: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._transactions = transactions
        self._defaults = RuleSetVersion(version=0, rules=defaults, reason="shipped default")
        self._clock = clock
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._current: RuleSetVersion | None = None
        self._fresh_until = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> RuleSetVersion:
        if self._current is not None and self._monotonic() < self._fresh_until:
            return self._current
        async with self._lock:
            if self._current is None or self._monotonic() >= self._fresh_until:
                stored = await self._transactions.run(lambda uow: uow.rules.latest())
                self._current = stored or self._defaults
                self._fresh_until = self._monotonic() + self._refresh
            return self._current

    async def replace(self, rules: RuleSet, *, actor: str, reason: str) -> RuleSetVersion:
        """Store ``rules`` as the next version; ``reason_required`` without a reason."""
        reason = require_reason(reason)

        async def work(uow: ComplianceUnitOfWork) -> RuleSetVersion:
            latest = await uow.rules.latest()
            stored = RuleSetVersion(version=(latest.version if latest else 0) + 1, rules=rules,
                                    created_at=self._clock.now(), created_by=actor, reason=reason)
            await uow.rules.add(stored)
            return stored

        stored = await self._transactions.run(work)
        self._current, self._fresh_until = stored, self._monotonic() + self._refresh
        return stored
