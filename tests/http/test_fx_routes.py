"""The FX routes over HTTP, on PostgreSQL.

Two apps: the session's core app (development defaults: the bundled ECB snapshot loaded at
start-up, rates of any age, no markup), and a production-like one on a database of its own
with a controlled clock, a 250 bps markup, a 120-hour maximum rate age and an ECB source read
from a file the tests write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from adapters.postgres.database import Database
from adapters.postgres.fx import PostgresQuotes
from application.fx.use_quote import UseQuote
from domain.shared.errors import DomainError
from entrypoints.containers import CoreContainer
from entrypoints.http.core.app import create_core_app
from entrypoints.runtime import embedded_postgres
from entrypoints.runtime.bootstrap import KeyAdmin, migrate_schemas
from entrypoints.settings import DatabaseSettings, FxSettings, Settings
from tests.http.conftest import Keys

REFERENCE_DAY = "2031-03-03"
AS_OF = datetime(2031, 3, 3, 13, 10, tzinfo=UTC)  # the ECB's 14:10 CET, as the reader stamps it


def ecb_document(day: str, **rates: str) -> bytes:
    cubes = "".join(f"<Cube currency='{code}' rate='{rate}'/>" for code, rate in rates.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        f"<Cube><Cube time='{day}'>{cubes}</Cube></Cube></gesmes:Envelope>"
    ).encode()


class FakeClock:
    def __init__(self) -> None:
        self.current = AS_OF + timedelta(minutes=50)

    def now(self) -> datetime:
        return self.current


@dataclasses.dataclass
class Strict:
    client: TestClient
    keys: Keys
    clock: FakeClock
    feed: Path
    settings: Settings
    rates_at_start: list[dict]
    """The rate table as the app started, before any test refreshed it."""

    def post(self, path: str, role: str, body: object, headers: dict[str, str] | None = None):
        return self.client.post(path, json=body, headers={**self.keys.headers(role), **(headers or {})})

    def get(self, path: str, role: str = "app", **params):
        return self.client.get(path, params=params, headers=self.keys.headers(role))


@pytest.fixture(scope="module")
def strict(postgres_server_uri: str, settings: Settings, tmp_path_factory) -> Iterator[Strict]:
    name = f"bursar_fx_http_{uuid.uuid4().hex[:8]}"
    admin = embedded_postgres.ensure_database(postgres_server_uri, name)
    migrate_schemas(admin)
    feed = tmp_path_factory.mktemp("ecb") / "eurofxref-daily.xml"
    own = dataclasses.replace(
        settings,
        env="production",
        database=DatabaseSettings(admin_url=admin, core_url=None, vault_url=None, pool_min=1, pool_max=4),
        fx=FxSettings(markup_bps=250, quote_ttl_seconds=60, max_rate_age_hours=120, ecb_source=str(feed)),
    )

    async def make_keys() -> dict[str, str]:
        admin_keys = KeyAdmin(own)
        return {role: (await admin_keys.create("core", role, f"fx {role}")).token for role in ("app", "ops", "auditor")}

    keys = Keys(asyncio.run(make_keys()))
    container = CoreContainer()
    container.settings.override(providers.Object(own))
    clock = FakeClock()
    container.clock.override(providers.Object(clock))
    try:
        with TestClient(create_core_app(container)) as client:
            at_start = client.get("/v1/fx/rates", headers=keys.headers("app")).json()["rates"]
            yield Strict(client, keys, clock, feed, own, at_start)
    finally:
        embedded_postgres.drop_database(postgres_server_uri, name)


@pytest.fixture(scope="module")
def loaded(strict: Strict) -> Strict:
    """The strict app with the feed's rates (refreshing again is harmless: same rates, same keys)."""
    strict.feed.write_bytes(ecb_document(REFERENCE_DAY, USD="1.1600", JPY="180.00", GBP="0.8800"))
    assert strict.post("/v1/fx/rates/refresh", "ops", None).status_code == 200
    return strict


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert "Traceback" not in response.text
    return body


# --- Development defaults: the session's app ----------------------------------------------------


def test_development_starts_with_the_bundled_snapshot(core_client, core_keys) -> None:
    response = core_client.get("/v1/fx/rates", headers=core_keys.headers("ops"))
    assert response.status_code == 200, response.text
    table = response.json()
    assert (table["base"], table["pivot"], table["max_rate_age_hours"]) == ("EUR", "EUR", None)
    usd = next(line for line in table["rates"] if line["currency"] == "USD")
    assert usd == {**usd, "rate": "1.1587", "source": "ECB", "as_of": "2026-11-19T13:10:00Z", "stale": False}
    ecb = {line["currency"] for line in table["rates"] if line["source"] == "ECB"}
    assert {"USD", "JPY", "GBP", "CHF", "KRW"} <= ecb and len(ecb) >= 29


