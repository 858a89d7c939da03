"""Compliance over HTTP: screening, subjects, cases and their workflow, alerts, rules, re-screening.

Every test stores the sanctions list it needs as a version of its own (the session database is
shared) and tells the app's screener to look for it at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from adapters.compliance_data import load_default_rules
from adapters.memory.compliance import InMemoryComplianceTransactions
from adapters.postgres.compliance import PostgresComplianceTransactions
from adapters.postgres.database import Database
from adapters.system import SystemClock, UuidV7Ids
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.monitor_activity import MonitorActivity
from application.compliance.monitoring_rules import MonitoringRules
from application.ports.compliance import ComplianceTransactions
from domain.access.model import parse_token
from domain.compliance import Alias, SanctionsEntry, SanctionsList
from domain.compliance.monitoring import ActivityEvent
from entrypoints.containers import CoreContainer
from entrypoints.http.core.app import create_core_app

T = TypeVar("T")
ELVIS = SanctionsEntry(uid="10278", name="LOGAN MOREY, Elvis Angus", entity_type="individual", programs=("SDNT",),
                       aliases=(Alias(name="BURTON BURGESS, Elvis"),), birth_dates=("1963-07-28",), countries=("BZ",))
BANCO = SanctionsEntry(uid="306", name="BANCO NACIONAL DE CUBA", entity_type="entity", programs=("CUBA",))
MALKEVICH = SanctionsEntry(uid="26235", name="MALKEVICH, Alexander Aleksandrovich", entity_type="individual",
                           programs=("CYBER2",), birth_dates=("1975-06-14",), countries=("RU",))


@pytest.fixture
def with_store(settings) -> Callable[[Callable[[ComplianceTransactions], Awaitable[T]]], T]:
    """Run work against the session database on a pool of its own (the app's lives on its own loop)."""

    def run(work):
        async def main():
            db = Database(settings.database.for_core(), min_size=1, max_size=2)
            await db.open()
            try:
                return await work(PostgresComplianceTransactions(db.pool))
            finally:
                await db.close()

        return asyncio.run(main())

    return run


@pytest.fixture
def new_list(with_store, core_container) -> Callable[..., dict]:
    def store(*entries: SanctionsEntry) -> dict:
        sanctions = SanctionsList(source="TEST", version=uuid.uuid4().hex, entries=entries)
        ingested = with_store(lambda tx: IngestSanctionsList(tx, SystemClock())(sanctions))
        core_container.compliance_screener().invalidate()
        return {"id": ingested.version.id, "version": ingested.version.version}

    return store


def key_id(core_keys, role: str) -> str:
    return parse_token(core_keys.tokens[role])[0]


def restore_default_rules(client, headers) -> None:
    """Leave the shared database with the shipped rules, whatever this module's tests stored."""
    rules = msgspec.to_builtins(load_default_rules().rules)
    response = client.put("/v1/compliance/rules", headers=headers, json={"rules": rules, "reason": "shipped defaults"})
    assert response.status_code == 200, response.text


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_screening_a_name_explains_its_matches(core_client, core_keys, new_list):
    listed = new_list(ELVIS, BANCO, MALKEVICH)

    response = core_client.post("/v1/compliance/screenings", headers=core_keys.headers("app"),
                                json={"name": "Elvis Logan Morey", "birth_date": "1963-07-28", "country": "BZ"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["list"], body["list_version"]) == ("strong_match", "TEST", listed["version"])
    match = body["matches"][0]
    assert (match["list"], match["entry_id"], match["name"], match["name_type"]) == (
        "TEST", "10278", "LOGAN MOREY, Elvis Angus", "primary")
    assert match["score"] == 1.0 and match["programs"] == ["SDNT"]
    assert "birth date 1963-07-28 agrees with the entry (+0.05)" in match["why"]
    assert [m["feature"] for m in match["modifiers"]] == ["dob", "country"]
    assert match["features"]["dob"] == "match"
    assert "subject" not in body

    clear = core_client.post("/v1/compliance/screenings", headers=core_keys.headers("ops"),
                             json={"name": "Margaret Thompson"}).json()
    assert (clear["decision"], clear["matches"]) == ("clear", [])


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Elvis", "birth_date": "28/07/1963"}, "birth_date"),
    ({"name": ""}, "name"),
    ({"name": "Elvis", "colour": "blue"}, "colour"),
    ({"name": "Elvis", "subject_id": "no spaces allowed"}, "subject_id"),
    ({}, "name"),
])
def test_bad_screening_requests_are_400_problems(core_client, core_keys, body, field):
    response = core_client.post("/v1/compliance/screenings", headers=core_keys.headers("app"), json=body)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error" and field in response.text


