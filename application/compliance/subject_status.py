"""A subject's compliance status, for the authorization path: one indexed read."""

from __future__ import annotations

from collections.abc import Sequence

from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork
from domain.compliance.subjects import SubjectStatus


class GetSubjectStatus:
    """Implements the ``SubjectStatuses`` port: ``clear``, ``review`` or ``blocked``.

    A subject never screened is ``review``: nobody has cleared it, so callers that let only
    ``clear`` subjects transact fail closed."""

    def __init__(self, transactions: ComplianceTransactions) -> None:
        self._transactions = transactions

    async def subject_status(self, subject_id: str) -> SubjectStatus:
        async def read(uow: ComplianceUnitOfWork) -> SubjectStatus | None:
            return await uow.subjects.status(subject_id)

        return await self._transactions.run(read) or "review"

    async def subject_statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        found = await self._transactions.run(lambda uow: uow.subjects.statuses(subject_ids))
        return {i: found.get(i) or "review" for i in subject_ids}

    __call__ = subject_status
