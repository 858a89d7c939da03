"""Compliance storage in memory, for unit tests; it passes the same contract suite as PostgreSQL.

One asyncio lock serialises transactions (the stand-in for row locks). Writes apply at once, so
a transaction reads its own writes; a transaction that raises is rolled back to a copy of the
state taken when it began.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from adapters.memory.queued import ready
from application.ports.compliance import AwaitingActivity, ListVersion
from domain.compliance.cases import ACTIVE, Case, CaseEvent, CaseKind, CaseStatus
from domain.compliance.monitoring import (
    ActivityEvent,
    Alert,
    RecentActivity,
    RecentQuery,
    RuleSetVersion,
    Tally,
    by_subject,
)
from domain.compliance.sanctions import SanctionsList
from domain.compliance.subjects import ClearedMatch, StatusChange, Subject, SubjectScreening, SubjectStatus
from domain.shared.errors import Conflict

T = TypeVar("T")


class ComplianceState:
    def __init__(self) -> None:
        self.versions: dict[int, ListVersion] = {}
        self.lists: dict[int, SanctionsList] = {}
        self.subjects: dict[str, Subject] = {}
        self.screenings: dict[str, SubjectScreening] = {}
        self.status_changes: list[StatusChange] = []
        self.cleared: dict[tuple[str, str, str, str], ClearedMatch] = {}
        self.cases: dict[str, Case] = {}
        self.case_events: list[CaseEvent] = []
        self.alerts: dict[str, Alert] = {}
        self.activity: dict[str, ActivityEvent] = {}
        self.awaiting_alerts: set[str] = set()
        self.rule_sets: dict[int, RuleSetVersion] = {}

    def copy(self) -> ComplianceState:
        clone = ComplianceState()
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.copy(value))  # values are immutable structs: shallow copies suffice
        return clone

    def restore(self, other: ComplianceState) -> None:
        self.__dict__.update(other.__dict__)


class InMemorySanctionsLists:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def find(self, source: str, version: str) -> ListVersion | None:
        return next((v for v in self._s.versions.values() if (v.source, v.version) == (source, version)), None)

    async def add(self, sanctions_list: SanctionsList, ingested_at: datetime) -> ListVersion:
        if await self.find(sanctions_list.source, sanctions_list.version):
            raise Conflict(f"{sanctions_list.source} {sanctions_list.version} is stored", code="list_version_exists")
        uids = [e.uid for e in sanctions_list.entries]
        if len(set(uids)) != len(uids):
            raise Conflict("two entries of the list share a uid", code="duplicate_list_entry")
        version = ListVersion(
            id=max(self._s.versions, default=0) + 1, source=sanctions_list.source, version=sanctions_list.version,
            entry_count=len(sanctions_list.entries), alias_count=sum(len(e.aliases) for e in sanctions_list.entries),
            ingested_at=ingested_at)
        self._s.versions[version.id] = version
        self._s.lists[version.id] = sanctions_list
        return version

    async def latest(self) -> ListVersion | None:
        return self._s.versions[max(self._s.versions)] if self._s.versions else None

    async def load(self, version_id: int) -> SanctionsList:
        if version_id not in self._s.lists:
            raise LookupError(f"no sanctions list version {version_id}")
        return self._s.lists[version_id]

    async def versions(self, before: int | None, limit: int) -> list[ListVersion]:
        ids = sorted((i for i in self._s.versions if before is None or i < before), reverse=True)
        return [self._s.versions[i] for i in ids[:limit]]


class InMemorySubjects:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def get(self, subject_id: str, *, lock: bool = False) -> Subject | None:
        return self._s.subjects.get(subject_id)

    async def save(self, subject: Subject) -> None:
        self._s.subjects[subject.id] = subject

    async def status(self, subject_id: str) -> SubjectStatus | None:
        subject = self._s.subjects.get(subject_id)
        return subject.status if subject else None

    async def statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        return {i: self._s.subjects[i].status for i in set(subject_ids) if i in self._s.subjects}

    async def stale(self, list_version_id: int, after: str, limit: int) -> list[str]:
        return sorted(i for i, s in self._s.subjects.items() if s.list_version_id < list_version_id and i > after)[:limit]

    async def add_screening(self, screening: SubjectScreening) -> None:
        if screening.subject_id not in self._s.subjects:
            raise LookupError(f"screening {screening.id} names an unknown subject")
        self._s.screenings[screening.id] = screening

    async def get_screening(self, screening_id: str) -> SubjectScreening | None:
        return self._s.screenings.get(screening_id)

    async def add_status_change(self, change: StatusChange) -> None:
        self._s.status_changes.append(change)

    async def status_changes(self, subject_id: str, limit: int) -> list[StatusChange]:
        found = sorted((c for c in self._s.status_changes if c.subject_id == subject_id), key=lambda c: c.id, reverse=True)
        return found[:limit]

    async def cleared(self, subject_id: str) -> list[ClearedMatch]:
        return sorted((c for c in self._s.cleared.values() if c.subject_id == subject_id), key=lambda c: c.key)

    async def add_cleared(self, cleared: Sequence[ClearedMatch]) -> None:
        for c in cleared:
            self._s.cleared.setdefault((c.subject_id, *c.key), c)

    async def remove_cleared(self, case_id: str) -> None:
        self._s.cleared = {k: c for k, c in self._s.cleared.items() if c.case_id != case_id}


class InMemoryCases:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def add(self, case: Case, event: CaseEvent) -> None:
        if case.id in self._s.cases:
            raise Conflict(f"case {case.id} exists", code="case_exists")
        if case.active and await self.active(case.subject_id, case.kind):
            raise Conflict(f"subject {case.subject_id} has an active {case.kind} case", code="case_exists")
        self._s.cases[case.id] = case
        self._s.case_events.append(event)

    async def update(self, case: Case, event: CaseEvent) -> None:
        if case.id not in self._s.cases:
            raise LookupError(f"no case {case.id}")
        self._s.cases[case.id] = case
        self._s.case_events.append(event)

    async def get(self, case_id: str, *, lock: bool = False) -> Case | None:
        return self._s.cases.get(case_id)

    async def active(self, subject_id: str, kind: CaseKind) -> Case | None:
        return next((c for c in self._s.cases.values()
                     if c.subject_id == subject_id and c.kind == kind and c.status in ACTIVE), None)

    async def active_of(self, subject_ids: Sequence[str], kind: CaseKind) -> dict[str, Case]:
        found = {s: await self.active(s, kind) for s in sorted(set(subject_ids))}
        return {s: c for s, c in found.items() if c is not None}

    async def save_many(self, added: Sequence[Case], updated: Sequence[Case], trail: Sequence[CaseEvent]) -> None:
        for case in added:
            if case.id in self._s.cases:
                raise Conflict(f"case {case.id} exists", code="case_exists")
            if case.active and await self.active(case.subject_id, case.kind):
                raise Conflict(f"subject {case.subject_id} has an active {case.kind} case", code="case_exists")
            self._s.cases[case.id] = case
        for case in updated:
            if case.id not in self._s.cases:
                raise LookupError(f"no case {case.id}")
            self._s.cases[case.id] = case
        self._s.case_events.extend(trail)

    async def events(self, case_id: str) -> list[CaseEvent]:
        return sorted((e for e in self._s.case_events if e.case_id == case_id), key=lambda e: e.id)

    async def list(self, *, status: CaseStatus | None, kind: CaseKind | None, subject_id: str | None,
                   before: str | None, limit: int) -> list[Case]:
        found = [c for c in self._s.cases.values()
                 if (status is None or c.status == status) and (kind is None or c.kind == kind)
                 and (subject_id is None or c.subject_id == subject_id) and (before is None or c.id < before)]
        return sorted(found, key=lambda c: c.id, reverse=True)[:limit]


class InMemoryAlerts:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def add(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if alert.id in self._s.alerts or any((a.event_id, a.rule_id) == (alert.event_id, alert.rule_id)
                                                 for a in self._s.alerts.values()):
                raise Conflict(f"alert {alert.id} exists", code="alert_exists")
            self._s.alerts[alert.id] = alert

    async def for_event(self, event_id: str) -> list[Alert]:
        return sorted((a for a in self._s.alerts.values() if a.event_id == event_id), key=lambda a: a.id)

    async def list(self, *, subject_id: str | None, case_id: str | None, before: str | None, limit: int) -> list[Alert]:
        found = [a for a in self._s.alerts.values()
                 if (subject_id is None or a.subject_id == subject_id) and (case_id is None or a.case_id == case_id)
                 and (before is None or a.id < before)]
        return sorted(found, key=lambda a: a.id, reverse=True)[:limit]


class InMemoryActivity:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def add(self, event: ActivityEvent, recorded_at: datetime) -> bool:
        if event.id in self._s.activity:
            return False
        self._s.activity[event.id] = event
        return True

    async def history(self, subject_id: str, since: datetime, until: datetime) -> list[ActivityEvent]:
        return self._histories([subject_id], since, until)

    def _histories(self, subject_ids: Sequence[str], since: datetime, until: datetime | None = None
                   ) -> list[ActivityEvent]:
        wanted = set(subject_ids)
        return sorted((e for e in self._s.activity.values()
                       if e.subject_id in wanted and since < e.at and (until is None or e.at <= until)),
                      key=lambda e: (e.at, e.id))

    async def queue_recent(self, subject_ids: Sequence[str], now: datetime, query: RecentQuery
                           ) -> Callable[[], Awaitable[dict[str, RecentActivity]]]:
        rows = by_subject(self._histories(subject_ids, query.rows_since(now)))
        return ready({s: RecentActivity.from_rows(query, now, rows.get(s, [])) for s in subject_ids})

    async def append(self, events: Sequence[ActivityEvent], recorded_at: datetime) -> None:
        self._s.awaiting_alerts |= {e.id for e in events if await self.add(e, recorded_at)}

    async def take_awaiting_alerts(self, limit: int, tallies: Sequence[Tally]) -> list[AwaitingActivity]:
        taken = sorted((self._s.activity[i] for i in self._s.awaiting_alerts), key=lambda e: (e.at, e.id))[:limit]
        self._s.awaiting_alerts -= {e.id for e in taken}
        place = {e.id: i for i, e in enumerate(taken)}
        return [AwaitingActivity(e, {t: t.over(self._before(e, place), e.at, e.id) for t in tallies}) for e in taken]

    def _before(self, event: ActivityEvent, place: dict[str, int]) -> list[ActivityEvent]:
        """The subject's activity at or before ``event``, the events taken after it aside."""
        mine = place[event.id]
        return [e for e in self._s.activity.values()
                if e.subject_id == event.subject_id and e.at <= event.at and place.get(e.id, -1) <= mine]


class InMemoryRuleSets:
    def __init__(self, state: ComplianceState) -> None:
        self._s = state

    async def latest(self) -> RuleSetVersion | None:
        return self._s.rule_sets[max(self._s.rule_sets)] if self._s.rule_sets else None

    async def add(self, rules: RuleSetVersion) -> None:
        if rules.version in self._s.rule_sets:
            raise Conflict(f"rule set version {rules.version} exists", code="rule_set_exists")
        self._s.rule_sets[rules.version] = rules


class InMemoryComplianceUnitOfWork:
    def __init__(self, state: ComplianceState) -> None:
        self.lists = InMemorySanctionsLists(state)
        self.subjects = InMemorySubjects(state)
        self.cases = InMemoryCases(state)
        self.alerts = InMemoryAlerts(state)
        self.activity = InMemoryActivity(state)
        self.rules = InMemoryRuleSets(state)


class InMemoryComplianceTransactions:
    def __init__(self, state: ComplianceState | None = None) -> None:
        self.state = state or ComplianceState()
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[InMemoryComplianceUnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            before = self.state.copy()
            try:
                return await work(InMemoryComplianceUnitOfWork(self.state))
            except BaseException:
                self.state.restore(before)
                raise