def test_rates_from_another_base_are_cross_rates_as_strings(core_client, core_keys) -> None:
    response = core_client.get("/v1/fx/rates", params={"base": "USD"}, headers=core_keys.headers("app"))
    assert response.status_code == 200, response.text
    rates = {line["currency"]: line for line in response.json()["rates"]}
    assert rates["JPY"]["rate"] == "156.51160783636834383"  # 181.35 / 1.1587, 20 significant digits
    assert rates["EUR"]["rate"] == "0.86303616121515491499"  # 1 / 1.1587
    assert "USD" not in rates


def test_development_quotes_work_out_of_the_box(core_client, core_keys) -> None:
    response = core_client.post("/v1/fx/quotes", json={"from": "USD", "to": "JPY", "amount": 1999},
                                headers=core_keys.headers("app"))
    assert response.status_code == 201, response.text
    quote = response.json()
    # 19.99 USD * 156.51160783636834383 = 3128.667... JPY -> 3129 (0 decimals); no markup by default
    assert {k: quote[k] for k in ("from", "to", "rate", "from_amount", "to_amount", "fee", "total_amount",
                                  "markup_bps", "rate_source")} == {
        "from": "USD", "to": "JPY", "rate": "156.51160783636834383", "from_amount": 1999, "to_amount": 3129,
        "fee": 0, "total_amount": 3129, "markup_bps": 0, "rate_source": "ECB",
    }
    created, expires = (datetime.fromisoformat(quote[k]) for k in ("created_at", "expires_at"))
    assert expires - created == timedelta(seconds=300)
    assert uuid.UUID(quote["id"]).version == 7


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [({"base": "usd"}, 400, "validation_error"), ({"base": "ZZZ"}, 400, "unknown_currency"),
     ({"base": "OMR"}, 422, "rate_unavailable")],
)
def test_bad_bases_are_problems(core_client, core_keys, params, status, code) -> None:
    problem(core_client.get("/v1/fx/rates", params=params, headers=core_keys.headers("app")), status, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from": "USD", "to": "JPY"}, 400, "validation_error"),
        ({"from": "USD", "to": "JPY", "amount": 0}, 400, "validation_error"),
        ({"from": "USD", "to": "JPY", "amount": 12.5}, 400, "validation_error"),
        ({"from": "USD", "to": "JPY", "amount": 100, "markup_bps": 0}, 400, "validation_error"),
        ({"from": "usd", "to": "JPY", "amount": 100}, 400, "validation_error"),
        ({"from": "USD", "to": "USD", "amount": 100}, 400, "same_currency"),
        ({"from": "ZZZ", "to": "USD", "amount": 100}, 400, "unknown_currency"),
        ({"from": "USD", "to": "XAU", "amount": 100}, 400, "unknown_currency"),
        ({"from": "USD", "to": "OMR", "amount": 100}, 422, "rate_unavailable"),
        ({"id": "has space", "from": "USD", "to": "JPY", "amount": 100}, 400, "validation_error"),
    ],
)
def test_bad_quote_requests_are_problems(core_client, core_keys, body, status, code) -> None:
    problem(core_client.post("/v1/fx/quotes", json=body, headers=core_keys.headers("app")), status, code)


def test_a_malformed_body_is_a_problem(core_client, core_keys) -> None:
    response = core_client.post("/v1/fx/quotes", content=b'{"from": "USD",', headers={
        **core_keys.headers("app"), "content-type": "application/json"})
    problem(response, 400, "malformed_json")


def test_only_apps_quote_and_only_ops_set_or_refresh_rates(core_client, core_keys) -> None:
    quote = {"from": "USD", "to": "JPY", "amount": 100}
    assert core_client.post("/v1/fx/quotes", json=quote, headers=core_keys.headers("ops")).status_code == 403
    rate = {"quote": "JOD", "rate": "0.8214"}
    assert core_client.post("/v1/fx/rates", json=rate, headers=core_keys.headers("app")).status_code == 403
    assert core_client.post("/v1/fx/rates/refresh", headers=core_keys.headers("app")).status_code == 403
    assert core_client.get("/v1/fx/rates", headers=core_keys.headers("auditor")).status_code == 403


# --- Production-like: markup, staleness, manual rates, refreshes, idempotency ------------------


