"""PostgreSQL guards compliance data on its own: append-only histories, the case workflow, one
active case per subject and kind, whatever the application does."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors


@pytest.fixture
def core(database):
    with psycopg.connect(database.core_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("bursar_core",)
        yield conn


def _case(conn, status: str = "open", kind: str = "monitoring", subject: str | None = None) -> str:
    case_id = uuid.uuid4().hex
    conn.execute("INSERT INTO core.compliance_cases (id, subject_id, kind, status, opened_at, updated_at) "
                 "VALUES (%s, %s, %s, %s, now(), now())", (case_id, subject or uuid.uuid4().hex, kind, status))
    return case_id


@pytest.mark.parametrize("table", [
    "compliance_list_versions", "compliance_list_entries", "compliance_screenings", "compliance_status_changes",
    "compliance_case_events", "compliance_rule_sets", "compliance_activity", "compliance_alerts",
])
@pytest.mark.parametrize("statement", ["UPDATE core.{} SET id = id", "DELETE FROM core.{}"])
def test_histories_are_append_only_for_the_core_role(core, table, statement):
    column = {"compliance_list_versions": "source", "compliance_list_entries": "uid",
              "compliance_rule_sets": "reason"}.get(table, "id")
    statement = statement.replace("id = id", f"{column} = {column}")
    with pytest.raises(errors.InsufficientPrivilege):
        core.execute(statement.format(table))


@pytest.mark.parametrize(("start", "to"), [("open", "escalated"), ("open", "reported"), ("investigating", "open"),
                                           ("escalated", "investigating"), ("closed", "open"), ("reported", "closed")])
def test_the_database_refuses_transitions_the_workflow_does_not_allow(core, start, to):
    case_id = _case(core, start)
    with pytest.raises(errors.CheckViolation):
        core.execute("UPDATE core.compliance_cases SET status = %s WHERE id = %s", (to, case_id))


def test_a_final_case_does_not_change_at_all(core):
    case_id = _case(core, "closed")
    with pytest.raises(errors.CheckViolation, match="it is final"):
        core.execute("UPDATE core.compliance_cases SET alert_count = 5 WHERE id = %s", (case_id,))
    open_case = _case(core)
    core.execute("UPDATE core.compliance_cases SET status = 'investigating' WHERE id = %s", (open_case,))


def test_one_active_case_per_subject_and_kind(core):
    subject = uuid.uuid4().hex
    first = _case(core, subject=subject)
    with pytest.raises(errors.UniqueViolation):
        _case(core, subject=subject)
    core.execute("UPDATE core.compliance_cases SET status = 'closed' WHERE id = %s", (first,))
    _case(core, subject=subject)


def test_a_screening_case_names_its_screening_and_ends_with_a_decision(core):
    with pytest.raises(errors.CheckViolation):
        _case(core, kind="screening")
    with pytest.raises(errors.CheckViolation):
        core.execute("UPDATE core.compliance_cases SET decision = 'confirmed' WHERE id = %s", (_case(core),))
