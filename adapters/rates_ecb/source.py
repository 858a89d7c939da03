"""Read the ECB's euro reference rates (the ``eurofxref-daily.xml`` format).

The document holds one ``<Cube time="YYYY-MM-DD">`` per day (one in the daily file, many in the
historical ones), each with ``<Cube currency="USD" rate="1.0812"/>`` children: 1 EUR is worth
``rate`` of the currency. Every rate becomes a ``Rate`` from EUR with source ``"ECB"`` and
``as_of`` the reference date at 14:10 CET, the ECB's daily concertation, taken as 13:10 UTC
all year (the hour of summer time does not matter for staleness). A currency that is not in
Bursar's ISO 4217 table (one withdrawn, like BGN in historical files, or one newer than the
table) is skipped with a warning, so it cannot block the others; a malformed document fails.

``EcbRateSource`` downloads ``ECB_DAILY_URL`` (or any configured URL) with httpx when a URL is
given, and otherwise reads a file: by default the bundled offline snapshot, whose rates go
stale quickly, so quotes made from it are refused with ``stale_rate`` instead of mispriced.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import httpx

from domain.fx import Rate
from domain.shared.errors import DomainError
from domain.shared.money import currency

log = logging.getLogger("bursar.fx.ecb")

ECB_SOURCE = "ECB"
ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
SNAPSHOT = Path(__file__).with_name("eurofxref-daily.xml")
"""The bundled offline snapshot."""

_CUBE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}Cube"
_REFERENCE_TIME = time(13, 10, tzinfo=UTC)


class EcbRatesError(Exception):
    """The ECB rates could not be fetched, or the document is not in the ECB format."""


def parse_ecb_xml(data: bytes, fetched_at: datetime) -> list[Rate]:
    """Every rate of every day in an ECB reference-rates document, stamped ``fetched_at``."""
    if b"<!DOCTYPE" in data:
        raise EcbRatesError("refusing an ECB document with a DOCTYPE (entities are not expected)")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise EcbRatesError(f"the ECB document is not well-formed XML: {exc}") from None
    days = root.findall(f"{_CUBE}/{_CUBE}[@time]")
    if not days:
        raise EcbRatesError("the ECB document has no <Cube time=...> element")
    return [rate for day in days for rate in _day_rates(day, fetched_at)]


def _day_rates(day: ElementTree.Element, fetched_at: datetime) -> Iterator[Rate]:
    reference_date = day.get("time", "")
    try:
        as_of = datetime.combine(date.fromisoformat(reference_date), _REFERENCE_TIME)
    except ValueError:
        raise EcbRatesError(f"the ECB document has a bad date {reference_date!r}") from None
    for cube in day.findall(_CUBE):
        code = cube.get("currency", "")
        if _is_iso_currency(code):
            yield _rate(code, cube.get("rate", ""), as_of, fetched_at)
        else:
            log.warning("skipping the ECB rate of %r: not an ISO 4217 currency with minor units", code)


def _is_iso_currency(code: str) -> bool:
    try:
        currency(code)
    except DomainError:
        return False
    return True


def _rate(code: str, value: str, as_of: datetime, fetched_at: datetime) -> Rate:
    try:
        return Rate(base="EUR", quote=code, value=Decimal(value), source=ECB_SOURCE, as_of=as_of, fetched_at=fetched_at)
    except (DomainError, decimal.InvalidOperation) as exc:
        raise EcbRatesError(f"the ECB document has a bad rate {code!r}={value!r}: {exc}") from None


class EcbRateSource:
    """RateSource over the ECB's reference rates: from ``url`` when one is given, else from ``path``."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path = SNAPSHOT,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``timeout`` bounds each phase of the download (seconds); ``transport`` is for tests."""
        self._url = url
        self._path = path
        self._timeout = timeout
        self._transport = transport

    @property
    def location(self) -> str:
        """Where the rates come from: the URL, or the file's path."""
        return self._url or str(self._path)

    async def fetch(self, fetched_at: datetime) -> list[Rate]:
        data = await self._download(self._url) if self._url else self._read(self._path)
        return parse_ecb_xml(data, fetched_at)

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise EcbRatesError(f"cannot read the ECB rates from {path}: {exc.strerror}") from None

    async def _download(self, url: str) -> bytes:
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
            try:
                response = await client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise EcbRatesError(f"cannot fetch the ECB rates from {url}: {type(exc).__name__}") from None
        return response.content


SNAPSHOT_LOCATION = "snapshot"
"""The name of the bundled snapshot where a location is expected (settings, the CLI)."""


def ecb_source_at(location: str) -> EcbRateSource:
    """The ECB source for a configured location: an ``http(s)://`` URL to download, a file path,
    or ``snapshot`` (or nothing) for the bundled offline snapshot."""
    location = location.strip()
    if location in ("", SNAPSHOT_LOCATION):
        return EcbRateSource()
    if location.startswith(("http://", "https://")):
        return EcbRateSource(url=location)
    return EcbRateSource(path=Path(location))