def test_a_subject_match_opens_a_case_that_ops_work_through(core_client, core_keys, new_list):
    new_list(ELVIS, BANCO)
    subject = fresh("cardholder")
    app, ops = core_keys.headers("app"), core_keys.headers("ops")

    screened = core_client.post("/v1/compliance/screenings", headers=app,
                                json={"name": "Elvis Logan Morey", "subject_id": subject}).json()
    assert screened["decision"] == "possible_match"
    assert (screened["subject"]["id"], screened["subject"]["status"]) == (subject, "review")
    case_id = screened["case_id"]
    assert case_id and screened["screening_id"]

    detail = core_client.get(f"/v1/compliance/subjects/{subject}", headers=app).json()
    assert detail["subject"]["status"] == "review" and detail["active_case_ids"] == [case_id]
    assert detail["status_changes"][0]["actor"] == key_id(core_keys, "app")
    listed = core_client.get("/v1/compliance/cases", headers=ops, params={"subject_id": subject}).json()
    assert [c["id"] for c in listed["data"]] == [case_id] and listed["next_cursor"] is None
    case = core_client.get(f"/v1/compliance/cases/{case_id}", headers=ops).json()
    assert (case["case"]["status"], case["case"]["kind"], case["case"]["next_statuses"]) == (
        "open", "screening", ["closed", "investigating"])
    assert case["screening"]["matches"][0]["entry_id"] == "10278" and case["screening"]["matches"][0]["why"]
    assert [e["action"] for e in case["events"]] == ["opened"]

    refused = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops,
                                json={"status": "reported", "reason": "straight to the regulator"})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_case_transition"
    assert refused.headers["content-type"].startswith("application/problem+json")
    undecided = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops,
                                  json={"status": "closed", "reason": "nothing to see"})
    assert undecided.status_code == 409 and undecided.json()["code"] == "case_decision_required"
    for body in ({"status": "investigating"}, {"status": "investigating", "reason": "   "}, {"reason": "why"}):
        response = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops, json=body)
        assert response.status_code == 400 and response.json()["code"] in ("validation_error", "reason_required")
    missing = core_client.patch("/v1/compliance/cases/nope", headers=ops, json={"status": "closed", "reason": "x"})
    assert missing.status_code == 404 and missing.json()["code"] == "case_not_found"

    decided = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops,
                                json={"decision": "false_positive", "status": "closed", "reason": "born 1990, not him"})
    assert decided.status_code == 200, decided.text
    after = decided.json()
    assert (after["case"]["status"], after["case"]["decision"], after["case"]["next_statuses"]) == (
        "closed", "false_positive", [])
    assert [(e["action"], e["actor"], e["reason"]) for e in after["events"][1:]] == [
        ("decided", key_id(core_keys, "ops"), "born 1990, not him"),
        ("status_changed", key_id(core_keys, "ops"), "born 1990, not him"),
    ]
    subject_now = core_client.get(f"/v1/compliance/subjects/{subject}", headers=ops).json()
    assert subject_now["subject"]["status"] == "clear" and subject_now["active_case_ids"] == []
    assert subject_now["status_changes"][0]["to_status"] == "clear"

    again = core_client.post("/v1/compliance/screenings", headers=app,
                             json={"name": "Elvis Logan Morey", "subject_id": subject}).json()
    assert again["subject"]["status"] == "clear" and again.get("case_id") is None
    assert again["decision"] == "possible_match" and again["matches"][0]["dismissed"] is True


