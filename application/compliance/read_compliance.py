"""Reads for operations: cases with their trail, alerts, subjects with their history, list versions.

Lists are newest first; a page holds up to ``limit`` items and the cursor of the next page (the
last id), or None at the end.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, ListVersion
from domain.compliance.cases import Case, CaseEvent, CaseKind, CaseStatus
from domain.compliance.monitoring import Alert
from domain.compliance.subjects import StatusChange, Subject, SubjectScreening
from domain.shared.errors import NotFound

T = TypeVar("T")
CASE_ALERTS = 100
"""Alerts shown with a case (the newest); the rest through the alerts list filtered by case."""
STATUS_HISTORY = 100


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    items: list[T]
    next_cursor: str | None


class CaseDetail(msgspec.Struct, frozen=True, kw_only=True):
    case: Case
    subject: Subject | None
    screening: SubjectScreening | None
    events: list[CaseEvent]
    alerts: list[Alert]


class SubjectDetail(msgspec.Struct, frozen=True, kw_only=True):
    subject: Subject
    screening: SubjectScreening | None
    status_changes: list[StatusChange]
    active_cases: list[Case]


def _page(items: list[T], limit: int, cursor_of) -> Page[T]:
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=str(cursor_of(items[-1])) if more else None)


class ReadCompliance:
    def __init__(self, transactions: ComplianceTransactions) -> None:
        self._transactions = transactions

    async def case(self, case_id: str) -> CaseDetail:
        async def read(uow: ComplianceUnitOfWork) -> CaseDetail | None:
            case = await uow.cases.get(case_id)
            if case is None:
                return None
            subject = await uow.subjects.get(case.subject_id)
            screening = await uow.subjects.get_screening(case.screening_id) if case.screening_id else None
            alerts = await uow.alerts.list(subject_id=None, case_id=case.id, before=None, limit=CASE_ALERTS)
            return CaseDetail(case=case, subject=subject, screening=screening, events=await uow.cases.events(case.id),
                              alerts=alerts)

        detail = await self._transactions.run(read)
        if detail is None:
            raise NotFound(f"no case {case_id!r}", code="case_not_found")
        return detail

    async def cases(self, *, status: CaseStatus | None = None, kind: CaseKind | None = None,
                    subject_id: str | None = None, cursor: str | None = None, limit: int = 50) -> Page[Case]:
        async def read(uow: ComplianceUnitOfWork) -> list[Case]:
            return await uow.cases.list(status=status, kind=kind, subject_id=subject_id, before=cursor, limit=limit + 1)

        return _page(await self._transactions.run(read), limit, lambda c: c.id)

    async def alerts(self, *, subject_id: str | None = None, case_id: str | None = None, cursor: str | None = None,
                     limit: int = 50) -> Page[Alert]:
        async def read(uow: ComplianceUnitOfWork) -> list[Alert]:
            return await uow.alerts.list(subject_id=subject_id, case_id=case_id, before=cursor, limit=limit + 1)

        return _page(await self._transactions.run(read), limit, lambda a: a.id)

    async def subject(self, subject_id: str) -> SubjectDetail:
        async def read(uow: ComplianceUnitOfWork) -> SubjectDetail | None:
            subject = await uow.subjects.get(subject_id)
            if subject is None:
                return None
            active = [c for kind in ("screening", "monitoring") if (c := await _active(uow, subject_id, kind))]
            return SubjectDetail(subject=subject, screening=await uow.subjects.get_screening(subject.screening_id),
                                 status_changes=await uow.subjects.status_changes(subject_id, STATUS_HISTORY),
                                 active_cases=active)

        detail = await self._transactions.run(read)
        if detail is None:
            raise NotFound(f"no screened subject {subject_id!r}", code="subject_not_found")
        return detail

    async def list_versions(self, *, cursor: int | None = None, limit: int = 50) -> Page[ListVersion]:
        async def read(uow: ComplianceUnitOfWork) -> list[ListVersion]:
            return await uow.lists.versions(cursor, limit + 1)

        return _page(await self._transactions.run(read), limit, lambda v: v.id)


async def _active(uow: ComplianceUnitOfWork, subject_id: str, kind: CaseKind) -> Case | None:
    """The subject's active case of ``kind``, read without a lock: if there is one, it is the
    newest of its kind (a case opens only when none of its kind is active)."""
    newest = await uow.cases.list(status=None, kind=kind, subject_id=subject_id, before=None, limit=1)
    return newest[0] if newest and newest[0].active else None
