"""The step that screening a subject and re-screening it share: store the screening, set the
subject's status, open or update its screening case, record the status change."""

from __future__ import annotations

from datetime import datetime

import msgspec

from application.ports.clock import IdGenerator
from application.ports.compliance import ComplianceUnitOfWork, ListVersion
from domain.compliance.cases import Case, attach_screening, open_case
from domain.compliance.screening import ScreeningResult
from domain.compliance.subjects import (
    Party,
    ScreeningTrigger,
    StatusChange,
    Subject,
    SubjectScreening,
    assess,
    explain,
)


class ScreenedSubject(msgspec.Struct, frozen=True, kw_only=True):
    subject: Subject
    screening: SubjectScreening
    case: Case | None
    """The subject's active screening case, if it has one now."""
    case_opened: bool = False
    status_change: StatusChange | None = None
    """Set when the subject's status changed (or was first set)."""


async def record_screening(uow: ComplianceUnitOfWork, *, party: Party, result: ScreeningResult, version: ListVersion,
                           trigger: ScreeningTrigger, actor: str, now: datetime, ids: IdGenerator) -> ScreenedSubject:
    """Apply a screening result to the subject, inside the caller's unit of work.

    The subject's row is locked first, so screenings of one subject apply one after the other.
    A result with matches nobody dismissed opens a screening case, or joins the active one (which
    then needs a new decision); a clear result joins an active case too, for the reviewer to see.
    A confirmed match keeps the subject blocked without opening further cases.
    """
    before = await uow.subjects.get(party.subject_id, lock=True)
    cleared = await uow.subjects.cleared(party.subject_id) if before else []
    confirmed = before.confirmed_match if before else False
    found, suppressed = assess(result, cleared)
    status = "blocked" if confirmed else found
    screening = SubjectScreening(
        id=ids.new_id(), subject_id=party.subject_id, name=party.name, birth_date=party.birth_date,
        country=party.country, list_version_id=version.id, list_source=version.source, list_version=version.version,
        result=result.status, status=status, matches=result.matches, suppressed=suppressed, trigger=trigger,
        screened_at=now)
    subject = Subject(
        id=party.subject_id, name=party.name, birth_date=party.birth_date, country=party.country, status=status,
        confirmed_match=confirmed, screening_id=screening.id, list_version_id=version.id,
        created_at=before.created_at if before else now, updated_at=now)
    await uow.subjects.save(subject)
    await uow.subjects.add_screening(screening)

    summary = _summary(result, suppressed, version)
    case = await uow.cases.active(party.subject_id, "screening")
    opened = False
    if case is not None:
        case, event = attach_screening(case, screening.id, now=now, event_id=ids.new_id(),
                                       reason=f"{trigger}: {summary}", needs_decision=found != "clear" and not confirmed)
        await uow.cases.update(case, event)
    elif found != "clear" and not confirmed:
        case, event = open_case(case_id=ids.new_id(), event_id=ids.new_id(), subject_id=party.subject_id,
                                kind="screening", now=now, reason=f"{trigger}: {summary}", screening_id=screening.id)
        await uow.cases.add(case, event)
        opened = True

    change = None
    if before is None or before.status != status:
        change = StatusChange(
            id=ids.new_id(), subject_id=party.subject_id, from_status=before.status if before else None,
            to_status=status, at=now, actor=actor, reason=f"{trigger}: {summary}", screening_id=screening.id,
            case_id=case.id if case else None)
        await uow.subjects.add_status_change(change)
    return ScreenedSubject(subject=subject, screening=screening, case=case, case_opened=opened, status_change=change)


def _summary(result: ScreeningResult, suppressed: tuple[str, ...], version: ListVersion) -> str:
    against = f"against {version.source} {version.version}"
    if not result.matches:
        return f"no match {against}"
    best = result.matches[0]
    dismissed = f", {len(suppressed)} dismissed earlier" if suppressed else ""
    return (f"{result.status.replace('_', ' ')} {against}: {len(result.matches)} match(es){dismissed}; "
            f"best {best.uid} score {best.score:.2f}: {explain(best)}")
