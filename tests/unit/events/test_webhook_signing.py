"""Signatures follow Standard Webhooks: the specification's own test vector, a hand-written HMAC
check, and the reference library's verifier as a receiver would run it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.webhooks.signing import StandardWebhookSigner

signer = StandardWebhookSigner()


def hand_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_standard_webhooks_test_vector() -> None:
    # libraries/python/tests/test_webhooks.py::test_sign_function in standard-webhooks/standard-webhooks
    signature = signer.sign(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                            b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_32_random_bytes_in_standard_base64() -> None:
    first, second = signer.new_secret(), signer.new_secret()
    assert first != second
    for secret in (first, second):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:], validate=True)) == 32


def test_signature_matches_a_hand_computed_hmac_over_id_timestamp_and_body() -> None:
    secret = signer.new_secret()
    body = '{"id":"0196","type":"card.created","data":{"name":"Zoë"}}'.encode()
    assert signer.sign([secret], "0196", 1_800_000_000, body) == hand_signature(secret, "0196", 1_800_000_000, body)


def test_receivers_verify_with_the_reference_library_even_during_a_rotation() -> None:
    new, old, stranger = signer.new_secret(), signer.new_secret(), signer.new_secret()
    body = b'{"id":"0196","type":"card.updated","data":{}}'
    now = int(time.time())
    header = signer.sign([new, old], "0196", now, body)
    assert header == f"{hand_signature(new, '0196', now, body)} {hand_signature(old, '0196', now, body)}"
    headers = {"webhook-id": "0196", "webhook-timestamp": str(now), "webhook-signature": header}
    for secret in (new, old):  # a receiver that has either secret accepts it
        assert Webhook(secret).verify(body, headers) == {"id": "0196", "type": "card.updated", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # a changed body
        Webhook(new).verify(body.replace(b"updated", b"created"), headers)
    with pytest.raises(WebhookVerificationError):  # a replayed old message
        Webhook(new).verify(body, {**headers, "webhook-timestamp": str(now - 3600)})


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signer.sign([], "0196", 1, b"{}")
