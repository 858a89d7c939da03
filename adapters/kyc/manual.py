"""Manual review: Bursar decides nothing by itself; ops decide every cardholder through the API."""

from __future__ import annotations

from application.ports.kyc import KycApplicant, KycOutcome


class ManualReview:
    """Every applicant is referred to ops: the cardholder stays ``pending`` (and cannot transact)
    until an ops key records ``POST /v1/cardholders/{id}/kyc {"decision": "verified" | "rejected"}``.

    The default provider (``BURSAR_KYC_PROVIDER=manual``): no vendor, no network, safe anywhere.
    """

    name = "manual"

    async def submit(self, applicant: KycApplicant) -> KycOutcome:
        return KycOutcome(decision="review", reason="awaiting manual review by ops")
