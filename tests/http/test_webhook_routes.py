"""Webhook routes over HTTP, and the dispatcher running in the core app's lifespan.

The app here has a database of its own (its dispatcher claims every due delivery, so it must not
share the session's database with other tests), polls every 50 ms and allows one attempt per
round, so a failing endpoint's delivery is ``failed`` at once for ops to retry. Events are
committed through the core's own unit of work, as a use case would; deliveries go to a real
local HTTP receiver that checks every signature.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from standardwebhooks import Webhook

from adapters.postgres.database import Database
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import SystemClock, UuidV7Ids
from domain.events import AUTHORIZATION_DECLINED, CARD_CREATED, Event
from entrypoints.containers import CoreContainer
from entrypoints.http.core.app import create_core_app
from entrypoints.runtime.bootstrap import KeyAdmin
from entrypoints.settings import DatabaseSettings, Settings, WebhookSettings
from tests.http.conftest import Keys
from tests.webhook_support import Receiver, body_of, events_database

ids = UuidV7Ids()


@dataclass
class Api:
    client: TestClient
    keys: Keys
    core_url: str

    def call(self, method: str, path: str, role: str = "admin", **kw: Any):
        return self.client.request(method, path, headers={**self.keys.headers(role), **kw.pop("headers", {})}, **kw)

    def subscribe(self, url: str, **body: Any) -> dict:
        response = self.call("POST", "/v1/webhooks/subscriptions", json={"url": url, **body})
        assert response.status_code == 201, response.text
        return response.json()

    def commit_events(self, *events: Event) -> None:
        async def main() -> None:
            db = Database(self.core_url, min_size=1, max_size=1)
            await db.open()
            try:
                async def work(uow) -> None:
                    await uow.outbox.add(list(events))

                await PostgresTransactions(db.pool).run(work)
            finally:
                await db.close()

        asyncio.run(main())

    def delivery_of(self, event_id: str, subscription_id: str, status: str | None = None) -> dict | None:
        params = {"limit": 200, **({"status": status} if status else {})}
        data = self.call("GET", "/v1/webhooks/deliveries", "ops", params=params).json()["data"]
        return next((d for d in data if d["event_id"] == event_id and d["subscription_id"] == subscription_id), None)


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until ``check`` gives something truthy (a wait for the background dispatcher, not a timing check)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the dispatcher did not get there"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def api(postgres_server_uri: str, settings: Settings) -> Iterator[Api]:
    with events_database(postgres_server_uri, "bursar_webhooks_http") as db:
        own = dataclasses.replace(
            settings,
            database=DatabaseSettings(admin_url=db.admin_url, core_url=None, vault_url=None, pool_min=1, pool_max=4),
            webhooks=WebhookSettings(poll_seconds=0.05, timeout_seconds=5, max_attempts=1),
        )

        async def make_keys() -> dict[str, str]:
            admin = KeyAdmin(own)
            return {role: (await admin.create("core", role, f"webhooks {role}")).token for role in ("admin", "ops", "app")}

        keys = Keys(asyncio.run(make_keys()))
        container = CoreContainer()
        container.settings.override(providers.Object(own))
        with TestClient(create_core_app(container)) as client:
            yield Api(client, keys, db.core_url)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def event(type: str = CARD_CREATED) -> Event:
    return Event(id=ids.new_id(), type=type, created_at=SystemClock().now(), data={"id": "card-1", "state": "active"})


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    return response.json()


def test_create_shows_the_secret_once_and_lists_never(api: Api) -> None:
    created = api.subscribe("https://cards-app.internal/hooks", events=[CARD_CREATED], description="cards app")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert (created["url"], created["events"], created["description"], created["active"]) == (
        "https://cards-app.internal/hooks", [CARD_CREATED], "cards app", True)
    listed = api.call("GET", "/v1/webhooks/subscriptions").json()
    mine = next(s for s in listed["data"] if s["id"] == created["id"])
    assert "secret" not in mine and created["secret"] not in str(listed)
    assert api.call("DELETE", f"/v1/webhooks/subscriptions/{created['id']}").status_code == 200


def test_creation_is_repeat_safe_with_an_idempotency_key(api: Api) -> None:
    body = {"url": "https://ops-app.internal/hooks", "description": "ops"}
    key = {"Idempotency-Key": ids.new_id()}
    first = api.call("POST", "/v1/webhooks/subscriptions", json=body, headers=key)
    again = api.call("POST", "/v1/webhooks/subscriptions", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    problem(api.call("POST", "/v1/webhooks/subscriptions", json={**body, "events": [CARD_CREATED]}, headers=key),
            409, "idempotency_conflict")
    other_key = api.call("POST", "/v1/webhooks/subscriptions", json=body, headers={"Idempotency-Key": ids.new_id()})
    assert other_key.status_code == 201 and other_key.json()["id"] != first.json()["id"]
    for s in (first.json(), other_key.json()):
        api.call("DELETE", f"/v1/webhooks/subscriptions/{s['id']}")


@pytest.mark.parametrize("body", [
    {"url": "ftp://example.internal/hooks"},
    {"url": "https://example.internal/hooks", "events": ["card.deleted"]},
    {"url": "https://example.internal/hooks", "secret": "whsec_mine"},
    {"events": [CARD_CREATED]},
    {"url": "https://example.internal/hooks", "description": "x" * 201},
])
def test_bad_subscriptions_are_validation_errors(api: Api, body: dict) -> None:
    problem(api.call("POST", "/v1/webhooks/subscriptions", json=body), 400, "validation_error")


def test_rotate_then_delete(api: Api) -> None:
    created = api.subscribe("https://rotating.internal/hooks")
    rotated = api.call("POST", f"/v1/webhooks/subscriptions/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    deleted = api.call("DELETE", f"/v1/webhooks/subscriptions/{created['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": created["id"], "deleted": True,
                                                            "cancelled_deliveries": 0}
    listed = api.call("GET", "/v1/webhooks/subscriptions").json()["data"]
    assert created["id"] not in {s["id"] for s in listed}
    problem(api.call("DELETE", f"/v1/webhooks/subscriptions/{created['id']}"), 404, "subscription_not_found")
    problem(api.call("POST", f"/v1/webhooks/subscriptions/{created['id']}/rotate-secret"), 404,
            "subscription_not_found")


def test_subscriptions_list_by_cursor(api: Api) -> None:
    made = [api.subscribe(f"https://paged.internal/{i}")["id"] for i in range(3)]
    seen, cursor = [], None
    while True:
        page = api.call("GET", "/v1/webhooks/subscriptions", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += [s["id"] for s in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in made] == made
    for i in made:
        api.call("DELETE", f"/v1/webhooks/subscriptions/{i}")


def test_the_app_delivers_committed_events_signed(api: Api, receiver: Receiver) -> None:
    sub = api.subscribe(receiver.url + "/ok", events=[AUTHORIZATION_DECLINED])
    receiver.secrets["/ok"] = sub["secret"]
    declined, ignored = event(AUTHORIZATION_DECLINED), event(CARD_CREATED)
    try:
        api.commit_events(declined, ignored)
        assert receiver.wait_for(1, timeout=30)
        delivery = eventually(lambda: api.delivery_of(declined.id, sub["id"], "delivered"))
        [request] = receiver.requests
        assert request.verified and Webhook(sub["secret"]).verify(request.body, request.headers) == body_of(request)
        assert body_of(request)["id"] == request.headers["webhook-id"] == declined.id
        assert body_of(request)["type"] == "authorization.declined"
        detail = api.call("GET", f"/v1/webhooks/deliveries/{delivery['id']}", "admin").json()
        assert [(a["attempt"], a["status_code"], a["succeeded"]) for a in detail["attempt_log"]] == [(1, 200, True)]
        assert api.delivery_of(ignored.id, sub["id"]) is None  # not a type it subscribed to
    finally:
        api.call("DELETE", f"/v1/webhooks/subscriptions/{sub['id']}")


def test_ops_see_a_failed_delivery_and_retry_it(api: Api, receiver: Receiver) -> None:
    receiver.respond = lambda path, n: 503 if n == 1 else 200
    sub = api.subscribe(receiver.url + "/flaky")
    receiver.secrets["/flaky"] = sub["secret"]
    e = event()
    try:
        api.commit_events(e)
        failed = eventually(lambda: api.delivery_of(e.id, sub["id"], "failed"))
        assert (failed["attempts"], failed["last_status_code"], failed["last_error"]) == (1, 503, "HTTP 503")
        problem(api.call("POST", f"/v1/webhooks/deliveries/{ids.new_id()}/retry", "ops"), 404, "delivery_not_found")
        retried = api.call("POST", f"/v1/webhooks/deliveries/{failed['id']}/retry", "ops")
        assert retried.status_code == 200, retried.text
        eventually(lambda: api.delivery_of(e.id, sub["id"], "delivered"))
        detail = api.call("GET", f"/v1/webhooks/deliveries/{failed['id']}", "ops").json()
        assert [(a["attempt"], a["status_code"]) for a in detail["attempt_log"]] == [(1, 503), (2, 200)]
        assert len(receiver.requests) == 2 and all(r.verified for r in receiver.requests)
        assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"] == e.id
        problem(api.call("GET", "/v1/webhooks/deliveries", "ops", params={"status": "lost"}), 400, "validation_error")
    finally:
        api.call("DELETE", f"/v1/webhooks/subscriptions/{sub['id']}")
    problem(api.call("POST", f"/v1/webhooks/deliveries/{failed['id']}/retry", "ops"), 409, "subscription_deleted")


def test_deliveries_page_newest_first(api: Api, receiver: Receiver) -> None:
    sub = api.subscribe(receiver.url + "/many")
    events = [event() for _ in range(3)]
    try:
        api.commit_events(*events)
        eventually(lambda: all(api.delivery_of(e.id, sub["id"], "delivered") for e in events))
        seen, cursor = [], None
        while True:
            params = {"limit": 2, "status": "delivered", **({"cursor": cursor} if cursor else {})}
            page = api.call("GET", "/v1/webhooks/deliveries", "admin", params=params).json()
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [d["id"] for d in seen] == sorted((d["id"] for d in seen), reverse=True)
        assert {e.id for e in events} <= {d["event_id"] for d in seen}
    finally:
        api.call("DELETE", f"/v1/webhooks/subscriptions/{sub['id']}")
