"""``POST /v1/reveal`` (role ``reveal``): card details for the holder of a fresh grant from the core."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, post
from litestar.datastructures import State
from litestar.params import JSONBody

from entrypoints.http.security import roles
from entrypoints.http.vault.auditing import current_actor, request_origin

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class RevealRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grant: Annotated[str, msgspec.Meta(min_length=1, max_length=4096, description="the grant from the core")]
    card_token: Annotated[str, msgspec.Meta(pattern=r"^tok_[a-z0-9]{26}$")] | None = None


class RevealedCardView(msgspec.Struct, frozen=True):
    pan: str
    exp_month: int
    exp_year: int
    cvv2: str


class RevealController(Controller):
    tags = ["reveal"]
    opt = roles("reveal")

    @post("/v1/reveal", summary="Reveal a card's PAN, expiry and CVV2 against a single-use grant")
    async def reveal(self, state: State, data: JSONBody[RevealRequest]) -> Response[RevealedCardView]:
        card = await state.container.reveals().reveal(data.grant, current_actor(), request_origin(), data.card_token)
        return Response(
            RevealedCardView(card.pan, card.exp_month, card.exp_year, card.cvv2), status_code=200, headers=NO_STORE
        )
