"""JSON bodies are decoded strictly on every route: no string for a number, no float for an
integer, no string for a boolean. The refusal is a 400 validation_error naming the field, and
the handler never runs, so nothing is written."""

from __future__ import annotations

import uuid

import pytest

from tests.http.test_problem_responses import assert_problem


def _transfer(tid: str, **overrides) -> dict:
    return {"id": tid, "debit_account_id": "strict-a", "credit_account_id": "strict-b", "amount": 10,
            "currency": "USD", **overrides}


@pytest.fixture(scope="module")
def accounts(core_client, core_keys) -> None:
    for account_id in ("strict-a", "strict-b"):
        response = core_client.post("/v1/ledger/accounts", json={"id": account_id, "name": account_id, "currency": "USD"},
                                    headers=core_keys.headers("app"))
        assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "10"}, "transfers[1].amount"),
        ({"amount": 10.0}, "transfers[1].amount"),
        ({"pending": "true"}, "transfers[1].pending"),
        ({"linked": 1}, "transfers[1].linked"),
        ({"timeout_seconds": "60", "pending": True}, "transfers[1].timeout_seconds"),
        ({"currency": 840}, "transfers[1].currency"),
    ],
)
def test_ledger_transfers_refuse_lenient_values_and_write_nothing(core_client, core_keys, accounts, overrides, field):
    tid = f"strict-{uuid.uuid4().hex[:12]}"
    body = {"transfers": [_transfer(f"{tid}-ok"), _transfer(tid, **overrides)]}
    problem = assert_problem(core_client.post("/v1/ledger/transfers", json=body, headers=core_keys.headers("app")),
                             400, "validation_error")
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0].get("source", "body") == "body"
    for written in (f"{tid}-ok", tid):
        assert core_client.get(f"/v1/ledger/transfers/{written}", headers=core_keys.headers("app")).status_code == 404
    # The same batch with proper types goes through.
    good = core_client.post("/v1/ledger/transfers", json={"transfers": [_transfer(f"{tid}-ok"), _transfer(tid)]},
                            headers=core_keys.headers("app"))
    assert good.status_code == 200 and [r["status"] for r in good.json()["results"]] == ["created", "created"]


def test_ledger_accounts_refuse_a_string_boolean_and_a_float_limit(core_client, core_keys):
    for extra, field in (({"flags": {"debits_must_not_exceed_credits": "true"}}, "flags.debits_must_not_exceed_credits"),
                         ({"overdraft_limit": 100.0}, "overdraft_limit")):
        account_id = f"strict-{uuid.uuid4().hex[:12]}"
        body = {"id": account_id, "name": "x", "currency": "USD", **extra}
        problem = assert_problem(core_client.post("/v1/ledger/accounts", json=body, headers=core_keys.headers("app")),
                                 400, "validation_error")
        assert problem["errors"][0]["field"] == field
        assert core_client.get(f"/v1/ledger/accounts/{account_id}", headers=core_keys.headers("app")).status_code == 404


def test_ledger_reversals_refuse_a_number_for_a_string(core_client, core_keys):
    problem = assert_problem(core_client.post("/v1/ledger/transfers/any/reversals", json={"id": 7},
                                              headers=core_keys.headers("app")), 400, "validation_error")
    assert problem["errors"][0]["field"] == "id"


@pytest.mark.parametrize("amount", ["10", 10.0, True])
def test_card_fundings_refuse_a_non_integer_amount(core_client, core_keys, amount):
    body = {"id": f"fund-{uuid.uuid4().hex[:8]}", "amount": amount, "currency": "USD"}
    problem = assert_problem(core_client.post("/v1/cards/no-such-card/fundings", json=body, headers=core_keys.headers("app")),
                             400, "validation_error")
    assert problem["errors"][0]["field"] == "amount"


def test_card_programs_refuse_a_string_integer(core_client, core_keys):
    body = {"name": "strict", "currency": "USD", "expiry_months": "36"}
    problem = assert_problem(core_client.post("/v1/programs", json=body, headers=core_keys.headers("ops")),
                             400, "validation_error")
    assert any(e["field"] == "expiry_months" for e in problem["errors"]) or "expiry_months" in problem["detail"]


_MERCHANT = {"name": "Shop", "mcc": "5411", "country": "US"}
_TOKEN = "tok_" + "a" * 26


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/network/authorizations",
         {"message_id": "m1", "card_token": _TOKEN, "amount": "10", "currency": "USD", "merchant": _MERCHANT}, "amount"),
        ("/v1/network/authorizations",
         {"message_id": "m1", "card_token": _TOKEN, "amount": 10.0, "currency": "USD", "merchant": _MERCHANT}, "amount"),
        ("/v1/network/authorizations",
         {"message_id": "m1", "card_token": _TOKEN, "amount": 10, "currency": "USD", "merchant": _MERCHANT,
          "partial_allowed": "true"}, "partial_allowed"),
        ("/v1/network/authorizations/a1/increments", {"message_id": "m2", "amount": "5"}, "amount"),
        ("/v1/network/authorizations/a1/reversals", {"message_id": "m3", "amount": 5.0}, "amount"),
        ("/v1/network/clearings",
         {"message_id": "m4", "card_token": _TOKEN, "amount": "10", "currency": "USD", "merchant": _MERCHANT}, "amount"),
        ("/v1/network/refunds",
         {"message_id": "m5", "card_token": _TOKEN, "amount": 10, "currency": "USD",
          "merchant": {**_MERCHANT, "mcc": 5411}}, "merchant.mcc"),
    ],
)
def test_network_messages_refuse_lenient_values(core_client, core_keys, path, body, field):
    problem = assert_problem(core_client.post(path, json=body, headers=core_keys.headers("network")), 400, "validation_error")
    assert problem["errors"][0]["field"] == field


@pytest.mark.parametrize("amount", ["1999", 1999.0])
def test_fx_quotes_refuse_a_non_integer_amount_and_write_nothing(core_client, core_keys, amount):
    quote_id = f"strict-{uuid.uuid4().hex[:12]}"
    body = {"id": quote_id, "from": "USD", "to": "JPY", "amount": amount}
    problem = assert_problem(core_client.post("/v1/fx/quotes", json=body, headers=core_keys.headers("app")),
                             400, "validation_error")
    assert problem["errors"][0]["field"] == "amount"
    created = core_client.post("/v1/fx/quotes", json={**body, "amount": 1999}, headers=core_keys.headers("app"))
    assert created.status_code == 201, created.text  # the refused request left no quote behind


def test_fx_manual_rates_refuse_a_number_where_a_decimal_string_is_expected_only_if_declared(core_client, core_keys):
    # A body of the wrong shape altogether names the root.
    problem = assert_problem(core_client.post("/v1/fx/rates", json=[1, 2], headers=core_keys.headers("ops")),
                             400, "validation_error")
    assert problem["errors"][0]["field"] == "$"


def test_malformed_json_is_still_malformed_json(core_client, core_keys):
    response = core_client.post("/v1/ledger/accounts", content=b'{"name": ', headers={**core_keys.headers("app"),
                                                                                   "content-type": "application/json"})
    assert_problem(response, 400, "malformed_json")
