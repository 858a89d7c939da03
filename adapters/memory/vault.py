"""An in-memory VaultClient for use-case tests: the same contract as the HTTP vault, no PANs at all."""

from __future__ import annotations

import secrets
import string

from application.ports.vault import IssuedCardNumber
from domain.shared.errors import Conflict, InvalidInput, NotFound

_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


class InMemoryVault:
    def __init__(self) -> None:
        self.cards: dict[str, IssuedCardNumber] = {}
        self.shredded: set[str] = set()
        self._requests: dict[str, tuple[tuple, str]] = {}

    async def ping(self) -> None:
        return None

    async def issue_pan(
        self, program_id: str, bin: str, exp_month: int, exp_year: int, idempotency_key: str
    ) -> IssuedCardNumber:
        if not (bin.isdigit() and len(bin) in (6, 8) and bin[0] != "0"):
            raise InvalidInput("bin must be 6 or 8 digits")
        if not (1 <= exp_month <= 12 and 2000 <= exp_year <= 2099):
            raise InvalidInput("expiry month is 1-12 and year a four-digit year")
        fields = (program_id, bin, exp_month, exp_year)
        if idempotency_key in self._requests:
            earlier, token = self._requests[idempotency_key]
            if earlier != fields:
                raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_conflict")
            return self.cards[token]
        token = "tok_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(26))
        card = IssuedCardNumber(token=token, bin=bin, last4=f"{secrets.randbelow(10_000):04d}",
                                exp_month=exp_month, exp_year=exp_year)
        self.cards[token] = card
        self._requests[idempotency_key] = (fields, token)
        return card

    async def shred(self, token: str) -> None:
        if token not in self.cards:
            raise NotFound("no such card token", code="token_not_found")
        self.shredded.add(token)

    async def close(self) -> None:
        """Nothing to release in memory."""
