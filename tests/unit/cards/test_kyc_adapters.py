"""The two KYC providers on their own: manual review refers everyone to ops; the simulated vendor
follows the rules its docstring documents, deterministically, and says it is a simulation."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest

from adapters.kyc import ManualReview, SimulatedVendor
from application.ports.kyc import KycApplicant, KycOutcome
from domain.shared.errors import InvalidInput


def applicant(name: str = "Jane Doe", email: str | None = "jane@example.com") -> KycApplicant:
    return KycApplicant(cardholder_id="ch_1", name=name, country="DE", birth_date=date(1990, 4, 1), email=email)


def submit(provider, who: KycApplicant) -> KycOutcome:
    return asyncio.run(provider.submit(who))


def test_manual_review_refers_every_applicant_to_ops() -> None:
    provider = ManualReview()
    assert provider.name == "manual"
    for who in (applicant(), applicant("Reject Me"), applicant("Ann", None)):
        assert submit(provider, who) == KycOutcome(decision="review", reason="awaiting manual review by ops")


def test_the_simulated_vendor_verifies_at_its_configured_tier() -> None:
    assert SimulatedVendor().tier == "basic"
    outcome = submit(SimulatedVendor(tier="premium"), applicant())
    assert (outcome.decision, outcome.tier) == ("verified", "premium")
    assert "simulated" in outcome.reason and "without any identity check" in outcome.reason


@pytest.mark.parametrize(("name", "email", "decision"), [
    ("Rejected Example", None, "rejected"),
    ("Jane Doe", "REJECT@example.com", "rejected"),
    ("Review Me", "review+reject@example.com", "rejected"),  # reject wins over review
    ("Needs Review", None, "review"),
    ("Jane Doe", "jane+review@example.com", "review"),
    ("Jane Doe", None, "verified"),
    ("Jürgen Straße", "jurgen@example.de", "verified"),
])
def test_the_simulated_vendor_rules(name: str, email: str | None, decision: str) -> None:
    outcome = submit(SimulatedVendor(tier="standard"), applicant(name, email))
    assert outcome.decision == decision
    assert outcome.tier == ("standard" if decision == "verified" else None)
    assert outcome.reason and outcome.reason.startswith("simulated vendor")


def test_the_simulated_vendor_is_deterministic() -> None:
    vendor = SimulatedVendor()
    for who in (applicant(), applicant("Needs Review"), applicant("Rejected")):
        assert {submit(vendor, who) for _ in range(3)} == {submit(vendor, who)}


def test_the_simulated_vendor_can_be_as_slow_as_a_vendor() -> None:
    vendor = SimulatedVendor(delay_seconds=0.2)
    started = time.monotonic()
    assert submit(vendor, applicant()).decision == "verified"
    assert time.monotonic() - started >= 0.19


@pytest.mark.parametrize("kwargs", [{"tier": "gold"}, {"delay_seconds": -1}, {"delay_seconds": 11}])
def test_the_simulated_vendor_refuses_a_bad_configuration(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SimulatedVendor(**kwargs)


@pytest.mark.parametrize("fields", [
    {"decision": "verified"},                                   # no tier
    {"decision": "rejected", "tier": "basic", "reason": "x"},   # a tier on a rejection
    {"decision": "rejected"},                                   # no reason
    {"decision": "review"},                                     # no reason
])
def test_an_outcome_is_complete_or_refused(fields: dict) -> None:
    with pytest.raises(InvalidInput) as error:
        KycOutcome(**fields)
    assert error.value.code == "invalid_kyc_outcome"
