"""Every error is RFC 9457 problem+json with a stable code, and never a stack trace."""

from __future__ import annotations

import pytest

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_FIELDS <= body.keys()
    assert body["status"] == status and body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_unknown_route(core_client):
    assert_problem(core_client.get("/v1/nothing-here"), 404, "not_found")


def test_method_not_allowed(core_client, core_keys):
    assert_problem(core_client.delete("/healthz"), 405, "method_not_allowed")


def test_unsupported_media_type(core_client, core_keys):
    response = core_client.post(
        "/v1/admin/api-keys/x/revoke",
        content=b"<xml/>",
        headers={**core_keys.headers("admin"), "content-type": "application/xml"},
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_oversized_body(core_client, core_keys, settings):
    response = core_client.post(
        "/v1/admin/api-keys/x/revoke",
        content=b"[" + b"1," * settings.max_body_bytes + b"1]",
        headers={**core_keys.headers("admin"), "content-type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")


def test_domain_error_is_mapped(core_client, core_keys):
    body = assert_problem(core_client.post("/v1/admin/api-keys/unknown/revoke", headers=core_keys.headers("admin")),
                          404, "api_key_not_found")
    assert "unknown" in body["detail"]


def test_request_id_is_taken_from_the_caller(core_client):
    response = core_client.get("/nope", headers={"X-Request-Id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"
    assert response.json()["request_id"] == "req-123"


@pytest.mark.parametrize("bad_id", ["a b", "x" * 200, "é"])
def test_malformed_request_ids_are_replaced(core_client, bad_id):
    response = core_client.get("/nope", headers={"X-Request-Id": bad_id.encode("utf-8")})
    assert response.headers["x-request-id"] != bad_id


def test_malformed_json(core_client, core_keys):
    response = core_client.post(
        "/v1/ledger/transfers", content=b'{"transfers": [', headers={**core_keys.headers("app"), "content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"transfers": [{"id": "t", "debit_account_id": "a", "credit_account_id": "b", "amount": 1.5, "currency": "USD"}]},
         "transfers[0].amount"),
        ({"transfers": [{"id": "t", "debit_account_id": "a", "credit_account_id": "b", "amount": [10], "currency": "USD"}]},
         "transfers[0].amount"),
        ({"transfers": "nope"}, "transfers"),
        ({"name": "x", "currency": "usd"}, "currency"),
    ],
)
def test_wrong_types_name_the_field(core_client, core_keys, body, field):
    path = "/v1/ledger/transfers" if "transfers" in body else "/v1/ledger/accounts"
    problem = assert_problem(core_client.post(path, json=body, headers=core_keys.headers("app")), 400, "validation_error")
    assert problem["errors"][0]["field"] == field


def test_unknown_fields_are_refused(core_client, core_keys):
    body = {"name": "x", "currency": "USD", "colour": "red"}
    problem = assert_problem(core_client.post("/v1/ledger/accounts", json=body, headers=core_keys.headers("app")),
                             400, "validation_error")
    assert "colour" in problem["detail"]


def test_unhandled_error_is_a_bare_500(caplog):
    from litestar import Litestar, get
    from litestar.testing import TestClient

    from entrypoints.http.problems import make_exception_handler
    from entrypoints.http.security import PUBLIC

    @get("/boom", opt=PUBLIC)
    async def boom() -> None:
        raise RuntimeError("secret detail: card 4111111111111111")

    app = Litestar([boom], exception_handlers={Exception: make_exception_handler()}, logging_config=None)
    with TestClient(app) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and "secret" not in response.text and "4111" not in response.text
    assert "RuntimeError" not in response.text
