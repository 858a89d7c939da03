"""One contract for KycProvider, run against both adapters: manual review and the simulated vendor.

What CreateCardholder relies on: a provider has a name (recorded as ``kyc_source``), answers every
applicant (odd names, no email, no birth date) with a complete outcome instead of raising, answers
the same applicant the same way, and a ``verified`` outcome names a tier Bursar knows.
"""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from adapters.kyc import ManualReview, SimulatedVendor
from application.ports.kyc import KycApplicant, KycOutcome, KycProvider
from domain.cards.model import TIERS

APPLICANTS = [
    KycApplicant(cardholder_id="ch_1", name="Jane Doe", country="DE", birth_date=date(1990, 4, 1),
                 email="jane@example.com"),
    KycApplicant(cardholder_id="ch_2", name="李小龍", country="HK"),
    KycApplicant(cardholder_id="ch_3", name="X", country="US", email="x@y"),
    KycApplicant(cardholder_id="ch_4", name="Rejected Reviewer " * 10, country="FR"),
]


@pytest.fixture(params=["manual", "simulated"])
def provider(request) -> KycProvider:
    return ManualReview() if request.param == "manual" else SimulatedVendor()


def outcome(provider: KycProvider, applicant: KycApplicant) -> KycOutcome:
    return asyncio.run(provider.submit(applicant))


def test_a_provider_has_a_short_name(provider) -> None:
    assert provider.name and provider.name.isidentifier() and len(provider.name) <= 32
    assert provider.name not in ("screening", "ops")  # the sources CreateCardholder and ops use


@pytest.mark.parametrize("applicant", APPLICANTS, ids=lambda a: a.cardholder_id)
def test_every_applicant_gets_a_complete_outcome(provider, applicant) -> None:
    answer = outcome(provider, applicant)
    assert isinstance(answer, KycOutcome) and answer.decision in ("verified", "rejected", "review")
    if answer.decision == "verified":
        assert answer.tier in TIERS
    else:
        assert answer.tier is None and answer.reason
    assert answer.reason is None or len(answer.reason) <= 2000  # what the cardholder row keeps


@pytest.mark.parametrize("applicant", APPLICANTS, ids=lambda a: a.cardholder_id)
def test_the_same_applicant_gets_the_same_outcome(provider, applicant) -> None:
    assert outcome(provider, applicant) == outcome(provider, applicant)


def test_concurrent_submissions_are_answered_independently(provider) -> None:
    async def all_at_once() -> list[KycOutcome]:
        return list(await asyncio.gather(*(provider.submit(a) for a in APPLICANTS)))

    assert asyncio.run(all_at_once()) == [outcome(provider, a) for a in APPLICANTS]
