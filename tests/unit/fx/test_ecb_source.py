"""The ECB reference-rates reader: the bundled snapshot, documents as bytes, and the download."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from adapters.rates_ecb import ECB_DAILY_URL, SNAPSHOT, EcbRateSource, EcbRatesError, ecb_source_at, parse_ecb_xml

FETCHED_AT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ECB_CURRENCIES = set(
    "USD JPY CZK DKK GBP HUF PLN RON SEK CHF ISK NOK TRY AUD BRL CAD CNY "
    "HKD IDR ILS INR KRW MXN MYR NZD PHP SGD THB ZAR".split()
)
"""What the ECB publishes, less BGN: Bulgaria adopted the euro on 1 January 2026."""


def document(*days: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject><Cube>" + "".join(days) + "</Cube></gesmes:Envelope>"
    ).encode()


def day(date: str, **rates: str) -> str:
    return f"<Cube time='{date}'>" + "".join(f"<Cube currency='{c}' rate='{r}'/>" for c, r in rates.items()) + "</Cube>"


def test_the_bundled_snapshot_holds_every_ecb_currency() -> None:
    rates = parse_ecb_xml(SNAPSHOT.read_bytes(), FETCHED_AT)
    assert {r.quote for r in rates} == ECB_CURRENCIES
    assert len(rates) == len(ECB_CURRENCIES)
    assert {(r.base, r.source, r.as_of, r.fetched_at) for r in rates} == {
        ("EUR", "ECB", datetime(2026, 11, 19, 13, 10, tzinfo=UTC), FETCHED_AT)
    }
    by_code = {r.quote: r.value for r in rates}
    assert by_code["USD"] == Decimal("1.1587") and by_code["JPY"] == Decimal("181.35")
    assert not {"KWD", "BHD", "JOD"} & set(by_code)  # the ECB does not publish them: manual rates


def test_the_snapshot_says_it_is_an_offline_snapshot() -> None:
    assert b"OFFLINE SNAPSHOT" in SNAPSHOT.read_bytes()


def test_a_document_with_several_days_gives_every_rate_of_every_day() -> None:
    data = document(day("2026-11-19", USD="1.1587", GBP="0.88045"), day("2026-11-18", USD="1.16"))
    rates = parse_ecb_xml(data, FETCHED_AT)
    assert [(r.quote, r.value, r.as_of.date().isoformat()) for r in rates] == [
        ("USD", Decimal("1.1587"), "2026-11-19"),
        ("GBP", Decimal("0.88045"), "2026-11-19"),
        ("USD", Decimal("1.16"), "2026-11-18"),
    ]


def test_currencies_unknown_to_iso_4217_are_skipped(caplog) -> None:
    data = document(day("2025-12-31", BGN="1.9558", USD="1.1712", ZZZ="2"))
    assert [r.quote for r in parse_ecb_xml(data, FETCHED_AT)] == ["USD"]
    assert "'BGN'" in caplog.text and "'ZZZ'" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        b"not xml",
        document(),
        document(day("19 Nov 2026", USD="1.1")),
        document(day("2026-11-19", USD="abc")),
        document(day("2026-11-19", USD="-1.1")),
        document("<Cube time='2026-11-19'><Cube currency='USD'/></Cube>"),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
    ],
)
def test_documents_not_in_the_ecb_format_are_refused(data: bytes) -> None:
    with pytest.raises(EcbRatesError):
        parse_ecb_xml(data, FETCHED_AT)


def test_the_source_reads_the_bundled_snapshot_by_default() -> None:
    rates = asyncio.run(EcbRateSource().fetch(FETCHED_AT))
    assert rates == parse_ecb_xml(SNAPSHOT.read_bytes(), FETCHED_AT)


def test_the_source_reads_a_file(tmp_path) -> None:
    path = tmp_path / "rates.xml"
    path.write_bytes(document(day("2026-11-20", CHF="0.9282")))
    [rate] = asyncio.run(EcbRateSource(path=path).fetch(FETCHED_AT))
    assert (rate.quote, rate.value) == ("CHF", Decimal("0.9282"))


def test_the_source_downloads_when_a_url_is_configured() -> None:
    requested = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, content=document(day("2026-11-20", USD="1.1601")))

    source = EcbRateSource(url=ECB_DAILY_URL, transport=httpx.MockTransport(handler))
    [rate] = asyncio.run(source.fetch(FETCHED_AT))
    assert requested == [ECB_DAILY_URL]
    assert rate.value == Decimal("1.1601")


def unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def timing_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


@pytest.mark.parametrize("respond", [unavailable, timing_out])
def test_a_failed_download_is_reported(respond) -> None:
    source = EcbRateSource(url=ECB_DAILY_URL, transport=httpx.MockTransport(respond))
    with pytest.raises(EcbRatesError):
        asyncio.run(source.fetch(FETCHED_AT))


def test_a_missing_file_is_reported(tmp_path) -> None:
    with pytest.raises(EcbRatesError, match="cannot read"):
        asyncio.run(EcbRateSource(path=tmp_path / "absent.xml").fetch(FETCHED_AT))


@pytest.mark.parametrize(
    ("location", "expected"),
    [("", str(SNAPSHOT)), ("snapshot", str(SNAPSHOT)), (ECB_DAILY_URL, ECB_DAILY_URL), ("http://mirror/r.xml", "http://mirror/r.xml"),
     ("/srv/rates/eurofxref-daily.xml", "/srv/rates/eurofxref-daily.xml")],
)
def test_a_configured_location_names_a_url_a_file_or_the_snapshot(location: str, expected: str) -> None:
    assert ecb_source_at(location).location == expected
