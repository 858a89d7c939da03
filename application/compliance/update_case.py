"""A person's step on a case: a match decision, a status change, or both (decision first).

* ``confirmed``: the subject is the listed party; it is blocked, and stays blocked through later
  screenings until a person decides ``false_positive``.
* ``false_positive``: the subject is not the listed party; it is clear, and the matches of the
  case's screening are not counted again for this subject and name. Replacing a decision undoes
  the dismissals the earlier one made.

Every step records the actor (the caller's API key id) and the reason in the case's trail, and
status changes of the subject in its history.
"""

from __future__ import annotations

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import ComplianceTransactions, ComplianceUnitOfWork
from domain.compliance.cases import Case, CaseStatus, MatchDecision, decide, require_reason, transition
from domain.compliance.subjects import ClearedMatch, StatusChange, Subject
from domain.shared.errors import InvalidInput, NotFound


class CaseChange(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    status: CaseStatus | None = None
    decision: MatchDecision | None = None


class UpdateCase:
    def __init__(self, transactions: ComplianceTransactions, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids

    async def __call__(self, case_id: str, change: CaseChange, *, actor: str) -> Case:
        """The case after the change. ``case_not_found``, ``reason_required``, and the workflow's
        refusals (``invalid_case_transition``, ``case_closed``, ``case_decision_required``,
        ``case_has_no_match``); a refused change leaves everything as it was."""
        reason = require_reason(change.reason)
        if change.status is None and change.decision is None:
            raise InvalidInput("give a status, a decision, or both", code="validation_error")

        async def work(uow: ComplianceUnitOfWork) -> Case:
            peek = await uow.cases.get(case_id)
            if peek is None:
                raise NotFound(f"no case {case_id!r}", code="case_not_found")
            # the subject before the case: the order screenings lock them in
            subject = await uow.subjects.get(peek.subject_id, lock=True) if peek.kind == "screening" else None
            case = await uow.cases.get(case_id, lock=True)
            assert case is not None
            now = self._clock.now()
            if change.decision is not None:
                case, event = decide(case, change.decision, actor=actor, reason=reason, now=now, event_id=self._ids.new_id())
                await uow.cases.update(case, event)
                if subject is not None:
                    await self._apply_decision(uow, subject, case, change.decision, actor, reason)
            if change.status is not None:
                case, event = transition(case, change.status, actor=actor, reason=reason, now=now,
                                         event_id=self._ids.new_id())
                await uow.cases.update(case, event)
            return case

        return await self._transactions.run(work)

    async def _apply_decision(self, uow: ComplianceUnitOfWork, subject: Subject, case: Case, decision: MatchDecision,
                              actor: str, reason: str) -> None:
        now = self._clock.now()
        await uow.subjects.remove_cleared(case.id)
        if decision == "false_positive" and case.screening_id is not None:
            screening = await uow.subjects.get_screening(case.screening_id)
            if screening is not None:
                await uow.subjects.add_cleared([
                    ClearedMatch(subject_id=subject.id, entry_id=m.uid, matched_name=m.matched_name,
                                 screened_name=screening.name, case_id=case.id, cleared_at=now)
                    for m in screening.matches])
        status = "blocked" if decision == "confirmed" else "clear"
        confirmed = decision == "confirmed"
        if (subject.status, subject.confirmed_match) == (status, confirmed):
            return
        await uow.subjects.save(msgspec.structs.replace(subject, status=status, confirmed_match=confirmed, updated_at=now))
        if subject.status != status:
            await uow.subjects.add_status_change(StatusChange(
                id=self._ids.new_id(), subject_id=subject.id, from_status=subject.status, to_status=status, at=now,
                actor=actor, reason=f"{decision.replace('_', ' ')} on case {case.id}: {reason}",
                screening_id=case.screening_id, case_id=case.id))
