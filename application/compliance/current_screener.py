"""The screener for the newest stored sanctions list version, kept in memory and rebuilt when it changes.

Every process holds one index (``Screener``) of the newest list version. At most every
``refresh_seconds`` it asks the database which version is the newest (one indexed read); when that
changed, it loads the version and builds a new index in a worker thread (about 2 s for the full
OFAC list), one build at a time, while callers wait. ``invalidate()`` makes the next call look at
once (after an ingestion in this process).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import msgspec

from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, ListVersion
from domain.compliance.sanctions import SanctionsList
from domain.compliance.screening import Screener
from domain.shared.errors import DomainError

log = logging.getLogger(__name__)


class SanctionsListMissing(DomainError):
    code = "sanctions_list_missing"


class LoadedScreener(msgspec.Struct, frozen=True, kw_only=True):
    version: ListVersion
    screener: Screener
    load_seconds: float
    """Reading the version from the database."""
    build_seconds: float
    """Building the index."""


class CurrentScreener:
    def __init__(self, transactions: ComplianceTransactions, *, refresh_seconds: float = 5.0,
                 build: Callable[[SanctionsList], Screener] = Screener,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._transactions = transactions
        self._refresh = refresh_seconds
        self._build = build
        self._monotonic = monotonic
        self._loaded: LoadedScreener | None = None
        self._fresh_until = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> LoadedScreener:
        """The screener of the newest version; ``sanctions_list_missing`` when none is stored."""
        loaded = self._loaded
        if loaded is not None and self._monotonic() < self._fresh_until:
            return loaded
        async with self._lock:
            if self._loaded is not None and self._monotonic() < self._fresh_until:
                return self._loaded
            latest = await self._transactions.run(lambda uow: uow.lists.latest())
            if latest is None:
                raise SanctionsListMissing(
                    "no sanctions list is stored: run `bursar compliance ingest-list` first")
            if self._loaded is None or self._loaded.version.id != latest.id:
                self._loaded = await self._load(latest)
            self._fresh_until = self._monotonic() + self._refresh
            return self._loaded

    def invalidate(self) -> None:
        self._fresh_until = float("-inf")

    async def warm(self) -> None:
        """Build the index now if a list is stored (at start-up, so the first screening need not wait)."""
        try:
            await self.get()
        except SanctionsListMissing:
            log.warning("no sanctions list is stored yet: screening is refused until one is ingested")

    async def _load(self, version: ListVersion) -> LoadedScreener:
        started = time.perf_counter()

        async def load(uow: ComplianceUnitOfWork) -> SanctionsList:
            return await uow.lists.load(version.id)

        sanctions_list = await self._transactions.run(load)
        loaded_at = time.perf_counter()
        screener = await asyncio.to_thread(self._build, sanctions_list)
        built_at = time.perf_counter()
        log.info("sanctions index ready: %s %s (version %d, %d names) loaded in %.3f s, built in %.3f s",
                 version.source, version.version, version.id, screener.name_count, loaded_at - started,
                 built_at - loaded_at)
        return LoadedScreener(version=version, screener=screener, load_seconds=loaded_at - started,
                              build_seconds=built_at - loaded_at)
