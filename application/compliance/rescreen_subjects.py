"""Screen every subject again against the newest sanctions list version.

Run after a new version is ingested (``bursar compliance ingest-list`` does it, and
``POST /v1/compliance/rescreenings``). Subjects are taken in id order, ``batch`` per transaction;
only those last screened against an older version, so an interrupted run resumes where it stopped
and a second run finds nothing to do. Each status change is recorded like any screening's.
"""

from __future__ import annotations

import msgspec

from application.compliance.current_screener import CurrentScreener
from application.compliance.subject_screening import ScreenedSubject, record_screening
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork, ListVersion
from domain.compliance.cases import SYSTEM_ACTOR
from domain.compliance.subjects import Party, SubjectStatus


class StatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    subject_id: str
    from_status: SubjectStatus | None
    to_status: SubjectStatus
    case_id: str | None


class RescreenSummary(msgspec.Struct, frozen=True, kw_only=True):
    list_version: ListVersion
    screened: int
    cases_opened: int
    changes: list[StatusChanged]
    """Every status change, in subject id order."""


class RescreenSubjects:
    def __init__(self, transactions: ComplianceTransactions, screener: CurrentScreener, clock: Clock,
                 ids: IdGenerator, *, batch: int = 100) -> None:
        self._transactions = transactions
        self._screener = screener
        self._clock = clock
        self._ids = ids
        self._batch = batch

    async def __call__(self) -> RescreenSummary:
        loaded = await self._screener.get()
        version = loaded.version
        screened, opened, changes = 0, 0, []
        after = ""
        while True:
            async def stale(uow: ComplianceUnitOfWork, after: str = after) -> list[str]:
                return await uow.subjects.stale(version.id, after, self._batch)

            subject_ids = await self._transactions.run(stale)
            if not subject_ids:
                break

            async def work(uow: ComplianceUnitOfWork, subject_ids: list[str] = subject_ids) -> list[ScreenedSubject]:
                done = []
                for subject_id in subject_ids:
                    subject = await uow.subjects.get(subject_id, lock=True)
                    if subject is None or subject.list_version_id >= version.id:
                        continue  # screened meanwhile
                    result = loaded.screener.screen(subject.name, birth_date=subject.birth_date, country=subject.country)
                    party = Party(subject_id=subject.id, name=subject.name, birth_date=subject.birth_date,
                                  country=subject.country)
                    done.append(await record_screening(uow, party=party, result=result, version=version,
                                                       trigger="rescreen", actor=SYSTEM_ACTOR, now=self._clock.now(),
                                                       ids=self._ids))
                return done

            for outcome in await self._transactions.run(work):
                screened += 1
                opened += outcome.case_opened
                if outcome.status_change is not None:
                    change = outcome.status_change
                    changes.append(StatusChanged(subject_id=change.subject_id, from_status=change.from_status,
                                                 to_status=change.to_status, case_id=change.case_id))
            after = subject_ids[-1]
        return RescreenSummary(list_version=version, screened=screened, cases_opened=opened, changes=changes)
