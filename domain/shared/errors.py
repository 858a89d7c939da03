"""Errors raised by the domain. Each carries a stable machine ``code``.

The HTTP apps map codes to RFC 9457 problem responses in one place; messages never contain
secrets (PAN, CVV, keys, PINs), so they are safe to show to a client.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain was broken. ``code`` is stable; ``message`` is for humans."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidInput(DomainError):
    code = "validation_error"


class Unavailable(DomainError):
    """A service the operation needs (the vault, a rate feed) cannot be reached right now."""

    code = "dependency_unavailable"