def test_a_database_without_rates_is_not_seeded_outside_development(strict: Strict) -> None:
    assert strict.rates_at_start == []
    strict.clock.current = AS_OF - timedelta(days=1)  # before any rate of this module
    problem(strict.post("/v1/fx/quotes", "app", {"from": "EUR", "to": "USD", "amount": 100}), 422, "rate_unavailable")


def test_ops_refresh_from_the_configured_source(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(minutes=50)
    response = strict.post("/v1/fx/rates/refresh", "ops", None)
    assert response.status_code == 200, response.text
    assert response.json() == {"source": str(strict.feed), "rates": 3, "as_of": ["2031-03-03T13:10:00Z"],
                               "fetched_at": strict.clock.current.isoformat().replace("+00:00", "Z")}
    table = strict.get("/v1/fx/rates").json()
    assert table["max_rate_age_hours"] == 120
    assert [(r["currency"], r["rate"], r["stale"]) for r in table["rates"]] == [
        ("GBP", "0.8800", False), ("JPY", "180.00", False), ("USD", "1.1600", False)]


def test_a_quote_carries_the_markup_and_reconciles(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(minutes=50)
    response = strict.post("/v1/fx/quotes", "app", {"from": "USD", "to": "JPY", "amount": 1999})
    assert response.status_code == 201, response.text
    q = response.json()
    # 19.99 USD * (180 / 1.16 = 155.17241379310344828) = 3101.8966 -> 3102 JPY; fee 2.5 % = 77.55 -> 78
    assert (q["rate"], q["to_amount"], q["fee"], q["total_amount"], q["markup_bps"]) == (
        "155.17241379310344828", 3102, 78, 3180, 250)
    assert q["to_amount"] + q["fee"] == q["total_amount"]
    assert datetime.fromisoformat(q["expires_at"]) == strict.clock.current + timedelta(seconds=60)


def test_a_refresh_that_fails_is_a_502_and_keeps_the_rates(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(minutes=50)
    before = strict.get("/v1/fx/rates").json()
    good = strict.feed.read_bytes()
    try:
        for broken in (b"<html>maintenance</html>", ecb_document(REFERENCE_DAY, USD="1.16", JPY="n/a")):
            strict.feed.write_bytes(broken)
            problem(strict.post("/v1/fx/rates/refresh", "ops", None), 502, "rate_source_failed")
    finally:
        strict.feed.write_bytes(good)
    assert strict.get("/v1/fx/rates").json() == before


def test_stale_rates_are_refused_until_a_fresh_one_arrives(loaded: Strict) -> None:
    strict = loaded
    request = {"from": "EUR", "to": "USD", "amount": 10_000}
    strict.clock.current = AS_OF + timedelta(hours=120)
    assert strict.post("/v1/fx/quotes", "app", request).status_code == 201  # exactly 120 hours old: fresh
    strict.clock.current = AS_OF + timedelta(hours=120, seconds=1)
    body = problem(strict.post("/v1/fx/quotes", "app", request), 422, "stale_rate")
    assert "EUR->USD" in body["detail"]
    stale = {r["currency"]: r["stale"] for r in strict.get("/v1/fx/rates").json()["rates"]}
    assert stale == {"GBP": True, "JPY": True, "USD": True}

    set_rate = strict.post("/v1/fx/rates", "ops", {"quote": "USD", "rate": "1.1650"})
    assert set_rate.status_code == 201, set_rate.text
    now = strict.clock.current.isoformat().replace("+00:00", "Z")
    assert set_rate.json() == {"base": "EUR", "quote": "USD", "rate": "1.1650", "source": "manual",
                               "as_of": now, "fetched_at": now}
    q = strict.post("/v1/fx/quotes", "app", request).json()
    # 100 EUR * 1.1650 = 116.50 USD; fee 2.5 % = 2.9125 -> 2.91
    assert (q["rate"], q["rate_source"], q["to_amount"], q["fee"], q["total_amount"]) == ("1.1650", "manual", 11650, 291, 11941)
    problem(strict.post("/v1/fx/quotes", "app", {"from": "USD", "to": "JPY", "amount": 100}), 422, "stale_rate")


def test_a_manual_rate_prices_a_currency_the_ecb_lacks(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(hours=1)
    response = strict.post("/v1/fx/rates", "ops", {"base": "EUR", "quote": "KWD", "rate": "0.3561",
                                                  "as_of": "2031-03-03T14:00:00+01:00"})
    assert response.status_code == 201, response.text
    assert response.json()["as_of"] == "2031-03-03T13:00:00Z"
    q = strict.post("/v1/fx/quotes", "app", {"from": "JPY", "to": "KWD", "amount": 12_345}).json()
    # 12345 JPY * (0.3561 / 180 = 0.0019783333333333333333) = 24.4225249... KWD -> 24.423 (3 decimals)
    # fee 2.5 % of 24.423 = 0.610575 -> 0.611
    assert (q["rate"], q["rate_source"], q["to_amount"], q["fee"], q["total_amount"]) == (
        "0.0019783333333333333333", "ECB+manual", 24_423, 611, 25_034)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"quote": "KWD", "rate": 0.3561}, "validation_error"),  # a JSON number: rates are strings
        ({"quote": "KWD", "rate": "3.5e-1"}, "validation_error"),
        ({"quote": "KWD", "rate": "-0.35"}, "validation_error"),
        ({"quote": "KWD", "rate": "0"}, "invalid_rate"),
        ({"quote": "KWD", "rate": "0.000"}, "invalid_rate"),
        ({"base": "USD", "quote": "KWD", "rate": "0.3073"}, "rate_not_pivot_based"),
        ({"quote": "EUR", "rate": "1"}, "same_currency"),
        ({"quote": "XAU", "rate": "0.0004"}, "unknown_currency"),
        ({"quote": "KWD", "rate": "0.3561", "as_of": "2031-03-03T14:00:00"}, "naive_datetime"),
        ({"quote": "KWD", "rate": "0.3561", "source": "ECB"}, "validation_error"),
    ],
)
def test_bad_manual_rates_are_problems(strict: Strict, body: dict, code: str) -> None:
    problem(strict.post("/v1/fx/rates", "ops", body), 400, code)


