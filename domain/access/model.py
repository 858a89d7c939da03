"""API credentials: who may call what.

A key is shown to its owner once, as ``bsk_<key id>_<secret>``; only a salted SHA-256 of the
secret is stored. The secret carries 256 bits of entropy, so a fast hash is the right tool (a
slow password hash would only slow down every request).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Literal

import msgspec

from domain.shared.errors import DomainError

App = Literal["core", "vault"]

ROLES: dict[str, frozenset[str]] = {
    "core": frozenset({"app", "ops", "network", "reveal", "auditor", "admin"}),
    "vault": frozenset({"core", "reveal", "network", "auditor", "admin"}),
}

TOKEN_PREFIX = "bsk"


class InvalidRole(DomainError):
    code = "invalid_role"


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    app: App
    role: str
    name: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(self.id, secret))


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller of one request."""

    key_id: str
    app: App
    role: str


def check_role(app: App, role: str) -> None:
    if role not in ROLES[app]:
        allowed = ", ".join(sorted(ROLES[app]))
        raise InvalidRole(f"role {role!r} does not exist for the {app} API (one of: {allowed})")


def hash_secret(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def format_token(key_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed token, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not key_id or not secret:
        return None
    return key_id, secret
