"""Reveal grants as compact JWS (RFC 7515/7519) signed with Ed25519 (``alg: EdDSA``, RFC 8037).

The claims, which the vault checks (docs/vault.md, "Reveal grants"):

``iss`` the core's issuer name, ``aud`` the vault's audience name, ``sub`` the card token,
``jti`` the single-use nonce, ``iat``/``exp`` (at most 60 s apart), ``azp`` the core API key
that asked, ``cnf.kid`` the vault API key that may redeem it. The header's ``kid`` is the
RFC 7638 thumbprint of the signing key, so the vault can hold several keys during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.cards.reveal_grant import RevealGrant

ISSUER = "bursar-core"
AUDIENCE = "bursar-vault"


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    x = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64(x)}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(jwk.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class JwtRevealGrantSigner:
    def __init__(self, private_key_pem: str | bytes, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the reveal grant signing key must be an Ed25519 private key (PEM)")
        self._key = key
        self._kid = thumbprint(key.public_key())
        self._issuer = issuer
        self._audience = audience

    @property
    def key_id(self) -> str:
        return self._kid

    def sign(self, grant: RevealGrant) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": grant.card_token,
            "jti": grant.nonce,
            "iat": int(grant.issued_at.timestamp()),
            "exp": int(grant.expires_at.timestamp()),
            "azp": grant.requested_by,
            "cnf": {"kid": grant.redeemer},
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self._kid})