def test_a_quote_id_makes_quoting_idempotent(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(hours=2)
    request = {"id": f"order-{uuid.uuid4().hex[:8]}", "from": "GBP", "to": "USD", "amount": 5_000}
    first = strict.post("/v1/fx/quotes", "app", request)
    assert (first.status_code, first.json()["id"]) == (201, request["id"])
    strict.clock.current += timedelta(minutes=5)  # expired by now: a replay still answers it
    replay = strict.post("/v1/fx/quotes", "app", request)
    assert (replay.status_code, replay.json()) == (200, first.json())
    problem(strict.post("/v1/fx/quotes", "app", {**request, "amount": 5_001}), 409, "idempotency_conflict")
    problem(strict.post("/v1/fx/quotes", "app", {**request, "to": "JPY"}), 409, "idempotency_conflict")


def test_an_idempotency_key_makes_quoting_idempotent_per_api_key(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(hours=2)
    request = {"from": "GBP", "to": "JPY", "amount": 7_500}
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = strict.post("/v1/fx/quotes", "app", request, key)
    again = strict.post("/v1/fx/quotes", "app", request, key)
    assert (first.status_code, again.status_code, again.json()) == (201, 200, first.json())
    problem(strict.post("/v1/fx/quotes", "app", {**request, "amount": 1}, key), 409, "idempotency_conflict")
    fresh = strict.post("/v1/fx/quotes", "app", request, {"Idempotency-Key": f"k-{uuid.uuid4()}"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]

    other_app = asyncio.run(KeyAdmin(strict.settings).create("core", "app", "another app")).token
    theirs = strict.client.post("/v1/fx/quotes", json=request, headers={"Authorization": f"Bearer {other_app}", **key})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    both = strict.post("/v1/fx/quotes", "app", {**request, "id": "x1"}, {"Idempotency-Key": "x1"})
    problem(both, 400, "validation_error")


def test_a_quote_is_used_once_and_not_after_it_expires(loaded: Strict) -> None:
    strict = loaded
    strict.clock.current = AS_OF + timedelta(hours=3)
    request = {"from": "EUR", "to": "GBP", "amount": 2_000}
    used, expiring = (strict.post("/v1/fx/quotes", "app", request).json()["id"] for _ in range(2))

    async def use_all() -> list[str]:
        db = Database(strict.settings.database.for_core(), min_size=1, max_size=8)
        await db.open()
        try:
            use = UseQuote(PostgresQuotes(db.pool), strict.clock)
            outcomes = await asyncio.gather(*(use(used) for _ in range(6)), return_exceptions=True)
            strict.clock.current += timedelta(seconds=60)
            outcomes += await asyncio.gather(use(expiring), use(used), return_exceptions=True)
        finally:
            await db.close()
        return [o.code if isinstance(o, DomainError) else "used" for o in outcomes]

    outcomes = asyncio.run(use_all())
    assert sorted(outcomes[:6]) == ["quote_already_used"] * 5 + ["used"]
    assert outcomes[6:] == ["quote_expired", "quote_already_used"]
