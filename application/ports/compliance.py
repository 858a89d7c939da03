"""Compliance storage: sanctions list versions, screened subjects, cases, alerts, activity, rules.

All of it is reached through one unit of work (``ComplianceTransactions.run``): one transaction,
committed when the work returns, rolled back when it raises, retried as a whole on transient
conflicts (a deadlock, or a concurrent insert of the same row, such as a second active case for
a subject). Lists are newest first and paginated by id: ``before`` is the last id of the previous
page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol, TypeVar

import msgspec

from domain.compliance.cases import Case, CaseEvent, CaseKind, CaseStatus
from domain.compliance.monitoring import (
    ActivityEvent,
    Alert,
    Counted,
    RecentActivity,
    RecentQuery,
    RuleSetVersion,
    Tally,
)
from domain.compliance.sanctions import SanctionsList
from domain.compliance.subjects import ClearedMatch, StatusChange, Subject, SubjectScreening, SubjectStatus

T = TypeVar("T")


class ListVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of a sanctions list; ``id`` grows with every new version."""

    id: int
    source: str
    version: str
    """The list's own version: for OFAC, a digest of the files' contents."""
    entry_count: int
    alias_count: int
    ingested_at: datetime


class SanctionsListRepository(Protocol):
    async def find(self, source: str, version: str) -> ListVersion | None: ...

    async def add(self, sanctions_list: SanctionsList, ingested_at: datetime) -> ListVersion:
        """Store a new version with its entries (their uids are distinct)."""
        ...

    async def latest(self) -> ListVersion | None:
        """The newest version (highest id), the one screening uses."""
        ...

    async def load(self, version_id: int) -> SanctionsList:
        """A stored version's entries, in their original order."""
        ...

    async def versions(self, before: int | None, limit: int) -> list[ListVersion]: ...


class SubjectRepository(Protocol):
    async def get(self, subject_id: str, *, lock: bool = False) -> Subject | None:
        """The subject; ``lock`` holds it until the transaction ends (others wait)."""
        ...

    async def save(self, subject: Subject) -> None:
        """Insert or replace the subject."""
        ...

    async def status(self, subject_id: str) -> SubjectStatus | None:
        """The subject's status, or None for a subject never screened: one indexed read."""
        ...

    async def statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        """``status`` for many subjects in one read; subjects never screened are left out."""
        ...

    async def stale(self, list_version_id: int, after: str, limit: int) -> list[str]:
        """Ids (ascending, greater than ``after``) of subjects last screened against an older list version."""
        ...

    async def add_screening(self, screening: SubjectScreening) -> None: ...

    async def get_screening(self, screening_id: str) -> SubjectScreening | None: ...

    async def add_status_change(self, change: StatusChange) -> None: ...

    async def status_changes(self, subject_id: str, limit: int) -> list[StatusChange]:
        """The subject's status changes, newest first."""
        ...

    async def cleared(self, subject_id: str) -> list[ClearedMatch]: ...

    async def add_cleared(self, cleared: Sequence[ClearedMatch]) -> None:
        """Remember dismissed matches (one already remembered is kept as it is)."""
        ...

    async def remove_cleared(self, case_id: str) -> None:
        """Forget the matches a case's decision dismissed (the decision was replaced)."""
        ...


class CaseRepository(Protocol):
    async def add(self, case: Case, event: CaseEvent) -> None:
        """Store a new case and the first entry of its trail."""
        ...

    async def update(self, case: Case, event: CaseEvent) -> None:
        """Store the case's new state and the trail entry that explains it."""
        ...

    async def get(self, case_id: str, *, lock: bool = False) -> Case | None: ...

    async def active(self, subject_id: str, kind: CaseKind) -> Case | None:
        """The subject's active case of that kind, locked until the transaction ends."""
        ...

    async def active_of(self, subject_ids: Sequence[str], kind: CaseKind) -> dict[str, Case]:
        """``active`` of many subjects in one read (those that have one), locked in subject id order."""
        ...

    async def save_many(self, added: Sequence[Case], updated: Sequence[Case], trail: Sequence[CaseEvent]) -> None:
        """Store new cases, the new state of others, and the trail entries that explain them (in
        their order), each kind in one statement: the alerts of many activities filed at once."""
        ...

    async def events(self, case_id: str) -> list[CaseEvent]:
        """The case's trail, oldest first."""
        ...

    async def list(self, *, status: CaseStatus | None, kind: CaseKind | None, subject_id: str | None,
                   before: str | None, limit: int) -> list[Case]: ...


class AlertRepository(Protocol):
    async def add(self, alerts: Sequence[Alert]) -> None: ...

    async def for_event(self, event_id: str) -> list[Alert]: ...

    async def list(self, *, subject_id: str | None, case_id: str | None, before: str | None,
                   limit: int) -> list[Alert]: ...


