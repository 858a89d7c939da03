"""Verify a reveal grant: a compact JWS the core signed with Ed25519 (format in docs/vault.md).

Every check that fails names itself with a stable code (``GrantRefused.code``), which the reveal
service writes to the audit log and returns to the caller. Times are checked against the vault's
own clock, with a small leeway for clock skew between the two services.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vault.errors import Forbidden, InvalidRequest

MAX_GRANT_SECONDS = 60
DEFAULT_LEEWAY = timedelta(seconds=2)
_TOKEN = re.compile(r"^tok_[a-z0-9]{26}$")
_REQUIRED = ("iss", "aud", "sub", "jti", "iat", "exp", "azp", "cnf")
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


class GrantRefused(Forbidden):
    """The grant is not valid for this reveal; ``code`` says why (``grant_*``)."""

    code = "grant_invalid"


class VerifiedGrant(msgspec.Struct, frozen=True, kw_only=True):
    card_token: str
    nonce: str
    requested_by: str
    redeemer: str
    expires_at: datetime


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the grant's ``kid``."""
    x = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64(x)}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(jwk.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_public_keys(pem: bytes | str) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key in a PEM bundle, by thumbprint (several during a key rotation)."""
    data = pem.encode() if isinstance(pem, str) else pem
    keys = {}
    for block in _PEM_BLOCK.findall(data):
        key = serialization.load_pem_public_key(block)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("reveal grant verification keys must be Ed25519 public keys")
        keys[thumbprint(key)] = key
    if not keys:
        raise ValueError("no PEM public key found for reveal grant verification")
    return keys


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claimed_token(grant: str) -> str | None:
    """The card token a grant claims, before any verification: for the audit of a refusal only."""
    try:
        sub = msgspec.json.decode(_b64decode(grant.split(".")[1])).get("sub")
    except (ValueError, IndexError, AttributeError, msgspec.DecodeError):
        return None
    return sub if isinstance(sub, str) and _TOKEN.match(sub) else None


class GrantVerifier:
    def __init__(
        self,
        public_keys: dict[str, Ed25519PublicKey],
        now: Callable[[], datetime],
        issuer: str = "bursar-core",
        audience: str = "bursar-vault",
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self._keys = public_keys
        self._now = now
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    @property
    def key_ids(self) -> Iterable[str]:
        return self._keys.keys()

    def verify(self, grant: str, presenter: str) -> VerifiedGrant:
        """The grant's claims if it is genuine, current, meant for this vault and for ``presenter``
        (the vault API key id presenting it); else :class:`GrantRefused`. The nonce's single use
        is the caller's to enforce."""
        if not isinstance(grant, str) or len(grant) > 4096:
            raise InvalidRequest("grant must be a compact JWS string")
        # RFC 7515 compact serialization, verified directly with `cryptography` (the core signs
        # with PyJWT; tests check the two agree): BASE64URL(header).BASE64URL(claims).BASE64URL(sig)
        try:
            header_b64, claims_b64, signature_b64 = grant.split(".")
            header = msgspec.json.decode(_b64decode(header_b64))
            signature = _b64decode(signature_b64)
            if not isinstance(header, dict):
                raise ValueError("header is not an object")
        except (ValueError, msgspec.DecodeError):
            raise GrantRefused("the grant is not a well-formed JWS", code="grant_malformed") from None
        if header.get("alg") != "EdDSA" or "crit" in header:
            raise GrantRefused("grants are signed with EdDSA", code="grant_bad_signature")
        key = self._keys.get(header.get("kid"))
        if key is None:
            raise GrantRefused("the grant is signed by a key this vault does not trust", code="grant_unknown_key")
        try:
            key.verify(signature, f"{header_b64}.{claims_b64}".encode())
        except InvalidSignature:
            raise GrantRefused("the grant's signature does not verify", code="grant_bad_signature") from None
        try:
            claims = msgspec.json.decode(_b64decode(claims_b64))
        except (ValueError, msgspec.DecodeError):
            raise GrantRefused("the grant's claims are not JSON", code="grant_malformed") from None
        if not isinstance(claims, dict) or any(name not in claims for name in _REQUIRED):
            raise GrantRefused("the grant lacks required claims", code="grant_malformed")
        if claims["iss"] != self._issuer:
            raise GrantRefused("the grant has an unknown issuer", code="grant_wrong_issuer")
        audience = claims["aud"]
        if audience != self._audience and not (isinstance(audience, list) and self._audience in audience):
            raise GrantRefused("the grant is meant for another audience", code="grant_wrong_audience")
        return self._check(claims, presenter)

    def _check(self, claims: dict, presenter: str) -> VerifiedGrant:
        sub, jti, azp, cnf = claims["sub"], claims["jti"], claims["azp"], claims["cnf"]
        iat, exp = claims["iat"], claims["exp"]
        redeemer = cnf.get("kid") if isinstance(cnf, dict) else None
        if not (isinstance(sub, str) and _TOKEN.match(sub) and isinstance(jti, str) and 16 <= len(jti) <= 128
                and isinstance(azp, str) and isinstance(redeemer, str)
                and isinstance(iat, int) and isinstance(exp, int)):
            raise GrantRefused("the grant's claims are malformed", code="grant_malformed")
        if exp - iat > MAX_GRANT_SECONDS or exp <= iat:
            raise GrantRefused(f"a grant may live at most {MAX_GRANT_SECONDS} seconds", code="grant_too_long_lived")
        now = self._now()
        issued_at, expires_at = datetime.fromtimestamp(iat, UTC), datetime.fromtimestamp(exp, UTC)
        if issued_at > now + self._leeway:
            raise GrantRefused("the grant was issued in the future", code="grant_not_yet_valid")
        if expires_at <= now - self._leeway:
            raise GrantRefused("the grant has expired", code="grant_expired")
        if redeemer != presenter:
            raise GrantRefused("the grant was issued to another credential", code="grant_wrong_credential")
        return VerifiedGrant(card_token=sub, nonce=jti, requested_by=azp, redeemer=redeemer, expires_at=expires_at)
