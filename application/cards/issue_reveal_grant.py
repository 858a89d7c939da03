"""Issue a reveal grant for one card to the reveal client asking for it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from application.ports.clock import Clock, SecretGenerator
from application.ports.reveal_grants import RevealGrantSigner
from domain.cards.reveal_grant import new_reveal_grant


class IssuedRevealGrant(msgspec.Struct, frozen=True, kw_only=True):
    grant: str
    expires_at: datetime


class IssueRevealGrant:
    def __init__(self, signer: RevealGrantSigner, clock: Clock, secrets: SecretGenerator, ttl_seconds: int = 30) -> None:
        self._signer = signer
        self._clock = clock
        self._secrets = secrets
        self._ttl = ttl_seconds

    def __call__(self, card_token: str, requested_by: str, redeemer: str) -> IssuedRevealGrant:
        grant = new_reveal_grant(
            card_token, requested_by, redeemer, self._secrets.token(16), self._clock.now(), self._ttl
        )
        return IssuedRevealGrant(grant=self._signer.sign(grant), expires_at=grant.expires_at)
