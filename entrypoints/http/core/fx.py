"""FX routes: the rate table (roles ``app`` and ``ops``), quotes (``app``), manual rates and refreshes (``ops``).

Rates travel as decimal strings (``"1.1587"``), never JSON numbers, and are exactly the ones a
quote uses. Quotes are idempotent on a client-chosen ``id`` in the body (as ledger transfer ids
are), or on an ``Idempotency-Key`` header, which names a quote id derived from the caller's API
key and the header: a repeat gets the first quote back (``200``), the same key for another
amount or currency pair is ``409 idempotency_conflict``. Markup, time to live and rounding are
the deployment's FX settings (README, "Configuration"); see docs/fx.md.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import HeaderParameter, JSONBody, Parameter
from msgspec import Meta

from adapters.rates_ecb import EcbRatesError
from application.fx.create_quote import CreateQuote, NewQuote
from application.fx.read_rates import ReadRates
from application.fx.refresh_rates import RefreshRates
from application.fx.seed_rates import SeedRates
from application.fx.set_manual_rate import SetManualRate, SetRate
from domain.fx import PIVOT, Quote, Rate
from domain.shared.errors import InvalidInput
from entrypoints.containers import CoreContainer
from entrypoints.http.problems import ApiError
from entrypoints.http.security import current_principal, roles
from entrypoints.settings import FxSettings

log = logging.getLogger("bursar.fx")

CurrencyCode = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code")]
QuoteId = Annotated[
    str,
    Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
         description="your id for the quote: a repeat with the same id returns the first quote"),
]
RateText = Annotated[
    str,
    Meta(pattern=r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,24})?$",
         description='a positive decimal as a string, e.g. "0.3561": 1 base is worth this much quote'),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", max_length=128, min_length=1,
                    description="Repeat-safe quoting (or give `id` in the body); scoped to your API key."),
]


def decimal_text(value: Decimal) -> str:
    """A decimal as a plain string, never in exponent notation."""
    return format(value, "f")


class QuoteIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: QuoteId | None = None
    from_: CurrencyCode = msgspec.field(name="from")
    """The currency of ``amount``, e.g. the merchant's."""
    to: CurrencyCode
    """The currency to convert into, e.g. the card's."""
    amount: Annotated[int, Meta(ge=1, le=2**62, description="integer minor units of `from`")]


class QuoteOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    from_: str = msgspec.field(name="from")
    to: str
    rate: str
    """1 ``from`` is worth ``rate`` ``to`` (a decimal string), exactly as applied."""
    from_amount: int
    to_amount: int
    """``from_amount`` at ``rate``, in minor units of ``to``, rounded once."""
    fee: int
    """The markup, in minor units of ``to``: ``markup_bps`` of ``to_amount``."""
    total_amount: int
    """``to_amount + fee``: what the ``to`` side pays."""
    markup_bps: int
    rate_source: str
    rate_as_of: datetime
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, q: Quote) -> QuoteOut:
        return cls(
            id=q.id, from_=q.source_currency, to=q.target_currency, rate=decimal_text(q.rate.value),
            from_amount=q.source.amount, to_amount=q.converted.amount, fee=q.fee.amount, total_amount=q.total.amount,
            markup_bps=q.markup_bps, rate_source=q.rate.source, rate_as_of=q.rate.as_of, created_at=q.created_at,
            expires_at=q.expires_at,
        )


