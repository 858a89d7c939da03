"""Deny by default, for every route of both apps, discovered from the apps themselves.

For each route: no key -> 401; a key of every role the route does not admit -> 403; a key of
each admitted role -> neither 401 nor 403. New routes are covered without editing this file.
"""

from __future__ import annotations

import re

import pytest
from litestar import Litestar

from domain.access.model import ROLES

PUBLIC_PATHS = {"/healthz", "/readyz"}


def routes(app: Litestar) -> list[tuple[str, str, frozenset[str], bool]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if route.path.startswith("/schema"):
                continue
            for method in handler.http_methods:
                if method in ("HEAD", "OPTIONS"):
                    continue
                found.append((method, route.path, handler.opt.get("roles", frozenset()), bool(handler.opt.get("public"))))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}:]+(:[^}]+)?\}", "00000000-0000-7000-8000-000000000000", path)


def check_matrix(client, keys, app_name: str) -> int:
    checked = 0
    for method, path, admitted, public in routes(client.app):
        url = concrete(path)
        if public:
            assert path in PUBLIC_PATHS, f"{method} {path} is public but not a health probe"
            continue
        assert admitted, f"{method} {path} declares no roles: it would refuse everyone"
        response = client.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
        assert response.status_code == 401, f"{method} {path} without a key gave {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        for role in sorted(ROLES[app_name]):
            response = client.request(method, url, headers=keys.headers(role),
                                      json={} if method in ("POST", "PUT", "PATCH") else None)
            if role in admitted:
                assert response.status_code not in (401, 403), f"{method} {path} refused admitted role {role}"
            else:
                assert response.status_code == 403, f"{method} {path} let role {role} through ({response.status_code})"
                assert response.json()["code"] == "forbidden"
        checked += 1
    return checked


def test_every_core_route_denies_by_default(core_client, core_keys):
    assert check_matrix(core_client, core_keys, "core") >= 2


def test_every_vault_route_denies_by_default(vault_client, vault_keys):
    assert check_matrix(vault_client, vault_keys, "vault") >= 2


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer bsk_unknown_secret", "Basic abc", "Bearer "])
def test_bad_credentials_are_401_problems(core_client, header):
    response = core_client.get("/v1/admin/api-keys", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_core_key_does_not_open_the_vault(vault_client, core_keys):
    response = vault_client.get("/v1/admin/api-keys", headers=core_keys.headers("admin"))
    assert response.status_code == 401


def test_revoked_key_is_refused(core_client, settings):
    import asyncio

    from entrypoints.runtime.bootstrap import KeyAdmin

    admin = KeyAdmin(settings)
    created = asyncio.run(admin.create("core", "admin", "to revoke"))
    headers = {"Authorization": f"Bearer {created.token}"}
    assert core_client.get("/v1/admin/api-keys", headers=headers).status_code == 200
    revoked = core_client.post(f"/v1/admin/api-keys/{created.key.id}/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert core_client.get("/v1/admin/api-keys", headers=headers).status_code == 401


def test_health_probes_need_no_key(core_client, vault_client):
    assert core_client.get("/healthz").json() == {"status": "ok"}
    assert vault_client.get("/healthz").json() == {"status": "ok"}
    ready = vault_client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "hsm": "ok", "keys": "ok"}


def test_an_app_whose_route_would_skip_authorization_is_not_built():
    """Authorization is the app's ``before_request``; litestar lets a route set its own, which would
    replace it, so building such an app fails instead."""
    from litestar import get

    from entrypoints.http.app_factory import build_app
    from entrypoints.http.security import Authenticator, roles

    async def nothing(request) -> None:
        return None

    @get("/v1/open", opt=roles("admin"), before_request=nothing)
    async def open_route() -> dict:
        return {}

    async def no_key(token: str):
        return None

    with pytest.raises(RuntimeError, match="/v1/open"):
        build_app(title="t", description="d", route_handlers=[open_route], authenticator=Authenticator("core", no_key, ttl=1), readiness={}, lifespan=[], max_body_bytes=1024)
