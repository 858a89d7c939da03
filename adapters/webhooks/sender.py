"""POSTs webhooks with httpx: a total deadline per request, no redirects, no retries here (the
dispatcher retries), and failures returned as results, never raised."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from application.ports.events import SendResult

_DRAIN_BYTES = 64 * 1024
"""Read at most this much of a response (and ignore it), so the connection can be reused."""


class HttpxWebhookSender:
    def __init__(self, max_connections: int = 100) -> None:
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, limits=self._limits, trust_env=False)
        return self._client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> SendResult:
        try:
            async with asyncio.timeout(timeout):
                async with self._http().stream("POST", url, content=body, headers=dict(headers), timeout=timeout) as r:
                    drained = 0
                    async for chunk in r.aiter_raw():
                        drained += len(chunk)
                        if drained >= _DRAIN_BYTES:
                            break
                    return SendResult(status_code=r.status_code)
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(status_code=None, error=f"no response within {timeout:g} s")
        except httpx.HTTPError as exc:
            return SendResult(status_code=None, error=f"{type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