def test_rescreening_after_a_new_list_version(core_client, core_keys, new_list):
    new_list(BANCO)
    subject = fresh("cardholder")
    ops = core_keys.headers("ops")
    first = core_client.post("/v1/compliance/screenings", headers=ops,
                             json={"name": "Alexander Malkevich", "birth_date": "1975-06-14", "subject_id": subject})
    assert first.json()["subject"]["status"] == "clear"

    listed = new_list(BANCO, MALKEVICH)
    response = core_client.post("/v1/compliance/rescreenings", headers=ops)

    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["list_version"]["id"] == listed["id"]
    [change] = [c for c in summary["changes"] if c["subject_id"] == subject]
    assert (change["from_status"], change["to_status"]) == ("clear", "blocked") and change["case_id"]
    assert core_client.post("/v1/compliance/rescreenings", headers=ops).json()["screened"] == 0
    detail = core_client.get(f"/v1/compliance/subjects/{subject}", headers=ops).json()
    assert detail["subject"]["status"] == "blocked" and detail["screening"]["trigger"] == "rescreen"
    assert detail["active_case_ids"] == [change["case_id"]]

    versions = core_client.get("/v1/compliance/lists", headers=ops, params={"limit": 1}).json()
    assert versions["data"][0]["id"] == listed["id"] and versions["next_cursor"] == str(listed["id"])


def test_monitoring_rules_are_read_and_replaced_by_ops(core_client, core_keys):
    ops = core_keys.headers("ops")
    before = core_client.get("/v1/compliance/rules", headers=ops).json()
    assert before["version"] >= 0 and before["rules"]

    duplicate = {"reason": "dup", "rules": [
        {"type": "high_risk", "id": "x", "action": "alert", "mccs": ["7995"]},
        {"type": "high_risk", "id": "x", "action": "alert", "countries": ["KP"]}]}
    response = core_client.put("/v1/compliance/rules", headers=ops, json=duplicate)
    assert response.status_code == 400 and response.json()["code"] == "invalid_rules"
    incomplete = {"reason": "r", "rules": [{"type": "velocity", "id": "v", "action": "alert", "window_seconds": 60}]}
    response = core_client.put("/v1/compliance/rules", headers=ops, json=incomplete)
    assert response.status_code == 400 and "give max_count, max_amount or both" in response.json()["detail"]
    no_reason = core_client.put("/v1/compliance/rules", headers=ops, json={"rules": before["rules"]})
    assert no_reason.status_code == 400

    rules = [{"type": "amount_threshold", "id": "large", "action": "alert", "currency": "USD", "threshold": 50_000,
              "kinds": ["funding", "authorization"]},
             {"type": "high_risk", "id": "casino", "action": "decline", "mccs": ["7995"]}]
    replaced = core_client.put("/v1/compliance/rules", headers=ops, json={"rules": rules, "reason": "test rules"})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["version"], body["created_by"], body["reason"]) == (
        before["version"] + 1, key_id(core_keys, "ops"), "test rules")
    assert body["rules"][0] == {**rules[0], "description": "", "enabled": True}
    assert core_client.get("/v1/compliance/rules", headers=ops).json() == body
    restore_default_rules(core_client, ops)


