"""Asks a program's real-time decision webhook, over httpx, within its time budget.

The request is a Standard Webhooks message (``webhook-id``, ``webhook-timestamp``,
``webhook-signature`` over both and the body), so a receiver verifies it exactly like the
event webhooks (docs/webhooks.md). The endpoint answers 2xx with ``{"approved": true|false,
"reason": "..."}``; anything else within the budget (another status, a body that is not that
object, no answer at all) is "no usable answer" and the program's fallback applies.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec

from adapters.webhooks.signing import StandardWebhookSigner
from application.ports.cards import DecisionAnswer
from domain.cards.model import DecisionWebhook

_MAX_BODY = 16 * 1024


class _Reply(msgspec.Struct, frozen=True, kw_only=True):
    approved: bool
    reason: str | None = None


_decode = msgspec.json.Decoder(_Reply).decode


class HttpxDecisionClient:
    def __init__(self, signer: StandardWebhookSigner, max_connections: int = 100) -> None:
        self._signer = signer
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, limits=self._limits, trust_env=False)
        return self._client

    async def ask(self, webhook: DecisionWebhook, request_id: str, body: dict[str, Any]) -> DecisionAnswer:
        payload = msgspec.json.encode(body)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": request_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self._signer.sign([webhook.secret], request_id, timestamp, payload),
        }
        budget = webhook.timeout_ms / 1000
        started = time.perf_counter()

        def answer(approved: bool | None, reason: str | None) -> DecisionAnswer:
            return DecisionAnswer(approved=approved, reason=reason,
                                  elapsed_ms=round((time.perf_counter() - started) * 1000))

        try:
            async with asyncio.timeout(budget):
                async with self._http().stream("POST", webhook.url, content=payload, headers=headers,
                                               timeout=budget) as response:
                    if not 200 <= response.status_code < 300:
                        return answer(None, f"status {response.status_code}")
                    raw = bytearray()
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        if len(raw) > _MAX_BODY:
                            return answer(None, "answer larger than 16 KiB")
        except (TimeoutError, httpx.TimeoutException):
            return answer(None, f"no answer within {webhook.timeout_ms} ms")
        except httpx.HTTPError as exc:
            return answer(None, type(exc).__name__)
        try:
            reply = _decode(bytes(raw))
        except msgspec.DecodeError:
            return answer(None, 'answer is not {"approved": true|false}')
        return answer(reply.approved, (reply.reason or "")[:200] or None)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
