from __future__ import annotations

from typing import Protocol

import msgspec


class IssuedCardNumber(msgspec.Struct, frozen=True, kw_only=True):
    """What the core learns of a PAN the vault issued: never the number itself."""

    token: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int


class VaultClient(Protocol):
    """The core's only way into the PCI zone: the vault's HTTP API. Never carries a PAN back.

    Refusals from the vault surface as :class:`domain.shared.errors.DomainError` with the vault's
    code (``idempotency_conflict``, ``token_not_found``, ``validation_error``...); a vault that
    cannot be reached raises :class:`domain.shared.errors.Unavailable`.
    """

    async def ping(self) -> None:
        """Raises unless the vault answers."""
        ...

    async def issue_pan(
        self, program_id: str, bin: str, exp_month: int, exp_year: int, idempotency_key: str
    ) -> IssuedCardNumber:
        """A new PAN in ``bin``'s range, stored in the vault; the same ``idempotency_key`` with the
        same fields returns the first card."""
        ...

    async def shred(self, token: str) -> None:
        """Make the token's PAN unrecoverable (crypto-shredding). Repeating it is harmless."""
        ...

    async def close(self) -> None:
        """Release connections; the client may not be used afterwards."""
        ...