class RateLineOut(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    rate: str
    """1 ``base`` is worth ``rate`` of ``currency`` (a decimal string)."""
    source: str
    as_of: datetime
    fetched_at: datetime
    stale: bool
    """Older than the maximum age: quotes in this pair are refused (``stale_rate``)."""


class RateTableOut(msgspec.Struct, frozen=True, kw_only=True):
    base: str
    pivot: str
    at: datetime
    max_rate_age_hours: float | None
    """None: no maximum (development)."""
    rates: list[RateLineOut]


class ManualRateIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base: CurrencyCode = PIVOT
    """Must be the pivot (EUR): rates are stored against it."""
    quote: CurrencyCode
    rate: RateText
    as_of: datetime | None = None
    """When the rate takes effect (RFC 3339 with an offset); now when omitted."""


class RateOut(msgspec.Struct, frozen=True, kw_only=True):
    base: str
    quote: str
    rate: str
    source: str
    as_of: datetime
    fetched_at: datetime

    @classmethod
    def of(cls, r: Rate) -> RateOut:
        return cls(base=r.base, quote=r.quote, rate=decimal_text(r.value), source=r.source, as_of=r.as_of,
                   fetched_at=r.fetched_at)


class RefreshOut(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    """Where the rates came from (URL or file)."""
    rates: int
    """How many rates were received and saved."""
    as_of: list[datetime]
    """The reference times of the rates received, newest first."""
    fetched_at: datetime | None


def _quote_id(request: Request, body_id: str | None, idempotency_key: str | None) -> str | None:
    if body_id is not None and idempotency_key is not None:
        raise InvalidInput("give either an id in the body or an Idempotency-Key header, not both", code="validation_error")
    if idempotency_key is None:
        return body_id
    scope = f"{current_principal(request).key_id}\n{idempotency_key}".encode()
    return "idem_" + hashlib.sha256(scope).hexdigest()[:40]


class FxController(Controller):
    path = "/v1/fx"
    tags = ["fx"]

    @get("/rates", opt=roles("app", "ops"), summary="Rates from a base currency to every other, through the EUR pivot")
    async def rates(
        self,
        state: State,
        base: Annotated[str, Parameter(pattern=r"^[A-Z]{3}$", description="ISO 4217 code (default EUR)")] = PIVOT,
    ) -> RateTableOut:
        read: ReadRates = state.container.fx_read_rates()
        settings: FxSettings = state.container.settings().fx
        table = await read(base)
        return RateTableOut(
            base=table.base, pivot=PIVOT, at=table.at, max_rate_age_hours=settings.max_rate_age_hours,
            rates=[
                RateLineOut(currency=line.rate.quote, rate=decimal_text(line.rate.value), source=line.rate.source,
                            as_of=line.rate.as_of, fetched_at=line.rate.fetched_at, stale=line.stale)
                for line in table.rates
            ],
        )

    @post("/quotes", opt=roles("app"), summary="Quote a conversion: rate, both amounts, fee and expiry; idempotent on id")
    async def quote(
        self, request: Request, state: State, data: JSONBody[QuoteIn], idempotency_key: IdempotencyKey = None
    ) -> Response[QuoteOut]:
        create: CreateQuote = state.container.fx_create_quote()
        settings: FxSettings = state.container.settings().fx
        result = await create.create(
            NewQuote(
                source_amount=data.amount, source_currency=data.from_, target_currency=data.to,
                markup_bps=settings.markup_bps, ttl_seconds=settings.quote_ttl_seconds, rounding=settings.rounding,
                fee_rounding=settings.fee_rounding, quote_id=_quote_id(request, data.id, idempotency_key),
            )
        )
        return Response(QuoteOut.of(result.quote), status_code=201 if result.created else 200)

    @post("/rates", opt=roles("ops"), summary="Set a manual rate (EUR -> currency), e.g. for KWD, BHD, JOD")
    async def set_rate(self, request: Request, state: State, data: JSONBody[ManualRateIn]) -> Response[RateOut]:
        set_manual_rate: SetManualRate = state.container.fx_set_manual_rate()
        as_of = data.as_of
        if as_of is not None and as_of.tzinfo is not None:  # a naive time is refused by the domain
            as_of = as_of.astimezone(UTC)
        rate = await set_manual_rate(SetRate(base=data.base, quote=data.quote, value=Decimal(data.rate), as_of=as_of))
        log.info(
            "manual FX rate %s->%s %s as of %s set by key %s", rate.base, rate.quote, decimal_text(rate.value),
            rate.as_of.isoformat(), current_principal(request).key_id,
        )
        return Response(RateOut.of(rate), status_code=201)

    @post("/rates/refresh", opt=roles("ops"), status_code=200, summary="Fetch the ECB reference rates now")
    async def refresh(self, state: State) -> RefreshOut:
        refresh: RefreshRates = state.container.fx_refresh_rates()
        location = state.container.fx_rate_source().location
        try:
            refreshed = await refresh()
        except EcbRatesError as exc:
            raise ApiError(502, "rate_source_failed", str(exc)) from None
        log.info("refreshed %d FX rates from %s", len(refreshed.rates), location)
        return RefreshOut(
            source=location,
            rates=len(refreshed.rates),
            as_of=sorted({r.as_of for r in refreshed.rates}, reverse=True),
            fetched_at=refreshed.rates[0].fetched_at if refreshed.rates else None,
        )


async def seed_development_rates(container: CoreContainer) -> None:
    """In development, give an empty rate book the bundled ECB snapshot, so quotes work offline."""
    if not container.settings().fx.seed_snapshot:
        return
    seed: SeedRates = container.fx_seed_rates()
    loaded = await seed()
    if loaded is not None:
        days = sorted({r.as_of.date().isoformat() for r in loaded.rates})
        log.info("loaded %d FX rates from the bundled ECB snapshot (as of %s)", len(loaded.rates), ", ".join(days))
