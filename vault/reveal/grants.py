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

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vault.errors import Forbidden, InvalidRequest

MAX_GRANT_SECONDS = 60
DEFAULT_LEEWAY = timedelta(seconds=2)
_TOKEN = re.compile(r"^tok_[a-z0-9]{26}$")
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


def claimed_token(grant: str) -> str | None:
    """The card token a grant claims, before any verification: for the audit of a refusal only."""
    try:
        sub = jwt.decode(grant, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
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
        try:
            header = jwt.get_unverified_header(grant)
        except jwt.PyJWTError:
            raise GrantRefused("the grant is not a well-formed JWS", code="grant_malformed") from None
        if header.get("alg") != "EdDSA":
            raise GrantRefused("grants are signed with EdDSA", code="grant_bad_signature")
        key = self._keys.get(header.get("kid"))
        if key is None:
            raise GrantRefused("the grant is signed by a key this vault does not trust", code="grant_unknown_key")
        try:
            claims = jwt.decode(
                grant,
                key,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": ["iss", "aud", "sub", "jti", "iat", "exp", "azp", "cnf"]},
            )
        except jwt.InvalidSignatureError:
            raise GrantRefused("the grant's signature does not verify", code="grant_bad_signature") from None
        except jwt.InvalidAudienceError:
            raise GrantRefused("the grant is meant for another audience", code="grant_wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise GrantRefused("the grant has an unknown issuer", code="grant_wrong_issuer") from None
        except jwt.PyJWTError as exc:
            raise GrantRefused(f"the grant is malformed: {exc}", code="grant_malformed") from None
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
