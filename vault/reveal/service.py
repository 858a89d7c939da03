"""Reveal a card's details to a PCI-scoped client holding a fresh grant from the core.

A reveal is: verify the grant (signature, issuer, audience, times, the presenting credential),
enforce the rate limits (per card token and per credential), consume the grant's nonce and
decrypt the PAN in one statement, derive the CVV2, and write ``card.revealed`` to the audit log
before answering. Every refusal is audited as ``card.reveal_refused`` with its code as reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from vault.audit.entry import Actor, AuditEvent, Origin, Resource
from vault.audit.log import AuditLog
from vault.cards.service import CardVault, GrantUse
from vault.errors import RateLimited, VaultError
from vault.reveal.grants import GrantVerifier, claimed_token
from vault.reveal.limits import MovingWindow


class RevealLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Rate limits in ``limits`` notation (``"10/minute"``, ``"100 per second"``), moving windows."""

    per_card: str = "10/minute"
    per_credential: str = "6000/minute"


class RevealedCard(msgspec.Struct, frozen=True, kw_only=True):
    pan: str
    exp_month: int
    exp_year: int
    cvv2: str

    def __repr__(self) -> str:  # never the PAN or CVV2
        return "RevealedCard(<redacted>)"


class Reveals:
    def __init__(
        self,
        cards: CardVault,
        verifier: GrantVerifier,
        audit: AuditLog,
        now: Callable[[], datetime],
        limits: RevealLimits = RevealLimits(),
    ) -> None:
        self._cards = cards
        self._verifier = verifier
        self._audit = audit
        self._now = now
        # Per process: each vault instance enforces the limits on what it serves.
        self._per_card = MovingWindow.parse(limits.per_card)
        self._per_credential = MovingWindow.parse(limits.per_credential)
        self.counts = {"revealed": 0, "refused": 0}  # for metrics

    async def reveal(self, grant: str, actor: Actor, origin: Origin, card_token: str | None = None) -> RevealedCard:
        """The card's PAN, expiry and CVV2 for the holder of ``grant``; ``card_token``, when the
        client names the card it expects, must be the grant's."""
        token, requested_by = None, None
        try:
            verified = self._verifier.verify(grant, presenter=actor.id)
            token, requested_by = verified.card_token, verified.requested_by
            if card_token is not None and card_token != token:
                raise _WrongCard("the grant is for another card")
            self._enforce_limits(token, actor.id)
            use = GrantUse(nonce=verified.nonce, redeemer=actor.id, requested_by=verified.requested_by,
                           expires_at=verified.expires_at)
            opened = await self._cards.open_once(token, use)
            cvv2 = await self._cards.cvv2(opened)
        except VaultError as refused:
            self.counts["refused"] += 1
            token = token or claimed_token(grant)  # unverified, for investigators
            await self._audit.record(AuditEvent(
                action="card.reveal_refused", actor=actor, resource=Resource(type="token", id=token or "unknown"),
                origin=origin, outcome="denied", reason=refused.code,
                details={"requested_by": requested_by},
            ))
            raise
        await self._audit.record(AuditEvent(
            action="card.revealed", actor=actor, resource=Resource(type="token", id=token), origin=origin,
            details={"requested_by": verified.requested_by, "cvv_version": opened.cvv_version},
        ))
        self.counts["revealed"] += 1
        return RevealedCard(pan=opened.pan, exp_month=opened.exp_month, exp_year=opened.exp_year, cvv2=cvv2)

    async def prune(self, keep: timedelta = timedelta(hours=1)) -> int:
        """Forget the nonces of grants that expired more than ``keep`` ago."""
        return await self._cards.prune_grant_nonces(self._now() - keep)

    def _enforce_limits(self, token: str, credential: str) -> None:
        """Count this reveal against both limits, or refuse it without counting it against either."""
        windows = ((self._per_card, "card", token), (self._per_credential, "credential", credential))
        for window, what, key in windows:
            wait = window.wait(key)
            if wait > 0:
                raise RateLimited(f"too many reveals for this {what}; retry later", retry_after=max(1, math.ceil(wait)))
        for window, _, key in windows:
            window.hit(key)


class _WrongCard(VaultError):
    code = "grant_wrong_card"
    status = 403
