"""Store a sanctions list as a new version, unless the same content is already stored."""

from __future__ import annotations

from collections import Counter

import msgspec

from application.compliance.current_screener import CurrentScreener
from application.ports.clock import Clock
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, ListVersion
from domain.compliance.sanctions import SanctionsList
from domain.shared.errors import InvalidInput


class IngestedList(msgspec.Struct, frozen=True, kw_only=True):
    version: ListVersion
    created: bool
    """False when this source and version (content digest) was already stored: nothing changed."""


class IngestSanctionsList:
    def __init__(self, transactions: ComplianceTransactions, clock: Clock,
                 screener: CurrentScreener | None = None) -> None:
        self._transactions = transactions
        self._clock = clock
        self._screener = screener

    async def __call__(self, sanctions_list: SanctionsList) -> IngestedList:
        duplicates = [uid for uid, n in Counter(e.uid for e in sanctions_list.entries).items() if n > 1]
        if duplicates:
            raise InvalidInput(f"entries share the uid {duplicates[0]!r}", code="duplicate_list_entry")

        async def work(uow: ComplianceUnitOfWork) -> IngestedList:
            existing = await uow.lists.find(sanctions_list.source, sanctions_list.version)
            if existing is not None:
                return IngestedList(version=existing, created=False)
            return IngestedList(version=await uow.lists.add(sanctions_list, self._clock.now()), created=True)

        ingested = await self._transactions.run(work)
        if ingested.created and self._screener is not None:
            self._screener.invalidate()
        return ingested
