"""``POST /v1/network/authorizations`` on the vault (role ``network``): the PAN entry.

The same message as the core's authorization entry, with ``pan`` instead of ``card_token``.
The vault swaps the PAN for its token and returns the core's decision (see vault.network.entry).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, post
from litestar.datastructures import State
from litestar.params import JSONBody

from entrypoints.http.security import roles


class Merchant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    mcc: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")]
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
    id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class PanAuthorization(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    pan: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{12,19}$", description="the card number")]
    amount: Annotated[int, msgspec.Meta(gt=0, le=2**62)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    merchant: Merchant
    partial_allowed: bool = False

    def __repr__(self) -> str:  # never the PAN
        return f"PanAuthorization(message_id={self.message_id!r})"


class NetworkEntryController(Controller):
    tags = ["network"]
    opt = roles("network")

    @post("/v1/network/authorizations", summary="Authorize by PAN: tokenized here, decided by the core")
    async def authorize(self, state: State, data: JSONBody[PanAuthorization]) -> Response:
        status, body, media_type = await state.container.network_entry().authorize(msgspec.to_builtins(data))
        return Response(body, status_code=status, media_type=media_type)
