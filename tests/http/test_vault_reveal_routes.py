"""The vault's reveal and network-entry routes over HTTP, with grants from the core's signer."""

from __future__ import annotations

import random
import uuid

from domain.access.model import parse_token
from vault.cards.pan import luhn_valid

MERCHANT = {"name": "Corner Shop", "mcc": "5411", "country": "DE"}


def _pan(bin_: str = "999999") -> str:
    """A random Luhn-valid 16-digit PAN in a BIN no test issues from."""
    body = bin_ + "".join(random.choice("0123456789") for _ in range(15 - len(bin_)))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _issue(vault_client, vault_keys) -> dict:
    response = vault_client.post("/v1/pans", json={"bin": "45678901", "exp_month": 3, "exp_year": 2032},
                                 headers=vault_keys.headers("core"))
    assert response.status_code == 201
    return response.json()


def _grant(core_container, vault_keys, token: str) -> str:
    redeemer = parse_token(vault_keys.tokens["reveal"])[0]
    return core_container.issue_reveal_grant()(token, "core-reveal-key", redeemer).grant


def test_reveal_returns_the_card_once_and_is_never_cached(vault_client, vault_keys, core_container):
    card = _issue(vault_client, vault_keys)
    grant = _grant(core_container, vault_keys, card["token"])
    headers = vault_keys.headers("reveal")
    revealed = vault_client.post("/v1/reveal", json={"grant": grant, "card_token": card["token"]}, headers=headers)
    assert revealed.status_code == 200, revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    body = revealed.json()
    assert set(body) == {"pan", "exp_month", "exp_year", "cvv2"}
    assert body["pan"].startswith("45678901") and body["pan"].endswith(card["last4"]) and luhn_valid(body["pan"])
    assert (body["exp_month"], body["exp_year"]) == (3, 2032) and len(body["cvv2"]) == 3
    replay = vault_client.post("/v1/reveal", json={"grant": grant}, headers=headers)
    assert replay.status_code == 403 and replay.json()["code"] == "grant_replayed"
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert body["pan"] not in replay.text


def test_too_many_reveals_of_one_card_get_429_with_retry_after(vault_client, vault_keys, core_container, settings):
    card = _issue(vault_client, vault_keys)
    limit = int(settings.reveal_limit_per_card.split("/")[0])
    headers = vault_keys.headers("reveal")
    statuses = [
        vault_client.post("/v1/reveal", json={"grant": _grant(core_container, vault_keys, card["token"])},
                          headers=headers).status_code
        for _ in range(limit)
    ]
    limited = vault_client.post("/v1/reveal", json={"grant": _grant(core_container, vault_keys, card["token"])},
                                headers=headers)
    assert statuses == [200] * limit
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 61


def test_network_entry_declines_unknown_and_invalid_pans_with_14(vault_client, vault_keys):
    headers = vault_keys.headers("network")
    for pan in (_pan(), _pan()[:-1] + str((int(_pan()[-1]) + 1) % 10)):
        message = {"message_id": f"m-{uuid.uuid4()}", "pan": pan, "amount": 1000, "currency": "EUR",
                   "merchant": MERCHANT}
        response = vault_client.post("/v1/network/authorizations", json=message, headers=headers)
        assert response.status_code == 200
        assert response.json()["response_code"] == "14" and response.json()["approved"] is False
        assert pan not in response.text


def test_network_entry_without_a_reachable_core_declines_with_91(vault_client, vault_keys):
    pan = _pan("999998")
    tokenized = vault_client.post("/v1/tokens", json={"pan": pan, "exp_month": 5, "exp_year": 2031},
                                  headers=vault_keys.headers("core"))
    assert tokenized.status_code == 201
    message = {"message_id": f"m-{uuid.uuid4()}", "pan": pan, "amount": 1000, "currency": "EUR", "merchant": MERCHANT}
    response = vault_client.post("/v1/network/authorizations", json=message, headers=vault_keys.headers("network"))
    assert response.status_code == 200 and response.json()["response_code"] == "91"


def test_malformed_pan_is_a_validation_error_that_does_not_echo_it(vault_client, vault_keys):
    message = {"message_id": "m-1", "pan": "4111-1111-1111-1111", "amount": 1, "currency": "EUR", "merchant": MERCHANT}
    response = vault_client.post("/v1/network/authorizations", json=message, headers=vault_keys.headers("network"))
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert "4111-1111" not in response.text and "1111" not in response.text
