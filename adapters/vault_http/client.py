"""VaultClient over HTTP, authenticated with the core's own vault credential (role ``core``)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from application.ports.vault import IssuedCardNumber
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable


class HttpVaultClient:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 2.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    async def ping(self) -> None:
        response = await self._send("GET", "/healthz")
        if response.status_code != 200:
            raise Unavailable(f"vault answered {response.status_code}")

    async def issue_pan(
        self, program_id: str, bin: str, exp_month: int, exp_year: int, idempotency_key: str
    ) -> IssuedCardNumber:
        response = await self._send(
            "POST", "/v1/pans",
            json={"program_id": program_id, "bin": bin, "exp_month": exp_month, "exp_year": exp_year},
            headers={"Idempotency-Key": idempotency_key},
        )
        return msgspec.convert(_body(response), IssuedCardNumber)

    async def shred(self, token: str) -> None:
        _body(await self._send("DELETE", f"/v1/tokens/{token}"))

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"vault unreachable: {type(exc).__name__}") from None


def _body(response: httpx.Response) -> Any:
    """The JSON body of a success; a vault problem becomes the domain error carrying its code."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        problem = response.json()
        code, detail = str(problem["code"]), str(problem.get("detail", ""))
    except (ValueError, KeyError, TypeError):
        code, detail = "vault_error", f"vault answered {response.status_code}"
    status = response.status_code
    if status >= 500 or status in (401, 403):  # the vault is down or our credential is wrong: not the caller's fault
        raise Unavailable(f"vault refused the core ({status} {code}): {detail}")
    kind = {404: NotFound, 409: Conflict, 410: NotFound, 422: InvalidInput, 400: InvalidInput}.get(status, DomainError)
    raise kind(f"vault: {detail}", code=code)
