"""The PCI entry for network authorizations: turn the PAN into its token and ask the core.

The network speaks PANs; the core must never see one. This entry looks the PAN up through the
blind index, replaces it with the card token and forwards the message to the core's
``POST /v1/network/authorizations``, returning the core's answer unchanged. A PAN the vault does
not hold (or one that fails its Luhn check) is declined here with ISO 8583 response code ``14``;
a core that cannot be reached gets ``91`` (issuer inoperative), so the network always gets a
decision.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from vault.cards.service import CardVault
from vault.errors import VaultError

log = logging.getLogger("bursar.vault.network")

CORE_AUTHORIZATIONS = "/v1/network/authorizations"


def decline(code: str, reason: str) -> dict[str, Any]:
    return {
        "authorization_id": None,
        "approved": False,
        "response_code": code,
        "approved_amount": 0,
        "card_amount": None,
        "card_currency": None,
        "decline_reason": reason,
    }


class CoreAuthorizations:
    """The core's network API, called with the vault's own core credential (role ``network``)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 2.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def authorize(self, message: dict[str, Any]) -> tuple[int, bytes, str]:
        response = await self._http.post(CORE_AUTHORIZATIONS, json=message)
        return response.status_code, response.content, response.headers.get("content-type", "application/json")

    async def close(self) -> None:
        await self._http.aclose()


class NetworkEntry:
    def __init__(self, cards: CardVault, core: CoreAuthorizations) -> None:
        self._cards = cards
        self._core = core

    async def authorize(self, message: dict[str, Any]) -> tuple[int, bytes | dict[str, Any], str]:
        """``(status, body, content type)`` to answer the network with. ``message`` carries ``pan``."""
        message = dict(message)
        pan = message.pop("pan")
        try:
            token = await self._cards.lookup(pan)
        except VaultError:  # not a card number at all (length, digits, Luhn)
            token = None
        if token is None:
            return 200, decline("14", "invalid_card"), "application/json"
        message["card_token"] = token
        try:
            return await self._core.authorize(message)
        except httpx.HTTPError as exc:
            log.error("core unreachable for authorization %s: %s", message.get("message_id"), type(exc).__name__)
            return 200, decline("91", "issuer_unavailable"), "application/json"