def test_alerts_group_into_a_monitoring_case(core_client, core_keys, with_store):
    ops = core_keys.headers("ops")
    rules = [{"type": "amount_threshold", "id": "large", "action": "alert", "currency": "USD", "threshold": 50_000}]
    assert core_client.put("/v1/compliance/rules", headers=ops,
                           json={"rules": rules, "reason": "alerts test"}).status_code == 200
    subject = fresh("holder")
    at = datetime(2026, 7, 1, tzinfo=UTC)

    async def record(tx: ComplianceTransactions):
        monitor = MonitorActivity(tx, MonitoringRules(tx, load_default_rules(), SystemClock()), SystemClock(),
                                  UuidV7Ids())
        return [await monitor.record(ActivityEvent(id=fresh("auth"), subject_id=subject, card_id="card-1",
                                                   kind="authorization", amount=amount, currency="USD", mcc="5411",
                                                   country="US", at=at + timedelta(minutes=i)))
                for i, amount in enumerate((60_000, 100, 70_000, 80_000))]

    recorded = with_store(record)
    case_id = recorded[0].case_id
    assert [len(r.alerts) for r in recorded] == [1, 0, 1, 1] and {r.case_id for r in recorded} == {case_id, None}

    page = core_client.get("/v1/compliance/alerts", headers=ops, params={"subject_id": subject, "limit": 2}).json()
    rest = core_client.get("/v1/compliance/alerts", headers=ops,
                           params={"subject_id": subject, "limit": 2, "cursor": page["next_cursor"]}).json()
    alerts = page["data"] + rest["data"]
    assert [a["amount"] for a in alerts] == [80_000, 70_000, 60_000] and rest["next_cursor"] is None
    assert {(a["rule_id"], a["case_id"], a["currency"]) for a in alerts} == {("large", case_id, "USD")}

    cases = core_client.get("/v1/compliance/cases", headers=ops,
                            params={"subject_id": subject, "kind": "monitoring", "status": "open"}).json()
    assert [c["id"] for c in cases["data"]] == [case_id] and cases["data"][0]["alert_count"] == 3
    case = core_client.get(f"/v1/compliance/cases/{case_id}", headers=ops).json()
    assert len(case["alerts"]) == 3 and case["screening"] is None and case["subject"] is None
    no_match = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops,
                                 json={"decision": "confirmed", "reason": "x"})
    assert no_match.status_code == 409 and no_match.json()["code"] == "case_has_no_match"
    for status in ("investigating", "escalated", "reported"):
        moved = core_client.patch(f"/v1/compliance/cases/{case_id}", headers=ops,
                                  json={"status": status, "reason": f"{status}: SAR filed"})
        assert moved.status_code == 200 and moved.json()["case"]["status"] == status

    bad_cursor = core_client.get("/v1/compliance/alerts", headers=ops, params={"cursor": "not a cursor!"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "validation_error"
    bad_status = core_client.get("/v1/compliance/cases", headers=ops, params={"status": "pending"})
    assert bad_status.status_code == 400

    restore_default_rules(core_client, ops)


def test_without_a_stored_list_screening_is_unavailable(settings, core_keys):
    container = CoreContainer()
    # outside development nothing is stored for the operator: screening waits for `ingest-list`
    container.settings.override(providers.Object(dataclasses.replace(settings, env="production")))
    container.compliance_transactions.override(providers.Object(InMemoryComplianceTransactions()))

    with TestClient(create_core_app(container)) as client:
        response = client.post("/v1/compliance/screenings", headers=core_keys.headers("app"), json={"name": "Anyone"})
        lists = client.get("/v1/compliance/lists", headers=core_keys.headers("ops")).json()

    assert response.status_code == 503
    assert response.json()["code"] == "sanctions_list_missing" and "ingest-list" in response.json()["detail"]
    assert lists == {"data": [], "next_cursor": None}


def test_in_development_an_empty_store_gets_the_shipped_sample(settings, core_keys):
    container = CoreContainer()
    container.settings.override(providers.Object(settings))
    container.compliance_transactions.override(providers.Object(InMemoryComplianceTransactions()))
    assert settings.env == "development"

    with TestClient(create_core_app(container)) as client:
        lists = client.get("/v1/compliance/lists", headers=core_keys.headers("ops")).json()["data"]
        screened = client.post("/v1/compliance/screenings", headers=core_keys.headers("app"),
                               json={"name": "Elvis Angus Logan Morey"}).json()

    assert [(v["source"], v["entry_count"]) for v in lists] == [("OFAC-SDN", 17)]
    assert screened["decision"] == "possible_match" and screened["matches"][0]["entry_id"] == "10278"
