"""Screen a subject (a cardholder, or another party) and keep the result: status, case, history.

``ScreenSubject(party)`` screens the party's name, birth date and country against the newest
sanctions list and stores the screening with its explained matches. The subject's status follows
(``clear``, ``review`` with a case opened, ``blocked`` pending review with a case opened); see
``domain.compliance.subjects`` for the rules. Calling it again for the same subject id (new
details, or simply again) screens it again.
"""

from __future__ import annotations

from application.compliance.current_screener import CurrentScreener
from application.compliance.subject_screening import ScreenedSubject, record_screening
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork
from domain.compliance.cases import SYSTEM_ACTOR
from domain.compliance.subjects import Party, validate_party


class ScreenSubject:
    def __init__(self, transactions: ComplianceTransactions, screener: CurrentScreener, clock: Clock,
                 ids: IdGenerator) -> None:
        self._transactions = transactions
        self._screener = screener
        self._clock = clock
        self._ids = ids

    async def __call__(self, party: Party, *, actor: str = SYSTEM_ACTOR) -> ScreenedSubject:
        """Screen ``party``; ``actor`` (an API key id, or ``system``) is recorded with a status change.

        Raises ``invalid_subject`` / ``invalid_birth_date`` for unusable details and
        ``sanctions_list_missing`` when no list was ever ingested."""
        party = validate_party(party)
        loaded = await self._screener.get()
        result = loaded.screener.screen(party.name, birth_date=party.birth_date, country=party.country)

        async def work(uow: ComplianceUnitOfWork) -> ScreenedSubject:
            return await record_screening(uow, party=party, result=result, version=loaded.version, trigger="screen",
                                          actor=actor, now=self._clock.now(), ids=self._ids)

        return await self._transactions.run(work)
