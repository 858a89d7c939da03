"""The ECB's euro foreign exchange reference rates as a RateSource (online, or the bundled snapshot)."""

from adapters.rates_ecb.source import (
    ECB_DAILY_URL,
    ECB_SOURCE,
    SNAPSHOT,
    SNAPSHOT_LOCATION,
    EcbRateSource,
    EcbRatesError,
    ecb_source_at,
    parse_ecb_xml,
)

__all__ = [
    "ECB_DAILY_URL",
    "ECB_SOURCE",
    "SNAPSHOT",
    "SNAPSHOT_LOCATION",
    "EcbRateSource",
    "EcbRatesError",
    "ecb_source_at",
    "parse_ecb_xml",
]
