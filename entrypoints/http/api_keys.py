"""Credential administration (role ``admin``): list and revoke. Keys are created with the
``bursar keys create`` CLI, which prints the secret once; an HTTP route would have to store
a replayable response holding it to be idempotent."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from application.access.manage_api_keys import ApiKeys
from domain.access.model import ApiKey
from entrypoints.http.security import roles


class ApiKeyView(msgspec.Struct, frozen=True):
    id: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(id=key.id, role=key.role, name=key.name, created_at=key.created_at, revoked_at=key.revoked_at)


class ApiKeyList(msgspec.Struct, frozen=True):
    data: list[ApiKeyView]
    next_cursor: str | None = None


class ApiKeysController(Controller):
    path = "/v1/admin/api-keys"
    tags = ["admin"]
    opt = roles("admin")

    @get("/", summary="List this API's keys (never their secrets)")
    async def list_keys(self, state: State) -> ApiKeyList:
        service: ApiKeys = state.api_keys
        keys = await service.list()
        return ApiKeyList(data=[ApiKeyView.of(k) for k in keys])

    @post("/{key_id:str}/revoke", status_code=200, summary="Revoke a key (idempotent)")
    async def revoke(self, state: State, key_id: FromPath[str]) -> ApiKeyView:
        service: ApiKeys = state.api_keys
        return ApiKeyView.of(await service.revoke(key_id))
