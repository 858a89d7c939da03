from __future__ import annotations

import httpx


class VaultUnavailable(Exception):
    pass


class HttpVaultClient:
    """VaultClient over HTTP, authenticated with the core's own vault credential (role ``core``)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 2.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    async def ping(self) -> None:
        try:
            response = await self._http.get("/healthz")
        except httpx.HTTPError as exc:
            raise VaultUnavailable(f"vault unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise VaultUnavailable(f"vault answered {response.status_code}")

    async def close(self) -> None:
        await self._http.aclose()
