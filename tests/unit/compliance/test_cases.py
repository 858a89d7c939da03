"""The case workflow: every transition allowed or refused, match decisions, and the trail."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from domain.compliance.cases import (
    ACTIVE,
    TRANSITIONS,
    Case,
    CaseTransitionRefused,
    add_alerts,
    attach_screening,
    decide,
    open_case,
    transition,
)
from domain.shared.errors import Conflict, InvalidInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
STATUSES = ("open", "investigating", "escalated", "closed", "reported")
ALLOWED = {
    ("open", "investigating"), ("open", "closed"),
    ("investigating", "escalated"), ("investigating", "closed"),
    ("escalated", "closed"), ("escalated", "reported"),
}


def case(status: str = "open", kind: str = "monitoring", decision: str | None = None) -> Case:
    return Case(id="c1", subject_id="s1", kind=kind, status=status, opened_at=NOW, updated_at=NOW,
                screening_id="scr1" if kind == "screening" else None, decision=decision)


def test_the_documented_workflow_is_the_one_enforced() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert ACTIVE == {"open", "investigating", "escalated"}


@pytest.mark.parametrize(("start", "to"), sorted(ALLOWED))
def test_allowed_transitions(start: str, to: str) -> None:
    moved, event = transition(case(start), to, actor="key-1", reason=" checked ", now=NOW + timedelta(hours=1),
                              event_id="ev1")

    assert (moved.status, moved.updated_at) == (to, NOW + timedelta(hours=1))
    assert (event.action, event.from_status, event.to_status) == ("status_changed", start, to)
    assert (event.actor, event.reason, event.case_id, event.id) == ("key-1", "checked", "c1", "ev1")


@pytest.mark.parametrize(("start", "to"), sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED))
def test_refused_transitions(start: str, to: str) -> None:
    with pytest.raises(CaseTransitionRefused) as error:
        transition(case(start), to, actor="key-1", reason="why not", now=NOW, event_id="ev1")

    assert error.value.code == "invalid_case_transition"
    assert f"from {start} to {to}" in error.value.message


@pytest.mark.parametrize("to", ["closed", "reported"])
def test_a_screening_case_needs_a_decision_before_it_ends(to: str) -> None:
    start = "escalated"
    with pytest.raises(Conflict) as error:
        transition(case(start, kind="screening"), to, actor="k", reason="done", now=NOW, event_id="e")
    assert error.value.code == "case_decision_required"

    ended, _ = transition(case(start, kind="screening", decision="confirmed"), to, actor="k", reason="done", now=NOW,
                          event_id="e")
    assert ended.status == to


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 2001])
def test_a_person_gives_a_reason(reason) -> None:
    with pytest.raises(InvalidInput) as error:
        transition(case(), "investigating", actor="k", reason=reason, now=NOW, event_id="e")
    assert error.value.code == "reason_required"
    with pytest.raises(InvalidInput):
        decide(case(kind="screening"), "confirmed", actor="k", reason=reason, now=NOW, event_id="e")


@pytest.mark.parametrize("decision", ["confirmed", "false_positive"])
def test_decisions_on_an_active_screening_case(decision: str) -> None:
    decided, event = decide(case("investigating", kind="screening"), decision, actor="key-2", reason="passport",
                            now=NOW, event_id="ev")

    assert (decided.decision, decided.status) == (decision, "investigating")
    assert (event.action, event.decision, event.actor, event.screening_id) == ("decided", decision, "key-2", "scr1")
    replaced, _ = decide(decided, "confirmed" if decision == "false_positive" else "false_positive", actor="k",
                         reason="second look", now=NOW, event_id="ev2")
    assert replaced.decision != decision


def test_decisions_are_refused_on_final_or_monitoring_cases() -> None:
    for status in ("closed", "reported"):
        with pytest.raises(Conflict) as error:
            decide(case(status, kind="screening", decision="confirmed"), "false_positive", actor="k", reason="r",
                   now=NOW, event_id="e")
        assert error.value.code == "case_closed"
    with pytest.raises(Conflict) as error:
        decide(case(kind="monitoring"), "confirmed", actor="k", reason="r", now=NOW, event_id="e")
    assert error.value.code == "case_has_no_match"


def test_bursar_opens_cases_and_adds_to_them_as_system() -> None:
    opened, first = open_case(case_id="c9", event_id="e1", subject_id="s1", kind="monitoring", now=NOW,
                              reason="2 alerts", alert_ids=("a1", "a2"))
    assert (opened.status, opened.alert_count, first.actor, first.to_status) == ("open", 2, "system", "open")

    grown, added = add_alerts(opened, ("a3",), now=NOW, event_id="e2", reason="one more")
    assert (grown.alert_count, added.action, added.alert_ids) == (3, "alert_added", ("a3",))

    decided = msgspec.structs.replace(case(kind="screening"), decision="false_positive")
    kept, _ = attach_screening(decided, "scr2", now=NOW, event_id="e3", reason="rescreen: clear", needs_decision=False)
    assert (kept.screening_id, kept.decision) == ("scr2", "false_positive")
    withdrawn, event = attach_screening(decided, "scr3", now=NOW, event_id="e4", reason="new match",
                                        needs_decision=True)
    assert (withdrawn.decision, event.action, event.screening_id) == (None, "screening_added", "scr3")
