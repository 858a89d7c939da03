"""Compliance cases: what a person must review about a subject, and the trail of their decisions.

A case is about one subject and is of one kind: ``screening`` (a possible or strong sanctions
match to confirm or dismiss) or ``monitoring`` (alerts raised by monitoring rules). A subject
has at most one active case of each kind: a new possible match or alert joins it.

The workflow (``TRANSITIONS``), forward only; ``closed`` and ``reported`` are final:

==============  =====================================
from            to
==============  =====================================
open            investigating, closed
investigating   escalated, closed
escalated       closed, reported
==============  =====================================

A screening case also takes a *match decision*, at any time while it is active: ``confirmed``
(the subject is the listed party: blocked) or ``false_positive`` (not them: clear). A later
decision replaces an earlier one. A screening case cannot be closed or reported without one.

Every step is an entry of the case's trail: who (an API key id, or ``system`` for Bursar
itself), when, what, and why; a person's reason is required. Refusals carry stable codes:
``invalid_case_transition``, ``case_closed``, ``case_decision_required``,
``case_has_no_match``, ``reason_required``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

from domain.shared.errors import Conflict, InvalidInput

CaseKind = Literal["screening", "monitoring"]
CaseStatus = Literal["open", "investigating", "escalated", "closed", "reported"]
MatchDecision = Literal["confirmed", "false_positive"]
CaseAction = Literal["opened", "status_changed", "decided", "alert_added", "screening_added"]

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"investigating", "closed"}),
    "investigating": frozenset({"escalated", "closed"}),
    "escalated": frozenset({"closed", "reported"}),
    "closed": frozenset(),
    "reported": frozenset(),
}
"""The statuses each status may move to."""
ACTIVE: Final = frozenset({"open", "investigating", "escalated"})
"""Statuses of a case still under review; a subject has at most one active case per kind."""
SYSTEM_ACTOR: Final = "system"
MAX_REASON: Final = 2000


class Case(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject_id: str
    kind: CaseKind
    status: CaseStatus
    opened_at: datetime
    updated_at: datetime
    screening_id: str | None = None
    """Screening cases: the latest screening of the subject that the case reviews."""
    decision: MatchDecision | None = None
    alert_count: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class CaseEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a case's trail."""

    id: str
    case_id: str
    at: datetime
    actor: str
    """The API key id of the person who acted, or ``system``."""
    action: CaseAction
    reason: str
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = None
    decision: MatchDecision | None = None
    screening_id: str | None = None
    alert_ids: tuple[str, ...] = ()


class CaseTransitionRefused(Conflict):
    code = "invalid_case_transition"


def require_reason(reason: str | None) -> str:
    """A person's reason, stripped; ``reason_required`` when it is missing or blank."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required", code="reason_required")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"a reason holds at most {MAX_REASON} characters", code="reason_required")
    return text


def open_case(*, case_id: str, event_id: str, subject_id: str, kind: CaseKind, now: datetime, reason: str,
              screening_id: str | None = None, alert_ids: tuple[str, ...] = ()) -> tuple[Case, CaseEvent]:
    """A new active case, opened by Bursar itself."""
    case = Case(id=case_id, subject_id=subject_id, kind=kind, status="open", opened_at=now, updated_at=now,
                screening_id=screening_id, alert_count=len(alert_ids))
    event = CaseEvent(id=event_id, case_id=case_id, at=now, actor=SYSTEM_ACTOR, action="opened", reason=reason,
                      to_status="open", screening_id=screening_id, alert_ids=alert_ids)
    return case, event


def transition(case: Case, to: CaseStatus, *, actor: str, reason: str, now: datetime, event_id: str
               ) -> tuple[Case, CaseEvent]:
    """``case`` moved to ``to``; refused unless ``TRANSITIONS`` allows it."""
    reason = require_reason(reason)
    if to not in TRANSITIONS:
        raise InvalidInput(f"unknown case status {to!r}", code="validation_error")
    if to not in TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(TRANSITIONS[case.status])) or "none: the case is final"
        raise CaseTransitionRefused(f"case {case.id} cannot go from {case.status} to {to} (allowed: {allowed})")
    if case.kind == "screening" and to in ("closed", "reported") and case.decision is None:
        raise Conflict(f"case {case.id}: decide the match (confirmed or false_positive) before it is {to}",
                       code="case_decision_required")
    moved = msgspec.structs.replace(case, status=to, updated_at=now)
    return moved, CaseEvent(id=event_id, case_id=case.id, at=now, actor=actor, action="status_changed",
                            reason=reason, from_status=case.status, to_status=to)


def decide(case: Case, decision: MatchDecision, *, actor: str, reason: str, now: datetime, event_id: str
           ) -> tuple[Case, CaseEvent]:
    """Record a person's decision on a screening case's match."""
    reason = require_reason(reason)
    if case.kind != "screening":
        raise Conflict(f"case {case.id} is a {case.kind} case: there is no match to decide", code="case_has_no_match")
    if not case.active:
        raise Conflict(f"case {case.id} is {case.status}: decisions are final", code="case_closed")
    decided = msgspec.structs.replace(case, decision=decision, updated_at=now)
    return decided, CaseEvent(id=event_id, case_id=case.id, at=now, actor=actor, action="decided", reason=reason,
                              decision=decision, screening_id=case.screening_id)


def attach_screening(case: Case, screening_id: str, *, now: datetime, event_id: str, reason: str,
                     needs_decision: bool) -> tuple[Case, CaseEvent]:
    """A newer screening of the subject joins its active screening case (Bursar's own step).

    When it has matches nobody dismissed yet (``needs_decision``), an earlier decision no longer
    covers what the case shows: it is withdrawn, and the case needs a new one."""
    decision = None if needs_decision else case.decision
    attached = msgspec.structs.replace(case, screening_id=screening_id, decision=decision, updated_at=now)
    return attached, CaseEvent(id=event_id, case_id=case.id, at=now, actor=SYSTEM_ACTOR, action="screening_added",
                               reason=reason, screening_id=screening_id)


def add_alerts(case: Case, alert_ids: tuple[str, ...], *, now: datetime, event_id: str, reason: str
               ) -> tuple[Case, CaseEvent]:
    """New alerts join the subject's active monitoring case (Bursar's own step)."""
    grown = msgspec.structs.replace(case, alert_count=case.alert_count + len(alert_ids), updated_at=now)
    return grown, CaseEvent(id=event_id, case_id=case.id, at=now, actor=SYSTEM_ACTOR, action="alert_added",
                            reason=reason, alert_ids=alert_ids)
