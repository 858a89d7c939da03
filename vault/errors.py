"""Errors raised by the vault. Each carries a stable machine ``code`` and an HTTP status.

Messages are safe to show and to log: they never carry a PAN, a CVV, key
material, a PIN or a custodian's secret share.
"""

from __future__ import annotations


class VaultError(Exception):
    """A vault rule was broken. ``code`` is stable; the message is for humans."""

    code: str = "vault_error"
    status: int = 400
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidRequest(VaultError):
    code = "validation_error"
    status = 422


class NotFound(VaultError):
    code = "not_found"
    status = 404


class Conflict(VaultError):
    code = "conflict"
    status = 409


class Forbidden(VaultError):
    code = "forbidden"
    status = 403


class RateLimited(VaultError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class KeyStateError(Conflict):
    """A key was asked to do what its state does not allow (e.g. encrypt with a retired key)."""

    code = "key_not_usable"


class IntegrityError(VaultError):
    """Stored ciphertext, its AAD or a wrapped key was altered: refuse loudly, never return garbage."""

    code = "integrity_error"
    status = 500
