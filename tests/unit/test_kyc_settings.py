"""KYC settings: manual by default, the simulated vendor on request, never in production."""

from __future__ import annotations

import pytest

from dependency_injector import providers

from adapters.kyc import ManualReview, SimulatedVendor
from entrypoints.containers import CoreContainer
from entrypoints.settings import ConfigError, KycSettings, Settings


def provider_for(settings: Settings):
    container = CoreContainer()
    container.settings.override(providers.Object(settings))
    return container.kyc_provider()


def kyc(**env: str) -> KycSettings:
    return Settings.from_env(env).kyc


def test_manual_review_is_the_default() -> None:
    assert kyc() == KycSettings(provider="manual", simulated_tier="basic", simulated_delay_seconds=0.0)
    assert kyc(BURSAR_ENV="production") == KycSettings()
    assert isinstance(provider_for(Settings.from_env({})), ManualReview)


def test_the_simulated_vendor_and_its_settings() -> None:
    settings = Settings.from_env({"BURSAR_KYC_PROVIDER": "Simulated", "BURSAR_KYC_SIMULATED_TIER": "premium",
                                  "BURSAR_KYC_SIMULATED_DELAY_SECONDS": "0.5"})
    assert settings.kyc == KycSettings(provider="simulated", simulated_tier="premium", simulated_delay_seconds=0.5)
    vendor = provider_for(settings)
    assert isinstance(vendor, SimulatedVendor) and (vendor.tier, vendor.delay_seconds) == ("premium", 0.5)


def test_the_simulated_vendor_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="refused when BURSAR_ENV=production"):
        Settings.from_env({"BURSAR_ENV": "production", "BURSAR_KYC_PROVIDER": "simulated"})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BURSAR_KYC_PROVIDER", "onfido", "one of manual, simulated"),
    ("BURSAR_KYC_SIMULATED_TIER", "gold", "one of basic, standard, premium"),
    ("BURSAR_KYC_SIMULATED_DELAY_SECONDS", "-1", "0 to 10"),
    ("BURSAR_KYC_SIMULATED_DELAY_SECONDS", "11", "0 to 10"),
    ("BURSAR_KYC_SIMULATED_DELAY_SECONDS", "soon", "must be a number"),
])
def test_bad_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})
