"""KYC: who verifies a new cardholder's identity (docs/cards.md, "KYC").

``CreateCardholder`` submits every new cardholder whose sanctions screening came back clear to
the configured ``KycProvider`` and applies its outcome:

* ``verified`` with a tier (``domain.cards.model.TIERS``): the cardholder may transact within it;
* ``rejected`` with a reason: the cardholder cannot get cards;
* ``review``: the cardholder stays ``pending`` until ops decide (``POST /v1/cardholders/{id}/kyc``).

Adapters: ``adapters.kyc.manual.ManualReview`` (every applicant goes to ops) and
``adapters.kyc.simulated.SimulatedVendor`` (deterministic answers, for demos; never production).
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Protocol

import msgspec

from domain.shared.errors import InvalidInput

KycDecision = Literal["verified", "rejected", "review"]


class KycApplicant(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider is told about a cardholder. ``cardholder_id`` is stable: a provider may use
    it as its own reference, so that submitting the same cardholder again is not a second case."""

    cardholder_id: str
    name: str
    country: str
    birth_date: date | None = None
    email: str | None = None


class KycOutcome(msgspec.Struct, frozen=True, kw_only=True):
    decision: KycDecision
    tier: str | None = None
    """The tier of a ``verified`` outcome (required then, absent otherwise)."""
    reason: str | None = None
    """Why: required for ``rejected`` and ``review``; optional for ``verified``."""

    def __post_init__(self) -> None:
        if self.decision == "verified" and not self.tier:
            raise InvalidInput("a verified KYC outcome names its tier", code="invalid_kyc_outcome")
        if self.decision != "verified" and self.tier is not None:
            raise InvalidInput("only a verified KYC outcome has a tier", code="invalid_kyc_outcome")
        if self.decision in ("rejected", "review") and not self.reason:
            raise InvalidInput(f"a {self.decision} KYC outcome gives its reason", code="invalid_kyc_outcome")


class KycProvider(Protocol):
    name: str
    """Recorded as the cardholder's ``kyc_source`` when the provider's outcome is applied."""

    async def submit(self, applicant: KycApplicant) -> KycOutcome:
        """The provider's outcome for ``applicant``. A provider that cannot decide, or cannot reach
        its vendor, answers ``review`` with the reason instead of raising: a person decides then."""
        ...
