"""FX settings: development quotes from the old bundled snapshot; production refuses stale rates."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.rates_ecb import ECB_DAILY_URL
from domain.shared.money import Rounding
from entrypoints.settings import ConfigError, Settings


def fx(**env: str):
    return Settings.from_env(env).fx


def test_development_defaults_accept_any_age_and_read_the_snapshot() -> None:
    dev = fx()
    assert (dev.max_rate_age_hours, dev.max_rate_age, dev.ecb_source, dev.seed_snapshot) == (
        None, timedelta.max, "snapshot", True)
    assert (dev.markup_bps, dev.quote_ttl_seconds, dev.rounding, dev.fee_rounding) == (
        0, 300, Rounding.HALF_EVEN, Rounding.HALF_EVEN)


def test_production_defaults_refuse_rates_older_than_120_hours_and_use_the_ecb() -> None:
    prod = fx(BURSAR_ENV="production")
    assert (prod.max_rate_age, prod.ecb_source, prod.seed_snapshot) == (timedelta(hours=120), ECB_DAILY_URL, False)


def test_every_fx_setting_is_read() -> None:
    configured = fx(BURSAR_FX_MARKUP_BPS="275", BURSAR_FX_QUOTE_TTL_SECONDS="45", BURSAR_FX_MAX_RATE_AGE_HOURS="26.5",
                    BURSAR_FX_ROUNDING="half_up", BURSAR_FX_FEE_ROUNDING="floor", BURSAR_FX_ECB_SOURCE="/srv/ecb.xml")
    assert (configured.markup_bps, configured.quote_ttl_seconds, configured.max_rate_age) == (
        275, 45, timedelta(hours=26, minutes=30))
    assert (configured.rounding, configured.fee_rounding, configured.ecb_source) == (
        Rounding.HALF_UP, Rounding.FLOOR, "/srv/ecb.xml")
    assert fx(BURSAR_FX_MAX_RATE_AGE_HOURS="None").max_rate_age_hours is None


@pytest.mark.parametrize(
    "env",
    [
        {"BURSAR_ENV": "production", "BURSAR_FX_MAX_RATE_AGE_HOURS": "none"},
        {"BURSAR_FX_MAX_RATE_AGE_HOURS": "0"},
        {"BURSAR_FX_MAX_RATE_AGE_HOURS": "-1"},
        {"BURSAR_FX_MAX_RATE_AGE_HOURS": "a day"},
        {"BURSAR_FX_MARKUP_BPS": "10001"},
        {"BURSAR_FX_MARKUP_BPS": "-1"},
        {"BURSAR_FX_MARKUP_BPS": "2.5"},
        {"BURSAR_FX_QUOTE_TTL_SECONDS": "0"},
        {"BURSAR_FX_ROUNDING": "HALF_EVEN"},
        {"BURSAR_FX_FEE_ROUNDING": "bankers"},
    ],
)
def test_bad_fx_settings_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert next(iter(name for name in env if name.startswith("BURSAR_FX"))) in str(error.value)