class ActivityLog(Protocol):
    """Activity written by another context in its own transaction (an authorization's, with its
    hold): stored for monitoring, its alert rules still to be evaluated (``MonitorActivity.evaluate_awaiting``);
    and the history the real-time check reads in that transaction."""

    async def append(self, events: Sequence[ActivityEvent], recorded_at: datetime) -> None:
        """Store the events (distinct ids) to await alert evaluation; an id already stored is left
        as it is. Write-only: it may travel in a unit of work's ``writes()`` block."""
        ...

    async def queue_recent(self, subject_ids: Sequence[str], now: datetime, query: RecentQuery
                           ) -> Callable[[], Awaitable[dict[str, RecentActivity]]]:
        """Each subject's recent activity as the real-time monitoring rules need it (``query``:
        their tallies, or the rows when one is anchored) for judging activity at ``now``, queued
        in the caller's ``uow.reads()`` block: read under the cardholders' locks by an
        authorization. Every subject asked for is in the answer. The windows end at ``now`` or at
        the latest activity stored, if later (stamped by another process's clock, or committed
        while the caller waited for the lock: still decided before)."""
        ...


class ActivityRepository(ActivityLog, Protocol):
    async def add(self, event: ActivityEvent, recorded_at: datetime) -> bool:
        """Store the event; False (and nothing changes) when its id is already stored."""
        ...

    async def history(self, subject_id: str, since: datetime, until: datetime) -> list[ActivityEvent]:
        """The subject's activity with ``since < at <= until``, oldest first: one indexed read."""
        ...

    async def take_awaiting_alerts(self, limit: int, tallies: Sequence[Tally]) -> list[AwaitingActivity]:
        """Up to ``limit`` appended events whose alert rules have not been evaluated, oldest first
        (by ``at``, then id), taken off the queue (a rollback puts them back), each with
        ``tallies`` of its subject's activity before it: the activity at or before its time, the
        event itself aside and so are the events taken with it that come after it (a later
        evaluation counts those). One read, summed where the activity is kept. Rows another
        transaction holds are skipped, so concurrent evaluators share the work."""
        ...


class AwaitingActivity(NamedTuple):
    """An event taken off the alert queue, and the tallies of its subject's activity before it."""

    event: ActivityEvent
    counted: dict[Tally, Counted]


class RuleSetRepository(Protocol):
    async def latest(self) -> RuleSetVersion | None:
        """The newest stored rule set, or None when ops never replaced the shipped one."""
        ...

    async def add(self, rules: RuleSetVersion) -> None:
        """Store a new version (its number is one more than the latest's)."""
        ...


class ComplianceUnitOfWork(Protocol):
    lists: SanctionsListRepository
    subjects: SubjectRepository
    cases: CaseRepository
    alerts: AlertRepository
    activity: ActivityRepository
    rules: RuleSetRepository


class ComplianceTransactions(Protocol):
    """Runs work in one transaction (see the module docstring); ``work`` may run more than once."""

    async def run(self, work: Callable[[ComplianceUnitOfWork], Awaitable[T]]) -> T: ...


# --- What the cards context calls --------------------------------------------------------


class SubjectStatuses(Protocol):
    """A subject's compliance status, for the authorization path (``GetSubjectStatus``)."""

    async def subject_status(self, subject_id: str) -> SubjectStatus:
        """``clear``, ``review`` or ``blocked``; ``review`` for a subject never screened. One indexed read."""
        ...

    async def subject_statuses(self, subject_ids: Sequence[str]) -> dict[str, SubjectStatus]:
        """``subject_status`` of each subject, in one transaction and one read."""
        ...


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """An activity recorded; the alerts it raised (all of them again on a repeated id)."""

    event_id: str
    created: bool
    """False when the id was already recorded: nothing changed."""
    alerts: tuple[Alert, ...] = ()
    case_id: str | None = None
    """The monitoring case the alerts joined."""


class ActivityMonitor(Protocol):
    """Transaction monitoring, for the authorization and funding paths (``MonitorActivity``)."""

    async def record(self, event: ActivityEvent) -> Recorded:
        """Store the activity (idempotent on its id) and raise the alerts its ``alert`` rules call for."""
        ...

    async def rules_in_force(self) -> RuleSetVersion:
        """The rule set in force (cached): the authorization path applies its ``decline`` rules
        itself, on the tallies read in its own transaction (``ActivityLog.queue_recent``)."""
        ...

    async def evaluate_awaiting(self, limit: int = ...) -> int:
        """Evaluate the alert rules of activity appended through an ``ActivityLog`` (oldest first,
        at most ``limit`` events, one transaction); the number evaluated."""
        ...
