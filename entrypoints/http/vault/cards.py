"""The vault's card-data routes for the core (role ``core``): issue, tokenize, shred.

None ever returns a PAN; responses carry the token, BIN, last four digits and expiry.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody

from entrypoints.http.security import roles
from entrypoints.http.vault.auditing import current_actor, request_origin

IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", max_length=128, description="Repeat-safe issuance.")
]


class IssuePan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bin: Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{5}([0-9]{2})?$", description="6 or 8 digits")]
    exp_month: Annotated[int, msgspec.Meta(ge=1, le=12)]
    exp_year: Annotated[int, msgspec.Meta(ge=2000, le=2099)]
    program_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class TokenizePan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pan: Annotated[str, msgspec.Meta(max_length=32)]
    exp_month: Annotated[int, msgspec.Meta(ge=1, le=12)]
    exp_year: Annotated[int, msgspec.Meta(ge=2000, le=2099)]


class CardView(msgspec.Struct, frozen=True):
    token: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int


class TokenView(msgspec.Struct, frozen=True):
    token: str
    last4: str


class CardDataController(Controller):
    tags = ["card data"]
    opt = roles("core")

    @post("/v1/pans", summary="Issue a new PAN in a BIN range (the PAN never leaves the vault)")
    async def issue(self, state: State, data: JSONBody[IssuePan], idempotency_key: IdempotencyKey = None) -> Response[CardView]:
        card = await state.container.cards().issue(
            data.bin, data.exp_month, data.exp_year, data.program_id, current_actor(), request_origin(),
            idempotency_key=idempotency_key,
        )
        view = CardView(card.token, card.bin, card.last4, card.exp_month, card.exp_year)
        return Response(view, status_code=201 if card.created else 200)

    @post("/v1/tokens", summary="Tokenize an externally issued PAN (same PAN, same token)")
    async def tokenize(self, state: State, data: JSONBody[TokenizePan]) -> Response[TokenView]:
        card = await state.container.cards().tokenize(
            data.pan, data.exp_month, data.exp_year, current_actor(), request_origin()
        )
        return Response(TokenView(card.token, card.last4), status_code=201 if card.created else 200)

    @delete("/v1/tokens/{token:str}", summary="Crypto-shred a card: its PAN becomes unrecoverable (audited)")
    async def shred(self, state: State, token: FromPath[str]) -> None:
        await state.container.cards().shred(token, current_actor(), request_origin())
