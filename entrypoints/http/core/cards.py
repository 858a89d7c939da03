"""Programs (ops), cardholders and KYC, cards, fundings, balances, activity, reveal grants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from msgspec import Meta

from application.cards.cardholders import NewCardholder
from application.cards.cards import CardChange, Funding, NewCard, id_for
from application.cards.programs import NewProgram
from domain.cards.controls import Controls
from domain.cards.model import Card, Cardholder, Program, ProgramAccounts
from domain.cards.records import Authorization
from domain.shared.errors import Conflict
from entrypoints.http.security import current_principal, roles

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=128)]
Limit = Annotated[int, Meta(ge=1, le=500)]


class DecisionWebhookIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, Meta(max_length=2000, pattern=r"^https?://\S+$")]
    timeout_ms: Annotated[int, Meta(ge=50, le=3_000)] = 1_000
    fallback: Literal["approve", "decline"] = "decline"


class ProgramIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    bin: Annotated[str, Meta(pattern=r"^[1-9][0-9]{5}([0-9]{2})?$")]
    currency: Currency
    expiry_months: Annotated[int, Meta(ge=1, le=120)] = 36
    controls: Controls = Controls()
    fx_markup_bps: Annotated[int, Meta(ge=0, le=10_000)] = 0
    hold_seconds: Annotated[int, Meta(ge=60, le=31 * 24 * 3600)] = 7 * 24 * 3600
    accounts: ProgramAccounts | None = None
    decision_webhook: DecisionWebhookIn | None = None
    settlement_shards: Annotated[int, Meta(ge=1, le=64, description=(
        "split the settlement and FX fee accounts into this many ledger accounts, <account>:<nn>, so that "
        "authorizations on different cards do not queue on one ledger row (docs/cards.md)"))] = 1
    id: Id | None = None


class CardholderIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    country: Country
    birth_date: date | None = None
    email: Annotated[str, Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    address: dict[str, Annotated[str, Meta(max_length=200)]] | None = None


class MatchOut(msgspec.Struct, frozen=True):
    list: str
    entry_id: str
    name: str
    score: float
    why: str


class ScreeningOut(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    matches: list[MatchOut]
    case_id: str | None = None
    error: str | None = None


class CardholderOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    country: str
    birth_date: date | None
    email: str | None
    kyc_status: str
    kyc_tier: str | None
    created_at: datetime
    screening: ScreeningOut | None = None
    kyc_source: str | None = None
    """Who set ``kyc_status``: ``manual`` or ``simulated`` (the KYC provider), ``screening`` (held for
    the compliance review, never sent to the provider), ``ops:<api key id>``; null: not yet."""
    kyc_reason: str | None = None


class KycIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decision: Literal["verified", "rejected"]
    tier: Annotated[str, Meta(max_length=32)] | None = None
    evidence: Annotated[str, Meta(max_length=2000)] | None = None


class CardIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cardholder_id: Id
    program_id: Id
    controls: Controls = Controls()
    state: Literal["active", "inactive"] = "active"


class CardPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    state: Literal["active", "paused", "closed"] | None = None
    controls: Controls | None = None


class CardOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    cardholder_id: str
    program_id: str
    token: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    state: str
    currency: str
    controls: Controls
    account_id: str
    created_at: datetime
    updated_at: datetime


class FundingIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Id
    amount: Annotated[int, Meta(gt=0, le=2**62)]
    currency: Currency


class RevealGrantIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    vault_credential_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9-]{1,64}$",
                                             description="the vault API key (role reveal) that will redeem it")]


def program_view(program: Program, *, with_secret: bool) -> dict:
    """A program as JSON; its decision webhook's signing secret only in the answer that created it."""
    view = msgspec.to_builtins(program)
    if view.get("decision_webhook") and not with_secret:
        del view["decision_webhook"]["secret"]
    return view


def card_out(card: Card) -> CardOut:
    return CardOut(**{f: getattr(card, f) for f in CardOut.__struct_fields__})


def holder_out(holder: Cardholder, screening=None) -> CardholderOut:
    view = None
    if screening is not None:
        view = ScreeningOut(
            status=screening.status, case_id=screening.case_id, error=screening.error,
            matches=[MatchOut(list="ofac_sdn", entry_id=m.uid, name=m.matched_name, score=round(m.score, 4),
                              why=f"{m.matched_name_type} name '{m.matched_name}' of {m.primary_name}")
                     for m in screening.matches],
        )
    return CardholderOut(id=holder.id, name=holder.name, country=holder.country, birth_date=holder.birth_date,
                         email=holder.email, kyc_status=holder.kyc_status, kyc_tier=holder.kyc_tier,
                         created_at=holder.created_at, screening=view, kyc_source=holder.kyc_source,
                         kyc_reason=holder.kyc_reason)


def _scope(request: Request, route: str) -> str:
    return f"{current_principal(request).key_id}:{route}"


class ProgramsController(Controller):
    tags = ["cards"]

    @post("/v1/programs", opt=roles("ops"), summary="Create a card program (its ledger accounts too)")
    async def create(self, state: State, data: JSONBody[ProgramIn]) -> Response[dict]:
        program, created = await state.container.cards_create_program()(msgspec.convert(
            msgspec.to_builtins(data), NewProgram))
        return Response(program_view(program, with_secret=True), status_code=201 if created else 200)

    @get("/v1/programs/{program_id:str}", opt=roles("ops", "app"), summary="A card program")
    async def get_program(self, state: State, program_id: FromPath[str]) -> dict:
        return program_view(await state.container.cards_read_programs().get(program_id), with_secret=False)


