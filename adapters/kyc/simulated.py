"""A simulated KYC vendor for demos and tests. It checks no identity: never use it for real people."""

from __future__ import annotations

import asyncio

from application.ports.kyc import KycApplicant, KycOutcome
from domain.cards.model import TIERS

REJECT_MARKER = "reject"
REVIEW_MARKER = "review"
MAX_DELAY_SECONDS = 10.0


class SimulatedVendor:
    """Answers like a KYC vendor would, from fixed rules, so a demo can show every outcome.

    The rules, applied to the applicant's name and email (case-insensitive, as substrings), in order:

    1. contains ``reject`` (``Rejected Example``, ``reject@example.com``): ``rejected``;
    2. contains ``review`` (``Review Me``, ``ann+review@example.com``): ``review``, the cardholder
       stays ``pending`` for ops to decide, as with the manual provider;
    3. anything else: ``verified`` at ``tier`` (``BURSAR_KYC_SIMULATED_TIER``, default ``basic``).

    The answer depends on nothing else (no clock, no randomness, no network): the same applicant
    always gets the same outcome. Every outcome's reason says it came from a simulation. An optional
    ``delay_seconds`` (``BURSAR_KYC_SIMULATED_DELAY_SECONDS``, 0 to 10) makes it as slow as a vendor.

    Selected with ``BURSAR_KYC_PROVIDER=simulated``; the settings refuse it when
    ``BURSAR_ENV=production``, with no override: it would verify anyone.
    """

    name = "simulated"

    def __init__(self, tier: str = "basic", delay_seconds: float = 0.0) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown KYC tier {tier!r} (one of {', '.join(TIERS)})")
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError(f"the simulated delay is 0 to {MAX_DELAY_SECONDS:g} seconds")
        self.tier = tier
        self.delay_seconds = delay_seconds

    async def submit(self, applicant: KycApplicant) -> KycOutcome:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        said = f"{applicant.name}\n{applicant.email or ''}".casefold()
        if REJECT_MARKER in said:
            return KycOutcome(decision="rejected", reason=f"simulated vendor: name or email contains {REJECT_MARKER!r}")
        if REVIEW_MARKER in said:
            return KycOutcome(decision="review",
                              reason=f"simulated vendor: name or email contains {REVIEW_MARKER!r}; ops decide")
        return KycOutcome(decision="verified", tier=self.tier,
                          reason="simulated vendor: verified without any identity check (demo only)")
