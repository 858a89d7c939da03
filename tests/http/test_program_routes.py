"""Programs over HTTP: a decision webhook's signing secret is shown by the create answer (and its
idempotent repeat), never by a later read; a bad webhook definition is a 400 problem."""

from __future__ import annotations

import uuid


def test_the_decision_webhook_secret_is_shown_once(core_client, core_keys):
    ops = core_keys.headers("ops")
    body = {"id": f"prog_hook_{uuid.uuid4().hex[:8]}", "name": "Hooked", "bin": "411111", "currency": "EUR",
            "decision_webhook": {"url": "https://decisions.example/authorize", "timeout_ms": 800}}
    created = core_client.post("/v1/programs", headers=ops, json=body)
    assert created.status_code == 201, created.text
    hook = created.json()["decision_webhook"]
    assert hook["secret"].startswith("whsec_")
    assert (hook["timeout_ms"], hook["fallback"]) == (800, "decline")
    repeated = core_client.post("/v1/programs", headers=ops, json=body)
    assert repeated.status_code == 200 and repeated.json()["decision_webhook"]["secret"] == hook["secret"]
    read = core_client.get(f"/v1/programs/{body['id']}", headers=ops).json()["decision_webhook"]
    assert "secret" not in read and read["url"] == "https://decisions.example/authorize"


def test_a_bad_decision_webhook_is_refused(core_client, core_keys):
    for hook in ({"url": "ftp://x"}, {"url": "https://x", "timeout_ms": 10_000}, {"url": "https://x", "fallback": "maybe"}):
        refused = core_client.post("/v1/programs", headers=core_keys.headers("ops"),
                                   json={"name": "Bad", "bin": "411111", "currency": "EUR", "decision_webhook": hook})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