class CardholdersController(Controller):
    tags = ["cards"]

    @post("/v1/cardholders", opt=roles("app", "ops"),
          summary="Create a cardholder, screened and submitted to KYC at once")
    async def create(self, state: State, request: Request, data: JSONBody[CardholderIn],
                     idempotency_key: IdempotencyKey = None) -> Response[CardholderOut]:
        holder_id = id_for("ch", _scope(request, "cardholders"), idempotency_key, state.container.ids())
        created = await state.container.cards_create_cardholder()(
            NewCardholder(name=data.name, country=data.country, birth_date=data.birth_date, email=data.email,
                          id=holder_id), actor=current_principal(request).key_id)
        return Response(holder_out(created.cardholder, created.screening), status_code=201 if created.created else 200)

    @get("/v1/cardholders/{cardholder_id:str}", opt=roles("app", "ops"), summary="A cardholder")
    async def get_holder(self, state: State, cardholder_id: FromPath[str]) -> CardholderOut:
        return holder_out(await state.container.cards_read_cardholders().get(cardholder_id))

    @post("/v1/cardholders/{cardholder_id:str}/kyc", opt=roles("ops"), status_code=200,
          summary="Record a KYC decision (manual review)")
    async def kyc(self, state: State, request: Request, cardholder_id: FromPath[str],
                  data: JSONBody[KycIn]) -> CardholderOut:
        return holder_out(await state.container.cards_decide_kyc()(
            cardholder_id, data.decision, data.tier, actor=current_principal(request).key_id, evidence=data.evidence))


class CardsController(Controller):
    tags = ["cards"]

    @post("/v1/cards", opt=roles("app"), summary="Issue a virtual card (the PAN stays in the vault)")
    async def issue(self, state: State, request: Request, data: JSONBody[CardIn],
                    idempotency_key: IdempotencyKey = None) -> Response[CardOut]:
        card_id = id_for("card", _scope(request, "cards"), idempotency_key, state.container.ids())
        card, created = await state.container.cards_issue()(
            NewCard(cardholder_id=data.cardholder_id, program_id=data.program_id, controls=data.controls,
                    state=data.state), card_id)
        return Response(card_out(card), status_code=201 if created else 200)

    @get("/v1/cards/{card_id:str}", opt=roles("app", "ops"), summary="A card (never its PAN)")
    async def get_card(self, state: State, card_id: FromPath[str]) -> CardOut:
        return card_out(await state.container.cards_read().get(card_id))

    @patch("/v1/cards/{card_id:str}", opt=roles("app", "ops"), summary="Change a card's state or controls")
    async def update(self, state: State, card_id: FromPath[str], data: JSONBody[CardPatch]) -> CardOut:
        return card_out(await state.container.cards_update()(card_id, CardChange(state=data.state,
                                                                                  controls=data.controls)))

    @post("/v1/cards/{card_id:str}/fundings", opt=roles("app", "ops"), summary="Fund a card from its program")
    async def fund(self, state: State, card_id: FromPath[str], data: JSONBody[FundingIn]) -> Response[dict]:
        result, transfer_id = await state.container.cards_fund()(card_id, Funding(
            id=data.id, amount=data.amount, currency=data.currency))
        if result.status == "failed":
            raise Conflict(f"the funding was refused by the ledger ({result.code})", code=result.code)
        return Response({"id": data.id, "status": result.status, "transfer_id": transfer_id},
                        status_code=201 if result.status == "created" else 200)

    @get("/v1/cards/{card_id:str}/balance", opt=roles("app", "ops"), summary="Posted, held and available")
    async def balance(self, state: State, card_id: FromPath[str]) -> dict:
        return msgspec.to_builtins(await state.container.cards_read().balance(card_id))

    @get("/v1/cards/{card_id:str}/authorizations", opt=roles("app", "ops"), summary="Authorizations, oldest first")
    async def authorizations(self, state: State, card_id: FromPath[str], limit: FromQuery[Limit] = 100,
                             cursor: FromQuery[str | None] = None) -> dict:
        items = await state.container.cards_read().authorizations(card_id, cursor, limit)
        return _page(items, limit, _authorization_view)

    @get("/v1/cards/{card_id:str}/transactions", opt=roles("app", "ops"), summary="Clearings and refunds")
    async def transactions(self, state: State, card_id: FromPath[str], limit: FromQuery[Limit] = 100,
                           cursor: FromQuery[str | None] = None) -> dict:
        items = await state.container.cards_read().transactions(card_id, cursor, limit)
        return _page(items, limit, lambda t: msgspec.to_builtins(t))

    @post("/v1/cards/{card_id:str}/reveal-grants", opt=roles("reveal"), summary="A single-use reveal grant")
    async def reveal_grant(self, state: State, request: Request, card_id: FromPath[str],
                           data: JSONBody[RevealGrantIn]) -> Response[dict]:
        card = await state.container.cards_read().get(card_id)
        if card.state == "closed":
            raise Conflict("a closed card cannot be revealed", code="card_closed")
        issued = state.container.issue_reveal_grant()(card.token, current_principal(request).key_id,
                                                      data.vault_credential_id)
        return Response({"grant": issued.grant, "expires_at": issued.expires_at}, status_code=201,
                        headers={"Cache-Control": "no-store"})


def _authorization_view(a: Authorization) -> dict:
    view = msgspec.to_builtins(a)
    view["ledger_transfer_ids"] = [a.hold_transfer_id] if a.hold_transfer_id else []
    return view


def _page(items: list, limit: int, view) -> dict:
    return {"data": [view(i) for i in items], "next_cursor": items[-1].id if len(items) == limit else None}


